"""Atomic checkpoint files: a kill at any instant leaves the previous file loadable."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from .errors import RunError


def save_atomic(obj, path: Path) -> None:
    """torch.save to a temporary file beside ``path``, fsync, then rename over it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load(path: Path, map_location="cpu"):
    """Load a checkpoint with ``weights_only=True`` (never unpickles code)."""
    path = Path(path)
    if not path.exists():
        raise RunError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # corrupt, foreign or unsafe file
        raise RunError(f"cannot load checkpoint {path}: {str(e).splitlines()[0]}") from None
