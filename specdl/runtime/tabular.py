"""The synthetic data source: random features, and targets a fixed random function of them.
Build calls it; a generated script holds its source (copied from this file)."""

import numpy as np


def synthetic_data(seed, shape, width, high=None, classes=False):
    """x of ``shape``, standard normal (``high``: token ids below it), and targets: x (token ids: their
    histogram) times a random matrix drawn in blocks of rows (``classes``: the argmax of that)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) if high is None else rng.integers(0, high, size=shape)
    flat = x.reshape(len(x), -1)
    if high is not None:  # token histogram, without a one-hot copy of x
        ids = flat + np.arange(len(x))[:, None] * high
        flat = np.bincount(ids.ravel(), minlength=len(x) * high).reshape(len(x), high) / flat.shape[1]
        flat -= 1.0 / high  # centred, so that no class takes the common part of every score
    score = np.zeros((len(x), width))
    block = max(1, min(flat.shape[1], 1_048_576 // width))
    for i in range(0, flat.shape[1], block):
        score += flat[:, i:i + block] @ rng.standard_normal((min(block, flat.shape[1] - i), width))
    return x, score.argmax(axis=1) if classes else score


def synthetic_inputs(seed, size, inputs, width, classes=False):
    """Named inputs (``inputs``: name -> (per-sample shape, bound of its int64 ids or None)),
    each drawn as ``synthetic_data`` draws one, from its own stream ([seed, its position]), and
    targets the sum of their scores (``classes``: the argmax of that): every input tells."""
    xs, score = {}, np.zeros((size, width))
    for i, (name, (shape, high)) in enumerate(inputs.items()):
        xs[name], part = synthetic_data([seed, i], (size, *shape), width, high)
        score += part
    return xs, score.argmax(axis=1) if classes else score
