"""Atomic checkpoint files: a kill at any instant leaves the previous file loadable.

torch is imported where a file is read or written, so that a missing or unreadable file is
refused before that second of imports (predict, evaluate and export on a bad run)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import RunError


def save_atomic(obj, path: Path) -> None:
    """torch.save to a temporary file beside ``path``, fsync, then rename over it."""
    import torch

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.replace(tmp, path)
        except OSError as e:  # the path is a folder: the error names it, not the temporary file
            raise OSError(e.errno, e.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def clear_orphans(folder: Path) -> None:
    """Remove the temporary files (``.NAME.pt.XXXX.tmp``) that save_atomic's writes left
    when their process was killed; called by the holder of the run directory's lock."""
    for p in Path(folder).glob(".*.pt.*.tmp"):
        if p.is_file():
            p.unlink(missing_ok=True)


def load(path: Path, map_location="cpu"):
    """Load a checkpoint with ``weights_only=True`` (never unpickles code), from a
    regular file only (a pipe would block, /dev/zero would never end)."""
    import warnings

    from ..files import file_problem

    path = Path(path)
    why = file_problem(path)
    if why:
        raise RunError(f"no checkpoint at {path}" if why.startswith("no such file") else f"checkpoint: {why}")
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's warnings on a foreign pickle: the error below says it
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # corrupt, foreign or unsafe file
        text = (str(e).splitlines() or [type(e).__name__])[0]
        if not _torch_magic(path):  # a JSON, YAML or text file: no pickle at all
            text = "not a torch checkpoint (another kind of file: torch.save writes a zip or a pickle)"
        elif "Weights only load failed" in text:
            text = "it holds Python objects (specdl loads only tensors and plain data, never code)"
        elif "zip archive" in text or "pop from empty list" in text or isinstance(e, EOFError):
            text = "not a torch checkpoint (truncated, or another kind of file)"
        raise RunError(f"cannot load checkpoint {path}: {text}") from None


def _torch_magic(path: Path) -> bool:
    """Whether the file starts as torch.save's files do: a zip archive, or a pickle."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return True
    return head.startswith((b"PK\x03\x04", b"\x80"))


def rng_states(generator) -> dict:
    """Every RNG state a run draws from: the CPU's (init, dropout), each CUDA device's
    (dropout on the GPU), and the batch order's generator (which also seeds DataLoader
    workers). Saved in last.pt, so that a resumed run draws what the uninterrupted one would."""
    import torch

    return {"rng": torch.get_rng_state(), "gen": generator.get_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_states(saved: dict, generator) -> None:
    import torch

    torch.set_rng_state(saved["rng"])
    generator.set_state(saved["gen"])
    cuda = saved.get("cuda_rng") or []
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])


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
