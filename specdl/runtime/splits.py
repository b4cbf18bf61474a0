"""How rows are split into train, val and test: scikit-learn's train_test_split, seeded.
Copied verbatim into scripts whose source splits rows (codegen), like the loop."""

from __future__ import annotations

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
