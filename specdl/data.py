"""Load a data source into NumPy arrays, split it with the spec's seed, and fit the
transforms on the train split only. The generated script does the same, line by line."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .datasets import SKLEARN
from .errors import RunError

SPLITS = ("train", "val", "test")


@dataclass
class Arrays:
    """The three splits after transforms, and what was fitted on the train split."""

    x: dict                      # split -> np.ndarray
    y: dict                      # split -> np.ndarray
    y_true: dict = field(default_factory=dict)          # targets before target transforms
    states: list = field(default_factory=list)          # fitted feature transforms
    target_states: list = field(default_factory=list)   # fitted target transforms


def val_fraction(split) -> float:
    """The val fraction of what is left after the test split is taken."""
    return split.val / (1.0 - split.test)


def load_source(data, seed: int):
    """The whole data set as (x, y) arrays."""
    if data.source == "sklearn":
        from sklearn import datasets

        if data.dataset in SKLEARN:
            return getattr(datasets, SKLEARN[data.dataset][0])(return_X_y=True)
        return getattr(datasets, data.dataset)(**data.params, random_state=seed)
    if data.source == "synthetic":
        return synthetic(data, seed)
    raise RunError(f"unknown data source {data.source}")  # pragma: no cover


def source_code(data) -> tuple[list[str], list[str]]:
    """(imports, lines) that load the whole data set as ``x, y`` in the generated script:
    the twin of :func:`load_source`."""
    from .components.base import literal

    if data.source == "sklearn":
        if data.dataset in SKLEARN:
            return (["from sklearn import datasets"],
                    [f"x, y = datasets.{SKLEARN[data.dataset][0]}(return_X_y=True)"])
        args = "".join(f"{k}={literal(v)}, " for k, v in data.params.items())
        return (["from sklearn import datasets"],
                [f"x, y = datasets.{data.dataset}({args}random_state=SEED)"])
    if data.source == "synthetic":
        shape = ", ".join(str(d) for d in (data.size, *data.shape))
        lines = ["# Synthetic data: labels (or targets) are a fixed random function of x.",
                 "rng = np.random.default_rng(SEED)"]
        if data.dtype == "int64":
            lines += [f"x = rng.integers(0, {data.high}, size=({shape}))",
                      f"flat = np.eye({data.high})[x.reshape({data.size}, -1)].mean(axis=1)  # token histogram"]
        else:
            lines += [f"x = rng.standard_normal(({shape}))", f"flat = x.reshape({data.size}, -1)"]
        target = (data.outputs,) if isinstance(data.outputs, int) else tuple(data.outputs or ())
        width = data.classes or int(np.prod(target))
        lines.append(f"score = flat @ rng.standard_normal((flat.shape[1], {width}))")
        lines.append("y = score.argmax(axis=1)" if data.classes else
                     f"y = score.reshape({', '.join(map(str, (data.size, *target)))})")
        return [], lines
    raise RunError(f"unknown data source {data.source}")  # pragma: no cover


def synthetic(data, seed: int):
    """Learnable random data: labels (or targets) are a fixed random function of x."""
    rng = np.random.default_rng(seed)
    shape = (data.size, *data.shape)
    if data.dtype == "int64":
        x = rng.integers(0, data.high, size=shape)
        flat = np.eye(data.high)[x.reshape(data.size, -1)].mean(axis=1)  # token histogram
    else:
        x = rng.standard_normal(shape)
        flat = x.reshape(data.size, -1)
    target = (data.outputs,) if isinstance(data.outputs, int) else tuple(data.outputs or ())
    w = rng.standard_normal((flat.shape[1], data.classes or int(np.prod(target))))
    score = flat @ w
    return x, (score.argmax(axis=1) if data.classes else score.reshape(data.size, *target))


def split_arrays(x, y, split, seed: int, stratify: bool):
    """train/val/test with scikit-learn's train_test_split, seeded, stratified by label."""
    from sklearn.model_selection import train_test_split

    try:
        x_rest, x_test, y_rest, y_test = train_test_split(
            x, y, test_size=split.test, random_state=seed, stratify=y if stratify else None)
        if split.val > 0:
            x_train, x_val, y_train, y_val = train_test_split(
                x_rest, y_rest, test_size=val_fraction(split), random_state=seed,
                stratify=y_rest if stratify else None)
        else:
            x_train, x_val, y_train, y_val = x_rest, x_rest[:0], y_rest, y_rest[:0]
    except ValueError as e:
        raise RunError(f"cannot split the data ({len(x)} samples) with val={split.val}, "
                       f"test={split.test}: {e}") from None
    return {"train": x_train, "val": x_val, "test": x_test}, {"train": y_train, "val": y_val, "test": y_test}


def prepare(spec, analysis) -> Arrays:
    """Load, split, transform: exactly what the generated script's data section does."""
    data = spec.data
    task = analysis.task
    x, y = load_source(data, spec.seed)
    x = np.asarray(x, dtype=np.int64 if analysis.data.dtype == "int64" else np.float64)
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise RunError("the features contain NaN or infinite values; clean the data first")
    y = np.asarray(y)
    if task == "classification":
        y = y.astype(np.int64)
        if y.min() < 0 or y.max() >= analysis.data.classes:
            raise RunError(f"labels run from {y.min()} to {y.max()}, but the model has "
                           f"{analysis.data.classes} outputs")
    else:
        y = y.astype(np.float64).reshape(len(y), *analysis.data.outputs)
    strat = data.split.stratify and task == "classification"
    xs, ys = split_arrays(x, y, data.split, spec.seed, strat)
    states = []
    for t in data.transforms:
        s = t.fit(xs["train"])
        states.append(s)
        xs = {k: t.apply(v, s) for k, v in xs.items()}
    if task == "regression" and analysis.target_shape == ():
        ys = {k: v.reshape(len(v)) for k, v in ys.items()}
    y_true = dict(ys)
    target_states = []
    for t in data.target_transforms:
        s = t.fit(ys["train"])
        target_states.append(s)
        ys = {k: t.apply(v, s) for k, v in ys.items()}
    return Arrays(xs, ys, y_true, states, target_states)


def invert_targets(spec, arrays: Arrays, y):
    """Undo the target transforms (so metrics and predictions are in the data's units)."""
    for t, s in reversed(list(zip(spec.data.target_transforms, arrays.target_states))):
        y = t.invert(y, s)
    return y
