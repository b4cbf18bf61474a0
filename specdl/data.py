"""Load a data source, split it with the spec's seed, and fit the transforms on the
train split only. The generated script does the same, line by line."""

from __future__ import annotations

import numpy as np

from .errors import RunError
from .sources import SourceError
from .splits import Arrays, _check_classes, _check_labels, _check_targets, split_indices


def prepare(spec, analysis) -> Arrays:
    """Load, split, transform: exactly what the generated script's data section does."""
    data = spec.data
    try:
        if data.file_backed:
            from .image_data import prepare_images

            return prepare_images(spec, analysis)
        loaded = data.load(spec.seed)
    except SourceError as e:
        raise RunError(f"data.{e.where}: {e}") from None
    task = analysis.task
    x = np.asarray(loaded.x, dtype=np.int64 if analysis.data.dtype == "int64" else np.float64)
    y = np.asarray(loaded.y)
    if not len(y):
        raise RunError(f"data.{'path' if hasattr(data, 'path') else 'source'}: the data holds no samples")
    if y.dtype.kind not in "biuf":
        raise RunError(f"the targets are {y.dtype} values; give numbers")
    _check_targets(y, task)
    if task == "classification":
        y = y.astype(np.int64)
        _check_labels(y, analysis.data.classes)
    elif task == "multilabel":
        y = y.astype(np.float64).reshape(len(y), analysis.data.classes)
        if not np.isin(y, (0.0, 1.0)).all():
            raise RunError("multilabel targets must be 0 or 1")
    else:
        y = y.astype(np.float64).reshape(len(y), *analysis.data.outputs)
    idx = split_indices(y, data.split, spec.seed, data.split.stratify and task == "classification")
    xs = {k: x[v] for k, v in idx.items()}
    ys = {k: y[v] for k, v in idx.items()}
    if task == "classification":
        _check_classes(ys, analysis.data.classes, _class_names(data))
    states = []
    for t in data.transforms:
        s = t.fit(xs["train"])
        states.append(s)
        xs = {k: t.apply(v, s) for k, v in xs.items()}
    for k, v in xs.items():
        if np.issubdtype(v.dtype, np.floating) and not np.isfinite(v).all():
            row, col = np.argwhere(~np.isfinite(v.reshape(len(v), -1)))[0]
            raise RunError(f"the features hold NaN or infinite values (e.g. {_where(data, idx[k][row], col)}); "
                           "clean the data, or add `fill: mean` (median, or a value) first in data.transforms")
    encoder = None
    if loaded.cats is not None:
        from sklearn.preprocessing import OneHotEncoder

        cats = {k: loaded.cats[v] for k, v in idx.items()}
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(cats["train"])
        xs = {k: np.hstack([v, encoder.transform(cats[k])]) for k, v in xs.items()}
    if task == "regression" and analysis.target_shape == ():
        ys = {k: v.reshape(len(v)) for k, v in ys.items()}
    y_true = {k: v.astype(np.int64) for k, v in ys.items()} if task == "multilabel" else dict(ys)
    target_states = []
    for t in data.target_transforms:
        s = t.fit(ys["train"])
        target_states.append(s)
        ys = {k: t.apply(v, s) for k, v in ys.items()}
    return Arrays(xs, ys, y_true, states, target_states, encoder, _class_names(data))


def _where(data, row: int, col: int) -> str:
    """A data row and feature as the user sees them: for a CSV, the file's line and the
    column's name (read again, on this error path only)."""
    if data.source != "csv":
        return f"row {row} (counting from 0), feature {col}"
    from .components.base import resolve

    numeric, _ = data.columns()
    lines = resolve("read_csv")(data.path, None, numeric, [], False, data.delimiter)[2]
    name = f"column `{numeric[col]}`" if col < len(numeric) else f"feature {col}"
    return f"{data.path} line {lines[row]}, {name}"


def _class_names(data):
    names = getattr(data, "class_names", None)
    return names() if names else None


def invert_targets(spec, arrays: Arrays, y):
    """Undo the target transforms (so metrics and predictions are in the data's units)."""
    for t, s in reversed(list(zip(spec.data.target_transforms, arrays.target_states))):
        y = t.invert(y, s)
    return y
