"""Checkpoints, all of them: what a run's files hold, how they are written, and how they
are read back.

* ``last.pt`` (written every train.checkpoint.interval seconds, at the end, at Ctrl-C):
  what resuming needs, ``{"model", "optimizer", "scheduler", "scaler", "rng", "gen",
  "cuda_rng", "state"}`` (``state``: the runtime's RunState as a dict). Under FSDP the
  model's full weights only (optimizer, scheduler and scaler None): such a run cannot be
  resumed yet.
* ``best.pt``: the best epoch's weights, a plain state dict (a generated script's
  ``<name>.best.pt`` too).

Written atomically (a kill at any instant leaves the previous file loadable); read with
``weights_only=True``. ``restore`` puts a last.pt back into a trainer (refusing one that does
not match the spec, or a scheduler laid out for another run length); ``load_best`` gives a
model the weights of a best.pt (or of a last.pt) for predict, evaluate and export.

torch is imported where a file is read or written, so that a missing or unreadable file is
refused before that second of imports (predict, evaluate and export on a bad run)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from .. import manifest
from ..errors import RunError

RESUME_NEEDS = {"model", "optimizer", "state", "rng", "gen"}  # what a last.pt must hold


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


def load_best(path: Path, build):
    """The model that ``build()`` makes, with the weights saved at ``path``: a best.pt (a
    state dict), or a last.pt's model. The file is read first (a missing or unreadable
    one is refused before the model is built); weights that do not fit the model are one
    line, "PATH does not match the spec's model: ...". Returns the model (not in eval mode)."""
    state = load(path)  # refused before torch is imported where the file is missing
    if "model" in state and "optimizer" in state:  # a last.pt
        state = state["model"]
    model = build()
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise RunError(f"{path} does not match the spec's model: {first}") from None
    return model


# -- a run's checkpoints: written by build, read back by --resume

def save(run_dir: Path, t, state, best_state, last: bool = True) -> None:
    """best.pt (where ``best_state``) and, where ``last``, last.pt for trainer ``t`` at
    RunState ``state``; rank 0 writes (under FSDP every rank gathers the weights)."""
    if t.fsdp:
        full = t.weights()  # collective: every rank takes part, rank 0 writes
        if not t.dist.main:
            return
        manifest.record(run_dir, *["best.pt"] * (best_state is not None), *["last.pt"] * last)
        if best_state is not None:
            save_atomic(best_state, run_dir / "best.pt")
        if last:
            save_atomic(last_contents(t, state, full), run_dir / "last.pt")
        return
    if t.dist is not None and not t.dist.main:
        return  # rank 0 writes the run directory
    manifest.record(run_dir, *["best.pt"] * (best_state is not None), *["last.pt"] * last)
    try:
        _write(run_dir, t, state, best_state, last)
    except OSError as e:
        raise RunError(f"cannot write a checkpoint in {run_dir}: {e.strerror or e}; the previous "
                       "checkpoint is intact (checkpoints are written atomically)", exit_code=1) from None


def _write(run_dir: Path, t, state, best_state, last: bool) -> None:
    if best_state is not None:
        save_atomic(best_state, run_dir / "best.pt")
    if not last:
        return
    save_atomic(last_contents(t, state), run_dir / "last.pt")


def last_contents(t, state, full: dict | None = None) -> dict:
    """What last.pt holds for trainer ``t`` at RunState ``state``: the weights, the
    optimizer's, scheduler's and scaler's states, the RNG states and the RunState. Under
    FSDP (``full``: the gathered weights) the weights only, the rest None."""
    if full is not None:
        return {"model": full, "optimizer": None, "scheduler": None, "scaler": None, **rng_states(t.gen),
                "state": asdict(state)}
    return {
        "model": t.model.state_dict(),
        "optimizer": t.opt.state_dict(),
        "scheduler": t.sched.state_dict() if t.sched is not None else None,
        "scaler": t.scaler.state_dict() if t.scaler is not None else None,
        **rng_states(t.gen),
        "state": asdict(state),
    }


def last_checkpoint(run: Path) -> dict | None:
    """last.pt of a run to resume, checked to be one (None: none was written yet)."""
    path = Path(run) / "last.pt"
    if not path.exists():
        return None
    last = load(path)
    if not isinstance(last, dict) or not RESUME_NEEDS <= set(last):
        what = "model weights only (a best.pt?)" if isinstance(last, dict) and "model" not in last else "something else"
        raise RunError(f"{path} is not a checkpoint to resume from: it holds {what}; a run's last.pt "
                       "is written by specdl build (start again with --force)")
    return last


def restore(run_dir: Path, t, last: dict):
    """Put last.pt (``last``, from ``last_checkpoint``) back into trainer ``t``: weights,
    optimizer, scheduler, scaler, RNG states. Returns the RunState it was saved at and the
    best weights so far (best.pt's, or None). A last.pt of another model, or a scheduler
    laid out for another run length, is one line."""
    from ..runtime.loop import RunState

    path = run_dir / "last.pt"
    change = shape_change(t.model, last["model"])
    if change:
        raise RunError(f"{path} does not match {run_dir / 'spec.yaml'} (was the spec edited?): {change}")
    try:
        t.model.load_state_dict(last["model"])
        t.opt.load_state_dict(last["optimizer"])
        if t.sched is not None and last.get("scheduler"):
            _same_layout(t.spec, t.sched.state_dict(), last["scheduler"])
            t.sched.load_state_dict(last["scheduler"])
        if last.get("scaler"):
            t.scaler.load_state_dict(last["scaler"])
        set_rng_states(last, t.gen)
        state = RunState(**last["state"])
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        first = next((ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()), str(e).splitlines()[0] if str(e) else "")
        raise RunError(f"{path} does not match {run_dir / 'spec.yaml'} (was the spec edited, or a shape "
                       f"key overridden?): {first[:200]}") from None
    best = run_dir / "best.pt"
    return state, load(best) if best.exists() else None


def _same_layout(spec, fresh: dict, saved: dict) -> None:
    """A scheduler laid out over the run's length (onecycle's steps, cosine's T_max) cannot
    go on over another length: resuming with other train.epochs (or batches per epoch)
    would end it early, or step past its end."""
    sched = spec.scheduler
    for key in sched.layout:
        if key in saved and saved[key] != fresh.get(key):
            raise RunError(f"scheduler {sched.type_name} was laid out for the run as it started ({key} "
                           f"{saved[key]}); with train.epochs {spec.train.epochs} and batch_size "
                           f"{spec.train.batch_size} it would be {fresh.get(key)}: resume with the run's "
                           "train.epochs and batch_size, or start a new run")


def truncate_metrics(path: Path, epoch: int) -> None:
    """Keep metrics.jsonl's rows up to ``epoch``, the epoch last.pt was saved at (a row cut
    short by a kill is dropped): a resumed run writes the rest again."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a partial last line
        if isinstance(row, dict) and isinstance(row.get("epoch"), int) and row["epoch"] <= epoch:
            keep.append(line)
    path.write_text("".join(ln + "\n" for ln in keep))
