"""The data set as training sees it: the three splits (Arrays) and the checks on labels
and targets (build/data.py, build/images.py). How rows are split is runtime/splits.py."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import RunError


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
    inputs: dict | None = None                           # a CSV's named inputs: name -> what each fitted

    def size(self, split: str) -> int:
        return len(self.y[split])


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
