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
        raise RunError(f"cannot load checkpoint {path}: {(str(e).splitlines() or [type(e).__name__])[0]}") from None


LAST_KEYS = ("model", "optimizer", "rng", "gen", "state")


def load_last(path: Path) -> dict:
    """A last.pt for --resume: a dict with the model, optimizer and loop state."""
    obj = load(path)
    if not isinstance(obj, dict) or any(k not in obj for k in LAST_KEYS) or not isinstance(obj["state"], dict):
        what = "a best.pt (weights only)" if isinstance(obj, dict) and "optimizer" not in obj else "not a last.pt"
        raise RunError(f"{path} is {what}, so the run cannot be resumed from it; restore the run's "
                       "last.pt or start a new run")
    if not isinstance(obj["state"].get("epoch"), int):
        raise RunError(f"{path} has no epoch counter; restore the run's last.pt or start a new run")
    return obj


def shape_change(model, state: dict) -> str | None:
    """What differs between a model and a saved state dict, in words (None: they match)."""
    import torch

    if not isinstance(state, dict):
        return "the saved weights are not a state dict"
    mine = model.state_dict()
    for k, v in mine.items():
        if k not in state:
            return f"the spec's model has `{k}`, the checkpoint has not"
        other = state[k]
        if not isinstance(other, torch.Tensor) or tuple(other.shape) != tuple(v.shape):
            got = list(other.shape) if isinstance(other, torch.Tensor) else type(other).__name__
            return f"`{k}` is {list(v.shape)} in the spec, {got} in the checkpoint"
    extra = [k for k in state if k not in mine]
    return f"the checkpoint has `{extra[0]}`, the spec's model has not" if extra else None
