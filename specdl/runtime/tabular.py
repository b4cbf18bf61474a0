"""The targets of the synthetic data source: a fixed random function of the features.
Build calls it; a generated script holds its source (copied from this file)."""

import numpy as np


def synthetic_targets(x, rng, width, high=None):
    """A fixed random function of x: x itself (or, for token ids, their histogram) times a
    random matrix drawn in blocks of rows, so memory stays apart from features x width."""
    flat = x.reshape(len(x), -1)
    if high is not None:  # token histogram, without a one-hot copy of x
        ids = flat + np.arange(len(x))[:, None] * high
        flat = np.bincount(ids.ravel(), minlength=len(x) * high).reshape(len(x), high) / flat.shape[1]
        flat -= 1.0 / high  # centred, so that no class takes the common part of every score
    score = np.zeros((len(x), width))
    block = max(1, min(flat.shape[1], 1_048_576 // width))
    for i in range(0, flat.shape[1], block):
        score += flat[:, i:i + block] @ rng.standard_normal((min(block, flat.shape[1] - i), width))
    return score
