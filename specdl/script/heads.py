"""Several outputs in codegen (spec 12.7): what the template reads of a spec with
``data.targets``. The script does what build does with runtime/heads.py's functions: each
target loaded as the source loads one, every target split by the same rows and fitted by
``prepare_targets``, the model's heads joined for the loop (``Joined``), the weighted
``HeadsLoss``, each head's predictions and metrics."""

from __future__ import annotations

from ..components.call import Call, Name, literal
from ..sources.targets import target_views


def heads_data(a) -> dict:
    """The data section's lines: every further target's load (its ``y`` kept in ``other_ys``),
    then the first target's (which gives ``x``); the targets as training reads them, the split."""
    views = target_views(a.spec.data)
    names = list(views)
    imports, lines = [], []
    if len(names) > 1:
        lines.append("other_ys = {}  # each further target, loaded as the source loads one target")
    for t in names[1:]:
        more, load = views[t].code()
        imports += more
        lines += [*load, f"other_ys[{literal(t)}] = y"]
    more, load = views[names[0]].code()
    ys = mapping({t: f"targets({'y' if t == names[0] else f'other_ys[{literal(t)}]'}, {literal(h.task)}, "
                     f"{literal(h.label_shape)})" for t, h in a.heads.items()})
    strat = next((t for t, h in a.heads.items() if h.task == "classification"), names[0])
    split = a.spec.data.held_out()
    stratify = a.spec.data.split.stratify and a.heads[strat].task == "classification"
    return {"data_imports": imports + more, "load_lines": lines + load, "stratify": stratify,
            "heads_split": ["# each target as training reads it", f"ys = {ys}",
                            f"rows = split_rows(ys[{literal(strat)}], val={literal(split.val)}, "
                            f"test={literal(split.test)}, seed=SEED, stratify={stratify})"],
            "heads_targets": _target_lines(a, views),
            "data_facts_names": {t: v.class_names() for t, v in views.items()}}


def _target_lines(a, views) -> list[str]:
    """Each target's transforms, fitted on the train split by ``prepare_targets``; their inverses."""
    lines = ["TARGET_TRANSFORMS = {"]
    for t, v in views.items():
        lines.append(f"    {literal(t)}: [{', '.join(s.step_code() for s in v.target_transforms)}],")
    tasks = mapping({t: literal(h.task) for t, h in a.heads.items()})
    return [*lines, "}", f"y, y_true, y_fitted = prepare_targets(ys, rows, {tasks}, TARGET_TRANSFORMS)",
            "# each target's inverse transforms: back in its units",
            "invert_targets = {k: functools.partial(invert, steps=v, fitted=y_fitted[k]) "
            "for k, v in TARGET_TRANSFORMS.items()}"]


def mapping(items: dict, width: int = 50) -> str:
    """A dict of the target names to source: on one line where it fits in ``width``, else
    one entry a line (the script's lines stay short however many targets there are)."""
    flat = "{" + ", ".join(f"{literal(k)}: {v}" for k, v in items.items()) + "}"
    return flat if len(flat) <= width else "{\n" + "".join(f"    {literal(k)}: {v},\n" for k, v in items.items()) + "}"


def heads_training(a) -> dict:
    """The model joined, the weighted loss, each head's predictions and metrics."""
    weights = a.spec.loss_weights or {}
    losses = mapping({t: _loss_code(h) for t, h in a.heads.items()}, 60)
    loss = Call("HeadsLoss", (Name(losses), {t: weights.get(t, 1.0) for t in a.heads}, Name("HEADS"))).code()
    predictors = mapping({t: _predictor(a, t, h) for t, h in a.heads.items()}, 0)
    metrics = []
    for t, h in a.heads.items():
        metrics.append((f"loss[{t}]", f"head_loss(loss_fn, {literal(t)})"))
        metrics += [(f"{m.type_name}[{t}]", Call("head_metric", (Name(f"lambda y_true, y_pred: {m.code(h.kind, h.data.classes)}"),
                                                                 t, Name("HEADS"))).code()) for m in h.metrics]
    watched = a.watched_metrics()
    return {"loss_code": loss, "metrics": metrics, "by_target": None,
            "predict": f"functools.partial(head_predictions, heads=HEADS, predictors={predictors})",
            "watched_code": "[\n" + "".join(f"    {literal(w)},\n" for w in watched) + "]" if len(watched) > 3
            else literal(watched)}


def _loss_code(h) -> str:
    return f"binary_loss({h.loss.ctor().code()})" if h.binary else h.loss.ctor().code()


def _predictor(a, t: str, h) -> str:
    name, args = h.predictor()
    call = Call("functools.partial", (Name(name),), {**args, "invert": Name(f"invert_targets[{literal(t)}]"),
                                                     "threshold": a.spec.train.threshold_of(t)}).code(width=1000)
    return call.replace(", invert=", ",\n        invert=") if len(call) > 100 else call
