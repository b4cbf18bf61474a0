"""``drawn_rows`` (check's split, without scikit-learn) against ``split_rows`` (scikit-learn's
train_test_split, which build's script holds): the same rows for drawn labels, sizes and
seeds, or a refusal exactly where scikit-learn refuses."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from specdl.runtime.splits import drawn_rows, split_rows

FRACTIONS = st.sampled_from([0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 1 / 3, 0.5])


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 120), k=st.integers(1, 6), val=FRACTIONS, test=FRACTIONS, seed=st.integers(0, 2**31 - 1),
       stratify=st.booleans(), skew=st.floats(0.0, 3.0), strings=st.booleans())
def test_drawn_rows_are_scikit_learns(n, k, val, test, seed, stratify, skew, strings):
    weights = np.exp(-skew * np.arange(k))
    y = np.random.default_rng(seed).choice(k, size=n, p=weights / weights.sum())
    if strings:
        y = np.array([f"class {c}" for c in y])
    try:
        want = split_rows(y, val, test, seed, stratify)
    except ValueError:
        want = None
    got = drawn_rows(y, val, test, seed, stratify)
    if want is None:
        assert got is None
        return
    assert got is not None, "drawn_rows fell back on labels it reads"
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(got[part], want[part], err_msg=part)


def test_drawn_rows_splits_when_scikit_learn_does():
    """The fallback is for refusals, not a way around the draw: ordinary splits are drawn."""
    y = np.arange(200) % 3
    for stratify in (False, True):
        assert drawn_rows(y, 0.1, 0.2, 0, stratify) is not None


def test_drawn_rows_imports_neither_scikit_learn_nor_scipy():
    code = ("import sys, numpy as np; from specdl.runtime.splits import drawn_rows; "
            "r = drawn_rows(np.arange(50) % 2, 0.1, 0.2, 0, True); "
            "assert r is not None; print(sorted(m for m in ('sklearn', 'scipy', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
