"""The run directory: where a run is written, by one process at a time, never over
the user's files (docs/reliability.md, "Nothing lost").

* ``--out DIR`` takes a new or empty folder, or a run that specdl wrote: its manifest
  (specdl/manifest.py) lists every path specdl wrote there; the other files are the
  user's, never removed, and do not make the folder "not empty". A previous run is
  refused with a message that says whether it is of this spec (continue it with
  ``--resume``); ``--force`` removes its listed files only. A folder without a manifest
  (the user's, or an older specdl's run) is never written into, ``--force`` or not, nor
  one that holds the current directory (``--out .``).
* One process holds a run directory: an exclusive ``flock`` on ``DIR/.specdl.lock``,
  taken before anything in it is touched and released when the process ends (kill -9
  included: the kernel drops the lock with the process).
* ``--resume DIR`` needs DIR's spec.yaml and a run that specdl wrote; to continue, a
  last.pt written by specdl (without one the run starts from its beginning, with a note)."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

from .. import manifest
from ..errors import RunError

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
        try:
            if not manifest.present(self.path):  # nothing written (a tune that did not start)
                (self.path / manifest.MANIFEST).unlink(missing_ok=True)
        except RunError:
            pass  # a damaged manifest stays for the user to see
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
    """The run directory of a new run: ``out``, or runs/<name>/<time>; locked, with a new
    manifest of the files the run writes."""
    if out is None:
        base = Path("runs") / spec.name / datetime.now().strftime("%Y%m%d-%H%M%S")
        run, n = base, 1
        while run.exists():
            n += 1
            run = base.with_name(f"{base.name}-{n}")
        rd = RunDir(run).lock()
    else:
        from ..files import writable_folder

        writable_folder(out, "the run directory")
        rd = RunDir(Path(out)).lock()
    try:
        _make_room(rd.path, spec, force)
        manifest.start(rd.path, "run")
        return _writable(rd)
    except BaseException:
        rd.close()
        raise


# What a run writes (a file of these names that specdl did not write is never replaced)
RUN_FILES = ("spec.yaml", "metrics.jsonl", "preprocess.json", "last.pt", "best.pt", "examples.pt", "report.json",
             "curves.png", "confusion.png", "roc.png", "pr.png", "model.onnx", "tensorboard")


def written(run_dir) -> list[Path]:
    """The paths specdl wrote in a run: its manifest's, or an older run's of the names a
    run writes (what an --out of a verb reading the run must not replace)."""
    run_dir = Path(run_dir)
    try:
        names = manifest.present(run_dir) if manifest.read(run_dir) is not None else RUN_FILES
    except RunError:
        names = RUN_FILES
    return [run_dir / n for n in names if os.path.lexists(run_dir / n)]


def _make_room(path: Path, spec, force: bool) -> None:
    """``--out``: empty, or a previous run (with ``force``: its listed files removed); the
    user's files there stay and never count; anything else is refused."""
    names = manifest.unlisted(path)  # all of them without a manifest
    found = manifest.read(path)
    ours = manifest.present(path) if found is not None else []
    if not names and not ours:
        return
    here = Path.cwd().resolve()
    if here == path.resolve() or path.resolve() in here.parents:
        raise RunError(f"{path} holds the current directory, which specdl never writes a run over (not even with "
                       "--force): choose a new or empty --out")
    if found is None:
        raise RunError(_unlisted_folder(path, names))
    if found["kind"] != "run":
        raise RunError(f"{path} holds {manifest.KINDS[found['kind']]} written by specdl, not a run (its "
                       f"{manifest.MANIFEST}); choose another --out")
    clash = [n for n in names if n in RUN_FILES]
    if clash:
        raise RunError(f"{path / clash[0]} is not a file specdl wrote (its {manifest.MANIFEST} does not list it) "
                       f"and a run writes {clash[0]}: move it out of {path}, or choose another --out")
    if ours and not force:
        raise RunError(_refusal(path, set(ours), spec))
    if ours:
        _not_an_input(path, ours, spec)
        manifest.clear(path)


def _refusal(path: Path, ours: set, spec) -> str:
    same = "spec.yaml" in ours and _same_spec(path / "spec.yaml", spec)
    done = "a finished" if "report.json" in ours else "an unfinished"
    return (f"{path} holds {done} previous run{' of this spec' if same else ''}; continue it with "
            f"`specdl build --resume {path}` (more epochs: -o train.epochs=N), replace it with --force (files "
            "specdl did not write there stay), or choose another --out")


def _unlisted_folder(path: Path, names: list) -> str:
    """A folder without a manifest: an older specdl's run, or the user's own folder."""
    if _older_run(names):
        return (f"{path} holds a run written by an older specdl (it has no {manifest.MANIFEST} of the files "
                f"specdl wrote, so --force cannot tell them from yours): continue it with `specdl build --resume "
                f"{path}`, or delete it yourself or choose another --out")
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return (f"{path} is not empty ({shown}) and is not a run directory; specdl never writes over your files "
            "(not even with --force): choose a new or empty --out")


def _older_run(names) -> bool:
    """What an older specdl's run holds (a user's folder with a spec.yaml and a
    metrics.jsonl of their own is not one)."""
    return {"spec.yaml", "metrics.jsonl"} <= set(names) and bool(set(names) & {"preprocess.json", "last.pt", "best.pt"})


def _not_an_input(path: Path, ours: list, spec) -> None:
    """--force never removes a file the build reads (its spec, its data)."""
    from ..files import same_file, spec_inputs

    for rel in ours:
        for used in spec_inputs(spec):
            if same_file(path / rel, used):
                raise RunError(f"{used} is what this build reads, and --force would remove it with the previous "
                               f"run in {path}: copy it out of {path} first, or choose another --out")


def _same_spec(path: Path, spec) -> bool:
    from ..front import load

    try:
        return load(path) == spec
    except Exception:  # noqa: BLE001 - any unreadable spec.yaml is simply not this spec
        return False


def _writable(rd: RunDir) -> RunDir:
    try:
        probe = rd.path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        rd.close()
        raise RunError(f"cannot write the run directory {rd.path}: {e.strerror or e}") from None
    return rd


def older_run_note(run: Path) -> str | None:
    """The one-line note for a run without a manifest (an older specdl's), read as a run."""
    if (Path(run) / manifest.MANIFEST).exists():
        return None
    return (f"specdl: note: {run} was written by an older specdl (no {manifest.MANIFEST}); it is read as a "
            "run, and --force will not replace it")


def resumable(run: Path) -> str | None:
    """--resume writes into ``run``: a run specdl wrote (an older one, without a manifest,
    with its note), never another folder that holds a spec.yaml."""
    found = manifest.read(run)
    if found is not None and found["kind"] != "run":
        raise RunError(f"--resume {run}: it holds {manifest.KINDS[found['kind']]} written by specdl, not a run")
    if found is None and not _older_run([p.name for p in Path(run).iterdir()]):
        raise RunError(f"--resume {run}: not a run that specdl wrote (no {manifest.MANIFEST}, no checkpoint), "
                       f"and resuming would write over its spec.yaml; build it as a new run: "
                       f"`specdl build {Path(run) / 'spec.yaml'} --out NEW_DIR`")
    return older_run_note(run)
