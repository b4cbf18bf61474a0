"""The run directory: where a run is written, by one process at a time, never over
the user's files (docs/reliability.md, "Nothing lost").

* ``--out DIR`` takes a new or empty folder. A non-empty one is refused, with a
  message that says whether it holds a run (of this spec: continue it with
  ``--resume``). ``--force`` replaces a previous run (a folder with spec.yaml and
  metrics.jsonl), never a folder of other files, nor one that holds the current
  directory (``--out .``).
* One process holds a run directory: an exclusive ``flock`` on ``DIR/.lock``, taken
  before anything in it is touched and released when the process ends (kill -9
  included: the kernel drops the lock with the process).
* ``--resume DIR`` needs DIR's spec.yaml and, to continue, a last.pt written by
  specdl; without one the run starts from its beginning (with a note)."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path

from .errors import RunError

LOCK = ".specdl.lock"


class RunDir:
    """A locked run directory (``close()`` releases the lock)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd = None
        self._created = False  # whether lock() made the folder (close() may remove it)

    def lock(self) -> RunDir:
        import fcntl

        try:
            self._created = not self.path.exists()
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise RunError(f"cannot write the run directory {self.path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunError(f"{self.path} is in use by another specdl process (pid {holder}); "
                           "wait for it to end, or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def close(self, failed: bool = False) -> None:
        """Release the lock; the lock file goes too, so a finished run directory holds
        only the run's files (a process killed with -9 leaves it, unlocked). A folder this
        process created goes when it is left empty, or, ``failed`` before any checkpoint,
        with what it holds (and runs/<name>, runs when that left them empty): a failed
        start leaves nothing; a folder that was there before stays."""
        if self._fd is None:
            return
        (self.path / LOCK).unlink(missing_ok=True)
        os.close(self._fd)  # releases the flock
        self._fd = None
        if not self._created:
            return
        if failed and not any(self.path.glob("*.pt")):
            shutil.rmtree(self.path, ignore_errors=True)
        under_runs = self.path.parent.parent.name == "runs"
        for folder in (self.path, *self.path.parents[:2]) if under_runs else (self.path,):
            try:
                folder.rmdir()  # only when empty
            except FileNotFoundError:
                continue
            except OSError:  # not empty: not ours to remove
                break


def new_run(spec, out, force: bool = False) -> RunDir:
    """The run directory of a new run: ``out``, or runs/<name>/<time>; locked."""
    if out is None:
        base = Path("runs") / spec.name / datetime.now().strftime("%Y%m%d-%H%M%S")
        run, n = base, 1
        while run.exists():
            n += 1
            run = base.with_name(f"{base.name}-{n}")
        return _writable(RunDir(run).lock())
    from .files import writable_folder

    writable_folder(out, "the run directory")
    rd = RunDir(Path(out)).lock()
    try:
        others = sorted(p.name for p in rd.path.iterdir() if p.name not in (LOCK, ".write-test"))
        if others and not (force and _replaceable(rd.path, others)):
            raise RunError(_refusal(rd.path, others, spec, force))
        if others:
            _clear(rd.path)
        return _writable(rd)
    except BaseException:
        rd.close()
        raise


def _replaceable(path: Path, names: list) -> bool:
    """A previous run (spec.yaml and metrics.jsonl), and not where the user stands."""
    here = Path.cwd().resolve()
    return {"spec.yaml", "metrics.jsonl"} <= set(names) and not (here == path.resolve() or path.resolve() in here.parents)


def _refusal(path: Path, names: list, spec, force: bool) -> str:
    here = Path.cwd().resolve()
    if here == path.resolve() or path.resolve() in here.parents:
        return (f"{path} holds the current directory, which specdl never writes a run over (not even with "
                "--force): choose a new or empty --out")
    if {"spec.yaml", "metrics.jsonl"} <= set(names):
        same = _same_spec(path / "spec.yaml", spec)
        done = "a finished" if "report.json" in names else "an unfinished"
        return (f"{path} holds {done} previous run{' of this spec' if same else ''}; continue it with "
                f"`specdl build --resume {path}` (more epochs: -o train.epochs=N), replace it with --force, "
                "or choose another --out")
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return (f"{path} is not empty ({shown}) and is not a run directory; specdl never writes over your files "
            "(not even with --force): choose a new or empty --out")


def _same_spec(path: Path, spec) -> bool:
    from .front import load

    try:
        return load(path) == spec
    except Exception:  # noqa: BLE001 - any unreadable spec.yaml is simply not this spec
        return False


def _clear(path: Path) -> None:
    """Empty a previous run directory being replaced (--force); the lock stays held."""
    for p in path.iterdir():
        if p.name == LOCK:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _writable(rd: RunDir) -> RunDir:
    try:
        probe = rd.path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        rd.close()
        raise RunError(f"cannot write the run directory {rd.path}: {e.strerror or e}") from None
    return rd


def last_checkpoint(run: Path) -> dict | None:
    """last.pt of a run to resume, checked to be one (None: none was written yet)."""
    from . import checkpoint as ckpt

    path = Path(run) / "last.pt"
    if not path.exists():
        return None
    last = ckpt.load(path)
    need = {"model", "optimizer", "state", "rng", "gen"}
    if not isinstance(last, dict) or not need <= set(last):
        what = "model weights only (a best.pt?)" if isinstance(last, dict) and "model" not in last else "something else"
        raise RunError(f"{path} is not a checkpoint to resume from: it holds {what}; a run's last.pt "
                       "is written by specdl build (start again with --force)")
    return last


def truncate_metrics(path: Path, epoch: int) -> None:
    """Keep metrics.jsonl's rows up to ``epoch`` (a row cut short by a kill is dropped)."""
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
