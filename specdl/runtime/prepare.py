"""Data preparation after loading, for in-memory data: the targets as training reads
them, the three splits, transforms fitted on the train split and applied to every split,
one-hot categories, and undoing the target transforms.

``specdl build`` (specdl/build/data.py) calls these; every generated script with in-memory
data contains them as their own source (``PREPARE_FUNCTIONS``, copied with
``inspect.getsource`` like the loop), with ``splits.split_rows`` and the functions of
the transforms the spec uses. Each reads only its arguments and numpy as np."""

from __future__ import annotations

import numpy as np


def targets(y, task, shape):
    """The targets as training reads them: class indices (int64), or 0/1 labels and
    values (float64) with the per-sample ``shape``."""
    if task == "classification":
        return np.asarray(y).astype(np.int64)
    return np.asarray(y, dtype=np.float64).reshape(len(y), *shape)


def take(a, rows):
    """An array's rows for each split (``rows``: split -> row indices)."""
    return {split: a[r] for split, r in rows.items()}


def take_inputs(x, rows):
    """Named input arrays (name -> array of every sample) as each split's (``rows``: split
    -> row indices): split -> name -> array."""
    return {split: {k: v[r] for k, v in x.items()} for split, r in rows.items()}


class FitError(ValueError):
    """A statistic a transform fitted on the train split that is not finite (a mean over
    blank cells, an overflowing span): the transform's ``index`` in ``data.<group>``, the
    statistic's name ``key`` and the ``feature`` (flat index) where it is not finite."""

    def __init__(self, group, index, key, feature):
        super().__init__(f"data.{group}[{index}] fitted a {key} that is not finite for feature {feature} (its "
                         "train split holds NaN or infinite values): put `fill` before it, or clean the data")
        self.group, self.index, self.key, self.feature = group, index, key, feature


def fit_transforms(splits, steps, group="transforms"):
    """Fit each transform on the train split and apply it to every split, in order
    (``steps``: (fit, apply, invert) triples; fit None where there is nothing to fit).
    Returns the transformed splits and what each transform fitted. A fitted statistic
    that is not finite is a FitError; a number the spec gives (``fill: -.inf``) stands."""
    fitted = []
    for i, (fit, apply, _) in enumerate(steps):
        with np.errstate(all="ignore"):  # a statistic that overflows is refused below, not warned of
            state = fit(splits["train"]) if fit is not None else {}
        given = fit.keywords.get("value") if hasattr(fit, "keywords") else None  # fill's own number: given
        for key, v in state.items() if not isinstance(given, (int, float)) else ():
            bad = np.flatnonzero(~np.isfinite(np.asarray(v, dtype=np.float64)))
            if len(bad):
                raise FitError(group, i, key, int(bad[0]))
        fitted.append(state)
        splits = {k: apply(v, state) for k, v in splits.items()}
    return splits, fitted


def one_hot(splits, cats):
    """Categorical columns (``cats``: split -> string array) one-hot encoded after the
    numeric ones, with the categories seen in the train split (an unseen one: all zeros).
    Returns the splits and the fitted encoder."""
    from sklearn.preprocessing import OneHotEncoder

    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(cats["train"])
    return {k: np.hstack([v, encoder.transform(cats[k])]) for k, v in splits.items()}, encoder


def truth(y, task):
    """The targets as the metrics read them (before any target transform): multilabel
    0/1 labels as integers, others as they are."""
    return {k: v.astype(np.int64) for k, v in y.items()} if task == "multilabel" else dict(y)


def invert(y, steps, fitted):
    """Undo fitted transforms, the last one first: predictions in the data's own units."""
    for (_, _, undo), state in reversed(list(zip(steps, fitted))):
        y = undo(y, state)
    return y


def preprocess_record(states, target_states, encoder, class_names, facts):
    """What a run's preprocess.json holds, as plain JSON: the fitted transforms and target
    transforms, the one-hot categories, the class names and the data's facts (a generated
    script writes its <name>.preprocess.json with this too)."""
    def plain(state):
        return {k: np.asarray(v).tolist() for k, v in state.items()}

    return {"transforms": [plain(s) for s in states], "target_transforms": [plain(s) for s in target_states],
            "categories": [c.tolist() for c in encoder.categories_] if encoder is not None else None,
            "class_names": class_names, "facts": facts}


# What a script with in-memory data contains; then, where the spec needs them,
# fit_transforms, one_hot (a CSV's categorical columns) and invert (target transforms).
PREPARE_FUNCTIONS = (targets, take, truth)
