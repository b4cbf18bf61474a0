"""Run-directory ownership: refusing to clobber a folder, one process at a time (a lock),
and output paths that can be written."""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

from .errors import RunError

LOCK = ".specdl.lock"
# What marks a folder as a specdl run directory (only such folders may be replaced by --force).
RUN_MARKERS = ("spec.yaml", "metrics.jsonl")
_HELD: dict = {}  # run dir -> open lock file, for the life of the process (or until release)


def _under_file(p: Path, what: str) -> None:
    parent = next((q for q in p.parents if q.exists()), None)
    if parent is not None and not parent.is_dir():
        raise RunError(f"cannot write {what} {p}: {parent} is a file, not a folder")


def check_output_path(path, what: str = "the file") -> Path:
    """A file path that can be written: not a folder, not under a file. One line if not."""
    p = Path(path)
    if p.is_dir():
        raise RunError(f"cannot write {what} {p}: it is a folder; give a file path")
    _under_file(p, what)
    return p


def check_output_dir(path, what: str = "the folder") -> Path:
    """A folder path that can be created: not a file, not under a file."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise RunError(f"cannot write {what} {p}: it is a file, not a folder")
    _under_file(p, what)
    return p


def is_run_dir(path: Path) -> bool:
    return all((path / m).is_file() for m in RUN_MARKERS)


def lock(run_dir: Path) -> None:
    """Hold an exclusive flock on RUN_DIR/.specdl.lock until the process ends (kill -9
    included: the kernel drops the lock with the process)."""
    run_dir = Path(run_dir)
    try:
        f = open(run_dir / LOCK, "a")
    except OSError as e:
        raise RunError(f"cannot write the run directory {run_dir}: {e.strerror or e}") from None
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise RunError(f"{run_dir} is in use by another specdl process; wait for it to finish "
                       "or choose another --out") from None
    _HELD[str(run_dir.resolve())] = f


def release(run_dir: Path) -> None:
    f = _HELD.pop(str(Path(run_dir).resolve()), None)
    if f is not None:
        f.close()


def release_all() -> None:
    while _HELD:
        _HELD.popitem()[1].close()


def _contents(run: Path) -> list:
    return [p for p in run.iterdir() if p.name != LOCK]


def claim_out(out, force: bool) -> Path:
    """Create and lock ``--out``; refuse a non-empty folder unless --force replaces a run dir."""
    run = check_output_dir(out, "the run directory")
    had_lock = (run / LOCK).exists()
    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"cannot write the run directory {run}: {e.strerror or e}") from None
    lock(run)
    try:
        _may_replace(run, force)
    except RunError:
        release(run)
        if not had_lock:
            (run / LOCK).unlink(missing_ok=True)
        raise
    for p in _contents(run):
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    return run


def _may_replace(run: Path, force: bool) -> None:
    if not _contents(run):
        return
    if Path.cwd().resolve().is_relative_to(run.resolve()):
        raise RunError(f"--out {run} holds the current directory and is not empty; "
                       "specdl never writes a run over your files: choose a new folder")
    if not is_run_dir(run):
        raise RunError(f"--out {run} is not empty and is not a specdl run directory; choose a new "
                       "or empty folder (--force replaces only run directories)")
    if not force:
        raise RunError(f"--out {run} holds a previous run; continue it with "
                       f"`specdl build --resume {run}` or pass --force to replace it")


def writable(run: Path) -> None:
    try:
        probe = run / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise RunError(f"cannot write the run directory {run}: {e.strerror or e}") from None
