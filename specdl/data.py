"""Load a data source, split it with the spec's seed, and fit the transforms on the
train split only. The generated script does the same, line by line."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import RunError
from .sources import SourceError


@dataclass
class Arrays:
    """The three splits (arrays for tabular data, datasets for files), the targets as
    the metrics see them, and what was fitted on the train split."""

    x: dict                      # split -> np.ndarray, or a torch Dataset (file-backed)
    y: dict                      # split -> np.ndarray of targets (after target transforms)
    y_true: dict = field(default_factory=dict)          # targets before target transforms
    states: list = field(default_factory=list)          # fitted feature transforms
    target_states: list = field(default_factory=list)   # fitted target transforms
    encoder: object = None                               # fitted one-hot encoder (CSV)
    class_names: list | None = None                      # label names, where the data has them

    def size(self, split: str) -> int:
        return len(self.y[split])


def val_fraction(split) -> float:
    """The val fraction of what is left after the test split is taken."""
    return split.val / (1.0 - split.test)


def split_indices(y, split, seed: int, stratify: bool) -> dict:
    """Row indices of train/val/test: scikit-learn's train_test_split, seeded."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    try:
        if split.test > 0:
            rest, test = train_test_split(idx, test_size=split.test, random_state=seed,
                                          stratify=y if stratify else None)
        else:
            rest, test = idx, idx[:0]
        if split.val > 0:
            train, val = train_test_split(rest, test_size=val_fraction(split), random_state=seed,
                                          stratify=y[rest] if stratify else None)
        else:
            train, val = rest, rest[:0]
    except ValueError as e:
        raise RunError(f"cannot split the data ({len(y)} samples) with val={split.val}, "
                       f"test={split.test}: {e}") from None
    return {"train": train, "val": val, "test": test}


def _check_labels(y, classes: int, where: str = "") -> None:
    if len(y) and (y.min() < 0 or y.max() >= classes):
        raise RunError(f"labels{where} run from {y.min()} to {y.max()}, but the model has {classes} outputs "
                       f"(classes 0..{classes - 1})")


def _check_classes(ys: dict, classes: int, names=None) -> None:
    """Every class in the train and test splits; classes named by their labels."""
    for split in ("train", "test"):
        missing = sorted(set(range(classes)) - set(np.unique(ys[split]).tolist()))
        if len(ys[split]) and missing:
            shown = [str(names[i]) if names and i < len(names) else str(i) for i in missing[:5]]
            raise RunError(f"the {split} split has no sample of class {', '.join(shown)}; "
                           "add data for it, or change split.test / the seed")


def _check_targets(y, task: str) -> None:
    """NaN, infinite (or, for classes, fractional) targets are a data error naming the rows."""
    if not np.issubdtype(y.dtype, np.floating):
        return
    flat = y.reshape(len(y), -1)
    bad = ~np.isfinite(flat).all(axis=1)
    if task == "classification":
        bad |= (np.nan_to_num(flat) % 1 != 0).any(axis=1)
    rows = np.flatnonzero(bad)
    if len(rows):
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        what = "NaN, infinite or fractional" if task == "classification" else "NaN or infinite"
        raise RunError(f"the targets hold {what} values in row(s) {', '.join(map(str, rows[:5].tolist()))}{more} "
                       "(counting from 0); fix or drop those rows")


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
