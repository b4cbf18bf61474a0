"""Reading arrays from a NumPy file without pickles, with every failure a one-line
reason naming the file and key (for the npz source and for predict's --input)."""

from __future__ import annotations

import zipfile


class NpzProblem(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _numeric(arr, path, key: str | None, field: str):
    if arr.dtype.kind not in "biuf":
        where = f"`{key}` in {path}" if key else str(path)
        raise NpzProblem(field, f"{where} holds {arr.dtype} values; give numbers")
    return arr


def _why(e, path, kind: str) -> str:
    first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
    if "pickle" in first:  # neither a NumPy file nor plain arrays: np.load falls back to pickle
        first = "not a NumPy file, or one holding Python objects (which specdl never loads)"
    return f"cannot read {path} as {kind}: {first}"


def read_npz(path, *keys: str, fields=("x", "y")):
    """The arrays under ``keys`` (each reported as the field of ``fields`` at its position,
    x and y by default); numbers only."""
    import numpy as np

    from ..errors import did_you_mean

    try:
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, "files"):
                raise NpzProblem("path", f"{path} is a single array (.npy), not an .npz archive")
            out = []
            for field, key in zip(fields, keys):
                if key not in f.files:
                    raise NpzProblem(field, f"{path} has no array `{key}`" + did_you_mean(key, f.files))
                out.append(_numeric(f[key], path, key, field))
            return out
    except NpzProblem:
        raise
    except (OSError, ValueError, EOFError, MemoryError, zipfile.BadZipFile, KeyError) as e:
        raise NpzProblem("path", _why(e, path, ".npz")) from None


def read_npy(path):
    """The array in a .npy file; numbers only."""
    import numpy as np

    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, MemoryError) as e:
        raise NpzProblem("path", _why(e, path, ".npy")) from None
    if not isinstance(arr, np.ndarray):
        raise NpzProblem("path", f"{path} is an .npz archive, not a single .npy array")
    return _numeric(arr, path, None, "x")
