"""check's rules for the score metrics (roc_auc, pr_auc, log_loss, top_k_accuracy): what
top_k_accuracy can rank, and a class absent from the seeded val or test split, which
check draws where the data is in memory (roc_auc and pr_auc are then means over the
classes present, or, with two classes, not defined)."""

from __future__ import annotations

from ..errors import Issue

RANKING = ("roc_auc", "pr_auc")


def top_k_issues(spec, info, loss, metrics=None, at=("metrics",)) -> list[Issue]:
    """top_k_accuracy ranks several classes, a logit each: not one logit (binary), nor two
    classes (top-1 is accuracy), and k below the number of classes (else every model scores 1).
    ``metrics`` and ``at``: one head's of several outputs, and where they stand."""
    out = []
    for i, m in enumerate(spec.metrics or [] if metrics is None else metrics):
        if m.type_name != "top_k_accuracy" or info.task != "classification":
            continue
        if loss.type_name == "bce_with_logits":
            why = ("ranks several classes, a logit each; this head is binary (one logit, bce_with_logits): use "
                   "accuracy, or roc_auc, pr_auc, log_loss on its probability")
        elif info.classes is not None and info.classes < 3:
            why = f"ranks 3 or more classes; this data has {info.classes}: use accuracy (top-1), or roc_auc"
        elif info.classes is not None and m.k >= info.classes:
            why = (f"needs k below the number of classes: k is {m.k} and the data has {info.classes} classes, "
                   f"so every model would score 1; use k from 1 to {info.classes - 1}")
        else:
            continue
        out.append(spec._source.issue((*at, i), f"`top_k_accuracy` {why}", m.type_name))
    return out


def absent_class_warnings(spec, info, metrics) -> list[Issue]:
    """A warning at the first roc_auc or pr_auc for each of the val and test splits (as
    seeded) that lacks a class (a label's positives or negatives, multilabel), where the
    labels are read without torch (in-memory data) and the split is not stratified (a
    stratified split holds every class, or check's split rule or build refuses it)."""
    at = _first_ranking(spec.metrics)
    split = spec.data.held_out()
    stratified = info.task == "classification" and split.stratify  # every class in each split (_split_issues)
    y = spec.data.check_labels(spec.seed) if at is not None and info.task != "regression" and not stratified else None
    rows = _rows(spec, y, False)
    if rows is None:
        return []
    return _absent_issues(spec, info, y, rows, ("metrics", at), spec.data.class_names())


def head_absent_warnings(spec, infos: dict) -> dict:
    """Several outputs: ``absent_class_warnings`` of each head with a roc_auc or pr_auc, over
    the rows build splits every target by (stratified by the first classification target,
    which then holds every class); target -> its warnings, at its first ranking metric."""
    from ..sources.targets import target_views

    views, metrics = target_views(spec.data), spec.metrics or {}
    strat = next((t for t, i in infos.items() if i.task == "classification"), None)
    stratify = spec.data.split.stratify and strat is not None
    wanted = [t for t, i in infos.items() if _first_ranking(metrics.get(t)) is not None and i.task != "regression"
              and not (stratify and t == strat)]
    if not wanted:
        return {}
    by = strat or next(iter(infos))
    labels = {t: views[t].check_labels(spec.seed) for t in {*wanted, by}}
    rows = _rows(spec, labels[by], stratify, infos[by].task)
    fix = f"a larger split holds every class (split.stratify stratifies by `{strat}` only)"
    return {t: _absent_issues(spec, infos[t], labels[t], rows, ("metrics", t, _first_ranking(metrics[t])),
                              views[t].class_names(), None if t == strat else fix)
            for t in wanted if rows is not None and labels[t] is not None}


def _first_ranking(metrics) -> int | None:
    return next((i for i, m in enumerate(metrics or []) if m.type_name in RANKING), None)


def _rows(spec, y, stratify: bool, task: str = "") -> dict | None:
    """The seeded split's rows drawn on the labels ``y`` (None where they cannot be: build says why)."""
    if y is None:
        return None
    from ..sources.base import split_indices

    try:
        return split_indices(y.reshape(len(y)) if task == "classification" else y, spec.data.held_out(), spec.seed,
                             stratify)
    except Exception:  # a split that cannot be drawn: build says why
        return None


def _absent_issues(spec, info, y, rows, at: tuple, names, fix: str | None = None) -> list[Issue]:
    """A warning at ``at`` for each of the val and test splits (``rows``) lacking a class of ``y``."""
    y = y.reshape(len(y)) if info.task == "classification" else y
    names = [str(n) for n in names or range(info.classes)]
    metric = spec.metrics[at[1]][at[2]] if len(at) == 3 else spec.metrics[at[1]]
    out = []
    for which in ("val", "test"):
        part = y[rows[which]]
        if not len(part):
            continue
        absent = _absent(part, info.classes)
        if absent:
            out.append(spec._source.issue(at, _why(which, [names[c] for c in absent], info, spec.seed, fix),
                                          metric.type_name, severity="warning"))
    return out


def _absent(part, classes: int) -> list[int]:
    """The classes a split has no sample of (multilabel: the labels none or every row holds)."""
    import numpy as np

    from ..runtime.metrics import defined, one_vs_rest

    return np.flatnonzero(~defined(one_vs_rest(part, classes), both=part.ndim == 2)).tolist()


def _why(which: str, absent: list[str], info, seed: int, fix: str | None = None) -> str:
    many = len(absent) > 1
    if info.task == "multilabel":
        what = (f"in the {which} split (seed {seed}), label{'s' if many else ''} {', '.join(absent)} "
                f"{'are' if many else 'is'} on in no row or in every row")
        fix = "a larger split holds both values of every label"
    else:
        what = f"the {which} split (seed {seed}) has no sample of class{'es' if many else ''} {', '.join(absent)}"
        fix = fix or "a larger split, or split.stratify: true, holds every class"
    then = ("roc_auc and pr_auc are not defined there (null in metrics.jsonl and report.json)"
            if info.task == "classification" and info.classes == 2 else "roc_auc and pr_auc there are means over the others")
    return f"{what}: {then}; {fix}"
