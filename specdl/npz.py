"""Reading arrays from a NumPy file without pickles, with every failure a one-line
reason naming the file and key (for the npz source and for predict's --input)."""

from __future__ import annotations

import zipfile


class NpzProblem(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _numeric(arr, path, key: str, field: str):
    if arr.dtype.kind not in "biuf":
        raise NpzProblem(field, f"`{key}` in {path} holds {arr.dtype} values; give numbers")
    return arr


def read_npz(path, *keys: str):
    """The arrays under ``keys`` (fields x, y... in that order); numbers only."""
    import numpy as np

    from .errors import did_you_mean

    try:
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, "files"):
                raise NpzProblem("path", f"{path} is a single array (.npy), not an .npz archive")
            out = []
            for field, key in zip(("x", "y"), keys):
                if key not in f.files:
                    raise NpzProblem(field, f"{path} has no array `{key}`" + did_you_mean(key, f.files))
                out.append(_numeric(f[key], path, key, field))
            return out
    except NpzProblem:
        raise
    except (OSError, ValueError, EOFError, MemoryError, zipfile.BadZipFile, KeyError) as e:
        first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise NpzProblem("path", f"cannot read {path} as .npz: {first}") from None


def read_npy(path):
    """The array in a .npy file; numbers only."""
    import numpy as np

    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, MemoryError) as e:
        first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise NpzProblem("path", f"cannot read {path} as .npy: {first}") from None
    if not isinstance(arr, np.ndarray):
        raise NpzProblem("path", f"{path} is an .npz archive, not a single .npy array")
    return _numeric(arr, path, "the array", "x")
