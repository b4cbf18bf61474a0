"""`specdl evaluate RUN --input FILE`: a finished run's full metric set on a new labelled
file (a CSV with the target column, an .npz with x and y, or an image folder of class
sub-folders), through the run's saved preprocessing. The scores are computed by the
code that computes report.json's test scores (runtime/loop.py's ``evaluate`` and
report.py's ``class_scores``), so the same rows give the same figures. A run of several
outputs is scored head by head, each as a one-target run (every head, or ``--target``)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..errors import RunError, did_you_mean
from ..front.plan import dtypes
from ..runtime.csv import as_number, missing_cell
from .given import read_given
from .inputs import csv_delimiter, read_columns, read_inputs


def evaluate_file(path, target: str | None = None, out=None, **run) -> dict:
    """`specdl evaluate`: a finished run's evaluation (``run``: LoadedRun's arguments) on
    the labelled file at ``path``, also written to ``out`` as JSON when given."""
    from .loaded import LoadedRun

    loaded = LoadedRun(**run)
    if out:
        from ..files import check_output

        check_output(out, "the evaluation", inputs=[path, *loaded.reads], kept=loaded.kept)
    report = evaluation(loaded, path, target)
    if out:
        import json

        from ..files import write_output

        write_output(out, json.dumps(report, indent=2) + "\n", "the evaluation")
    return report


def evaluation(run, path, target: str | None = None) -> dict:
    """``{"input", "samples", "test": metrics and loss[, "per_class", "confusion_matrix",
    "classes"]}``, the layout of report.json."""
    path = Path(path)
    if run.analysis.heads:
        return head_evaluation(run, path, target)
    x, y_true = labelled(run, path, target)
    return _report(run, path, x, y_true)


def _report(run, path: Path, x, y_true) -> dict:
    """``evaluation``'s report of model inputs ``x`` and targets ``y_true``."""
    from ..build.report import class_scores

    test, pred = scores(run, x, y_true)
    out = {"input": str(path), "samples": len(y_true), "test": test}
    if run.analysis.task == "classification":
        out.update(class_scores(y_true, pred, run.analysis.data.classes, run.pre["class_names"]))
    return out


def head_evaluation(run, path: Path, target: str | None = None) -> dict:
    """Several outputs (spec 12.7): each head scored as a one-target run (runs/loaded.py's
    HeadRun) on its target's labels; ``test`` as report.json's (``<metric>[<target>]``,
    the weighted total ``loss``) and ``targets``, nested by target. ``target``: that head
    alone, in a one-target run's layout (per class too), with ``target``."""
    import torch

    from .loaded import HeadRun

    names = chosen(run, target)
    x, ys = _head_labels(run, path, names)
    reports = {t: _report(HeadRun(run, t), path, x, ys[t]) for t in names}
    if target is not None:
        return {**reports[target], "target": target}
    weights = run.spec.loss_weights or {}  # the total as training sums it (runtime/heads.py HeadsLoss, in float32)
    total = sum(weights.get(t, 1.0) * torch.tensor(r["test"]["loss"], dtype=torch.float32) for t, r in reports.items())
    test = {f"{k}[{t}]": v for t, r in reports.items() for k, v in {"loss": r["test"]["loss"], **r["test"]}.items()}
    return {"input": str(path), "samples": len(ys[names[0]]), "test": {**test, "loss": float(total)},
            "targets": {t: r["test"] for t, r in reports.items()}}


def chosen(run, target: str | None) -> list[str]:
    """The targets evaluate scores: every one, or ``target`` (an unknown name: one line)."""
    names = list(run.analysis.heads)
    if target is None:
        return names
    if target not in names:
        raise RunError(f"--target {target}: this run has no target `{target}`" + did_you_mean(target, names))
    return [target]


def label_key(run, target: str) -> str:
    """Where a labelled file holds a target's labels: its CSV column or npz array (the
    spec's), else (a synthetic run) the target's name."""
    t = run.spec.data.targets[target]
    return getattr(t, "column", None) or getattr(t, "array", None) or target


def _head_labels(run, path: Path, names: list):
    """(model inputs, target -> its labels in the data's units) of the targets ``names``:
    each target's column of a CSV, or its array of an .npz."""
    if not path.exists():
        from ..errors import no_such

        raise RunError(no_such(path, "the input"))
    heads, keys = run.analysis.heads, {t: label_key(run, t) for t in names}
    if path.suffix == ".csv":
        cells = read_columns(path, list(keys.values()), csv_delimiter(run, path))
        raw = read_given(run, path, exclude=[label_key(run, t) for t in heads])
        return run.model_inputs(raw), {t: _targets(heads[t], _csv_labels(heads[t], run.pre["class_names"][t], path, k,
                                                                         cells[k], raw.rows)) for t, k in keys.items()}
    if path.suffix == ".npz":
        return _npz(run, path, {t: (k, heads[t]) for t, k in keys.items()})
    raise RunError(f"cannot read labels from {path}: give a .csv (with each target's column: "
                   f"{', '.join(keys.values())}) or an .npz (the features and each target's array)")


def scores(run, x, y_true) -> tuple[dict, np.ndarray]:
    """The run's metrics and loss on model inputs ``x`` and targets ``y_true`` (in the
    data's units), as training scored its test split."""
    import torch

    from ..build.model import build_loss
    from ..runtime import loop

    a = run.analysis
    dtype = getattr(torch, dtypes(a).target)
    y = torch.as_tensor(y_true if a.task != "regression" else run.transform_targets(y_true), dtype=dtype)
    metrics = a.metric_fns()

    name, args = a.predictor()  # as training predicted (carrying the probabilities where a metric reads them)
    predict = functools.partial(getattr(loop, name), **args, invert=run.invert_targets,
                                threshold=run.threshold)

    try:
        with np.errstate(all="ignore"):  # targets near the float limit score inf: said in the table, not warned
            test, pred = loop.evaluate(run.model, run.chunks(x), y, y_true,
                                       build_loss(a), metrics, predict)
    except (RuntimeError, ValueError) as e:
        if "allocate" in str(e):
            raise
        raise RunError(f"cannot score the inputs: {str(e).splitlines()[0][:200]}") from None
    if pred is None:
        pred = predict(run.outputs(x))
    names = a.target_names()
    if names is not None:  # each target's metrics, as report.json has them
        test.update(loop.per_target(metrics, y_true, pred, names))
    return {k: v for k, v in test.items() if k != "loss"} | {"loss": test["loss"]}, pred


def labelled(run, path: Path, target: str | None):
    """(model inputs, targets in the data's units) from a labelled file."""
    if not path.exists():
        from ..errors import no_such

        raise RunError(no_such(path, "the input"))
    data = run.spec.data
    if data.file_backed:
        if not path.is_dir():
            raise RunError(f"{path} is not a folder: give an image folder with one sub-folder per class")
        raw = read_inputs(run, path)
        return run.model_inputs(raw), _folder_labels(run, path, raw.files)
    if path.suffix == ".csv":
        names = data.target_columns() if data.source == "csv" else [target or "target"]
        if target is not None and data.source == "csv" and [target] != names:
            raise RunError(f"this run's target column is {', '.join(f'`{n}`' for n in names)} (its spec's "
                           f"data.target); --target {target} does not apply")
        cells = read_columns(path, names, csv_delimiter(run, path))
        raw = read_given(run, path, exclude=names)
        y = [_csv_labels(run.analysis, run.pre["class_names"], path, n, cells[n], raw.rows, len(names)) for n in names]
        return run.model_inputs(raw), _targets(run.analysis, np.stack(y, axis=1) if len(y) > 1 else y[0])
    if path.suffix == ".npz":
        return _npz(run, path)
    raise RunError(f"cannot read labels from {path}: give a .csv (with the target column), an .npz "
                   "(features and targets) or an image folder")


def _folder_labels(run, root: Path, files) -> np.ndarray:
    """The class of each image (``files``), by its sub-folder of ``root``."""
    names = run.pre["class_names"] or []
    labels = []
    for f in map(Path, files):
        parts = f.relative_to(root).parts
        if len(parts) < 2:
            raise RunError(f"{f} is not in a class sub-folder; put each image under {root}/<class>/")
        if parts[0] not in names:
            raise RunError(f"{root / parts[0]}: `{parts[0]}` is not one of the run's classes "
                           f"({', '.join(names)[:200]})")
        labels.append(names.index(parts[0]))
    return np.asarray(labels, dtype=np.int64)


def _csv_labels(a, class_names, path, name, cells, rows, columns: int = 1) -> np.ndarray:
    """A target column's cells: class names (``class_names``, the run's) for classification,
    numbers otherwise, for the output of Analysis ``a`` (``rows``: read_inputs' "PATH line N"
    of each; ``columns``: how many target columns the CSV gives, one per predicted value)."""
    task = a.task
    lines = [r.rsplit(" line ", 1)[-1] for r in rows]
    if task == "multilabel" or (task == "regression" and int(np.prod(a.data.outputs)) != columns):
        raise RunError(f"this run predicts {task} targets of several values; give the labels in an .npz (x and y)")
    for cell, line in zip(cells, lines):
        if missing_cell(cell):
            raise RunError(f"{path} line {line}: the target `{name}` has no value; fill it in or delete the row")
    if task == "classification":
        names = class_names or [str(i) for i in range(a.data.classes)]
        for cell, line in zip(cells, lines):
            if cell not in names:
                raise RunError(f"{path} line {line}, column `{name}`: {cell[:40]!r} is not one of the run's "
                               f"classes ({', '.join(names)[:200]})")
        return np.asarray([names.index(c) for c in cells], dtype=np.int64)
    values = []
    for cell, line in zip(cells, lines):
        try:
            values.append(as_number(cell))  # money (`$1,234.50`) as build reads it
        except ValueError:
            raise RunError(f"{path} line {line}, column `{name}` holds {cell[:40]!r}, not a number") from None
    return np.asarray(values, dtype=np.float64)


def _npz(run, path: Path, labels: dict | None = None):
    """(model inputs, targets) from a labelled .npz; ``labels`` (several outputs): target
    -> (its array's key, its head's Analysis), and the targets a dict of them."""
    from ..sources.npz import NpzProblem, read_npz

    data = run.spec.data
    xkey, ykey = (data.x, data.y) if data.source == "npz" else ("x", "y")
    keys = [k for k, _ in labels.values()] if labels else [ykey]
    named = run.analysis.graph.named  # inputs keyed by their names; the targets under y (the spec's key)
    try:
        ys = (read_npz(path, *keys, fields=("y",) * len(keys)) if named else read_npz(path, xkey, *keys, fields=("x", *("y",) * len(keys)))[1:])
    except NpzProblem as e:
        raise RunError(str(e)) from None
    raw = read_given(run, path)
    xkey = next(iter(raw.x)) if named else xkey
    n = len(next(iter(raw.x.values())) if named else raw.x[0] if isinstance(raw.x, tuple) else raw.x)
    checked = [_npz_labels(a, y, key, path, n, xkey) for y, (key, a) in
               zip(ys, labels.values() if labels else [(ykey, run.analysis)])]
    return run.model_inputs(raw), dict(zip(labels, checked)) if labels else checked[0]


def _npz_labels(a, y, ykey: str, path: Path, n: int, xkey: str) -> np.ndarray:
    """An .npz's targets under ``ykey`` for the output of Analysis ``a``: one per sample
    of the ``n`` under ``xkey``, class indices of its classes (classification)."""
    if y.ndim == 0 or len(y) != n:
        raise RunError(f"{path}: `{xkey}` holds {n} samples but `{ykey}` is {list(y.shape)}; "
                       "give one target per sample")
    if a.task == "classification":
        if y.ndim != 1:
            raise RunError(f"`{ykey}` in {path} is {list(y.shape)}; the run takes one class index per sample, [N]")
        if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y % 1 == 0).all()):
            raise RunError(f"`{ykey}` in {path} holds fractional or NaN values; give class indices")
        classes = a.data.classes
        bad = np.flatnonzero((y < 0) | (y >= classes))
        if len(bad):
            raise RunError(f"`{ykey}` in {path} row {bad[0]} holds class {y[bad[0]]:g}; the run has classes "
                           f"0..{classes - 1}")
    return _targets(a, y)


def _targets(a, y) -> np.ndarray:
    """Targets shaped as training shaped them (data.prepare) for the output of Analysis
    ``a``: class indices, 0/1 label rows, or values of the run's target shape."""
    if a.task == "classification":
        return y.astype(np.int64)
    if a.task == "multilabel":
        if y.ndim != 2 or y.shape[1] != a.data.classes or not np.isin(y, (0, 1)).all():
            raise RunError(f"multilabel targets are [N, {a.data.classes}] of 0/1; these are {list(y.shape)}")
        return y.astype(np.int64)
    want = tuple(a.data.outputs)
    if int(np.prod(y.shape[1:], dtype=np.int64)) != int(np.prod(want)):
        raise RunError(f"the targets are {list(y.shape[1:]) or 'one value'} per sample; the run predicts "
                       f"{list(want)}")
    if not np.isfinite(y.astype(np.float64)).all():
        raise RunError("the targets hold NaN or infinite values; fix or drop those rows")
    from ..runtime.prepare import targets

    return targets(y, a.task, a.label_shape)


def show(report: dict, console=None) -> None:
    """The scores, the per-class table and the confusion matrix (rich tables)."""
    from rich import box
    from rich.table import Table

    from ..front.summary import _console

    console = console or _console()
    head = f" (target `{report['target']}`)" if "target" in report else ""
    if "targets" in report:  # several outputs: the weighted total, then a line per target
        console.print(f"{report['input']}: {report['samples']} samples  loss {report['test']['loss']:.4g} "
                      "(weighted total)")
        for t, scores in report["targets"].items():
            console.print(f"  {t}  {_figures(scores)}", markup=False)
        return
    console.print(f"{report['input']}{head}: {report['samples']} samples  {_figures(report['test'])}")
    if "per_class" not in report:
        return
    names = report["classes"]
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="per class")
    for c in ("class", "precision", "recall", "f1", "support"):
        t.add_column(c, justify="left" if c == "class" else "right")
    for i, row in enumerate(report["per_class"].values()):
        t.add_row(names[i], *(f"{row[k]:.4f}" for k in ("precision", "recall", "f1")), str(row["support"]))
    console.print(t)
    m = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="confusion (rows: true, columns: predicted)")
    m.add_column("")
    for n in names:
        m.add_column(n, justify="right")
    for n, row in zip(names, report["confusion_matrix"]):
        m.add_row(n, *map(str, row))
    console.print(m)


def _figures(test: dict) -> str:
    """Scores as one line: ``accuracy 0.9333  ...  loss 0.21``."""
    return "  ".join(f"{k} {v:.4f}" if k != "loss" else f"loss {v:.4g}" for k, v in test.items())
