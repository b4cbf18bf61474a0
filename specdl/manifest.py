"""What specdl wrote in a folder: every run, tune and example-data folder holds a
manifest (``.specdl-manifest.json``) listing each path specdl wrote there, kept up to
date by every verb that writes into it (build, resume, export, tune, example-data).
``--force`` removes only what it lists; anything else in the folder is the user's and
stays (docs/reliability.md, "Nothing lost"). A folder without one was written by an
older specdl, or is not specdl's at all.

Each update is a read-modify-write under an exclusive ``flock`` on the folder itself
(several processes may write into one tune folder), replaced atomically."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path, PurePosixPath

from .errors import RunError

MANIFEST = ".specdl-manifest.json"
KINDS = {"run": "a run", "tune": "a tune study", "example-data": "example data"}
OWN = (MANIFEST, ".specdl.lock", ".write-test")  # specdl's bookkeeping, never the user's


def read(folder) -> dict | None:
    """The folder's manifest ({"kind", "paths"}), None without one; one line when damaged
    (a hand-edited manifest must not steer what --force removes)."""
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise _damaged(path, type(e).__name__) from None
    paths = data.get("paths") if isinstance(data, dict) else None
    if not isinstance(paths, list) or data.get("kind") not in KINDS or not all(_relative(p) for p in paths):
        raise _damaged(path, "not a manifest of relative paths")
    return data


def _damaged(path: Path, why: str) -> RunError:
    return RunError(f"{path} is damaged ({why}), so specdl cannot tell the files it wrote in {path.parent} from "
                    "yours: delete that file to have the folder read as an older specdl's (never replaced by "
                    "--force), or choose another folder")


def _relative(p) -> bool:
    """A path inside the folder: relative, no `..`, no empty name."""
    return isinstance(p, str) and p != "" and not p.startswith("/") and ".." not in PurePosixPath(p).parts


_listed: dict[str, set] = {}  # folder -> names this process knows are listed (a checkpoint per epoch reads nothing)


def start(folder, kind: str) -> None:
    """A new manifest listing nothing yet (a run that starts over, a new tune folder)."""
    with _locked(folder):
        _write(folder, {"kind": kind, "paths": []})
    _listed[os.path.abspath(folder)] = set()


def record(folder, *names: str) -> None:
    """Add ``names`` (paths relative to ``folder``, e.g. ``tensorboard/``'s files) to its
    manifest; nothing when the folder has none (an older specdl's run, read or resumed
    as it is)."""
    folder, names = Path(folder), {PurePosixPath(n).as_posix() for n in names}
    key = os.path.abspath(folder)
    if names <= _listed.get(key, set()):
        return
    with _locked(folder):
        data = read(folder)
        if data is None:
            return
        if names - set(data["paths"]):
            data["paths"] = sorted({*data["paths"], *names})
            _write(folder, data)
    _listed[key] = set(data["paths"])


def inside(folder, path) -> str | None:
    """``path`` relative to ``folder`` (links resolved), or None when it lies outside."""
    try:
        return Path(os.path.realpath(path)).relative_to(os.path.realpath(folder)).as_posix()
    except ValueError:
        return None


def present(folder) -> list[str]:
    """The listed paths that are still there."""
    data = read(folder)
    return [p for p in (data or {}).get("paths", []) if os.path.lexists(Path(folder) / p)]


def clear(folder) -> None:
    """Remove the listed files, then the listed folders left empty (deepest first);
    a listed name that now holds a folder, or lies under a link, is not touched."""
    folder = Path(folder)
    data = read(folder) or {"paths": []}
    paths = [p for p in sorted(data["paths"], key=lambda p: -len(PurePosixPath(p).parts)) if _direct(folder, p)]
    for rel in paths:
        p = folder / rel
        if p.is_symlink() or p.is_file():
            p.unlink(missing_ok=True)
    for rel in paths:
        p = folder / rel
        if p.is_dir() and not p.is_symlink():
            try:
                p.rmdir()
            except OSError:  # not empty: it holds something specdl did not write
                pass


def _direct(folder: Path, rel: str) -> bool:
    """Whether ``folder/rel`` is reached without a link on the way (a listed folder that
    became a link points at what is not specdl's)."""
    on_the_way = PurePosixPath(rel).parts[:-1]
    return os.path.realpath((folder / rel).parent) == os.path.join(os.path.realpath(folder), *on_the_way)


def unlisted(folder) -> list[str]:
    """The names in ``folder`` that its manifest does not list (all of them without
    one), less specdl's own lock and manifest files."""
    data = read(folder)
    ours = {PurePosixPath(p).parts[0] for p in (data or {}).get("paths", [])}
    return sorted(n.name for n in Path(folder).iterdir() if n.name not in ours and not _own(n.name))


def _own(name: str) -> bool:
    """specdl's bookkeeping files (a manifest's temporary file left by a kill too)."""
    return name in OWN or (name.startswith(MANIFEST + ".") and name.endswith(".tmp"))


def occupied(folder, kind: str, writes=()) -> bool:
    """Whether ``folder`` holds something to reckon with before writing into it: with a
    manifest of ``kind``, listed paths still there (the user's files do not count, unless
    named like one of ``writes``: one line); without a manifest, anything at all. A
    manifest of another kind is one line."""
    found = read(folder)
    if found is None:
        return any(not _own(p.name) for p in Path(folder).iterdir())
    if found["kind"] != kind:
        raise RunError(f"{folder} holds {KINDS[found['kind']]} written by specdl, not {KINDS[kind]} (its {MANIFEST}); "
                       "choose another --out")
    clash = [n for n in unlisted(folder) if n in writes]
    if clash:
        raise RunError(f"{Path(folder) / clash[0]} is not a file specdl wrote (its {MANIFEST} does not list it) "
                       f"and specdl writes {clash[0]} there: move it out of {folder}, or choose another --out")
    return bool(present(folder))


def begin(folder, kind: str) -> None:
    """A manifest for a folder that holds none and nothing else (a folder with files and
    no manifest is an older specdl's: it stays without one)."""
    if read(folder) is None and not any(not _own(p.name) for p in Path(folder).iterdir()):
        start(folder, kind)


def adopt(folder, names=(), runs: str | None = None) -> None:
    """Record those of ``names`` that are there, and the sub-folders matching ``runs``
    that hold a run's manifest (a tune folder's trials, written by other processes)."""
    folder = Path(folder)
    subs = [p.name for p in folder.glob(runs) if (p / MANIFEST).is_file()] if runs else []
    record(folder, *(n for n in names if os.path.lexists(folder / n)), *subs)


def _write(folder, data: dict) -> None:
    folder = Path(folder)
    fd, tmp = tempfile.mkstemp(prefix=f"{MANIFEST}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        os.replace(tmp, folder / MANIFEST)  # (not fsynced: a manifest lost to a crash is "damaged", never obeyed)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _locked:
    """An exclusive flock on the folder while its manifest is read and rewritten."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def __enter__(self):
        self.fd = os.open(self.folder, os.O_RDONLY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # releases the flock

