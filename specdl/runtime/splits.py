"""How rows are split into train, val and test: scikit-learn's train_test_split, seeded.
Copied verbatim into scripts whose source splits rows (codegen), like the loop."""

from __future__ import annotations

import math

import numpy as np


def split_rows(y, val, test, seed, stratify):
    """Row indices of the train, val and test splits: scikit-learn's train_test_split,
    seeded; ``val`` and ``test`` are fractions of all rows (``stratify``: by the labels y)."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    if test > 0:
        rest, test_rows = train_test_split(rows, test_size=test, random_state=seed, stratify=y if stratify else None)
    else:  # the source brings its own test set
        rest, test_rows = rows, rows[:0]
    if val > 0:
        train, val_rows = train_test_split(rest, test_size=val / (1.0 - test), random_state=seed,
                                           stratify=y[rest] if stratify else None)
    else:
        train, val_rows = rest, rest[:0]
    return {"train": train, "val": val_rows, "test": test_rows}


def drawn_rows(y, val, test, seed, stratify):
    """``split_rows`` without importing scikit-learn (``check`` reads a CSV's train split
    with neither scikit-learn nor scipy loaded): the same rows, by the same draws as its
    ShuffleSplit and StratifiedShuffleSplit (tests/test_splits.py compares them over drawn
    labels and sizes). None where scikit-learn would refuse the split, so that
    ``split_rows`` gives its message."""
    y = np.asarray(y)
    if stratify and (y.ndim != 1 or y.dtype.kind not in "biuU"):
        return None
    rows = np.arange(len(y))
    if test > 0:
        rest, test_rows = _draw(rows, y if stratify else None, test, seed)
    else:
        rest, test_rows = rows, rows[:0]
    if rest is None:
        return None
    if val > 0:
        train, val_rows = _draw(rest, y[rest] if stratify else None, val / (1.0 - test), seed)
    else:
        train, val_rows = rest, rest[:0]
    return None if train is None else {"train": train, "val": val_rows, "test": test_rows}


def _draw(rows, y, test_size, seed):
    """One seeded ``train_test_split(rows, test_size=, stratify=y)``; (None, None) where
    scikit-learn raises."""
    n = len(rows)
    n_test = math.ceil(test_size * n)
    n_train = n - n_test
    if not 0 < test_size < 1 or n_train <= 0:
        return None, None
    rng = np.random.RandomState(seed)
    if y is None:
        order = rng.permutation(n)
        return rows[order[n_test:]], rows[order[:n_test]]
    classes, y_indices, counts = np.unique(y, return_inverse=True, return_counts=True)
    if counts.min() < 2 or n_train < len(classes) or n_test < len(classes):
        return None, None
    by_class = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(counts)[:-1])
    n_i = _approximate_mode(counts, n_train, rng)
    t_i = _approximate_mode(counts - n_i, n_test, rng)
    train, held = [], []
    for i in range(len(classes)):
        mine = by_class[i].take(rng.permutation(counts[i]), mode="clip")
        train.extend(mine[:n_i[i]])
        held.extend(mine[n_i[i]:n_i[i] + t_i[i]])
    return rows[rng.permutation(train)], rows[rng.permutation(held)]


def _approximate_mode(counts, n_draws, rng):
    """scikit-learn's ``_approximate_mode``: how many of ``n_draws`` each class gets,
    the classes with the largest remainders taking one more (ties drawn by ``rng``)."""
    continuous = counts / counts.sum() * n_draws
    floored = np.floor(continuous)
    need = int(n_draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need -= add_now
            if need == 0:
                break
    return floored.astype(int)
