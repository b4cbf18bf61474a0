"""Reading the user's files within limits: a path must be a regular file (not a
folder, a device such as /dev/zero, or a pipe), no larger than a cap, and text must be
UTF-8. Each helper returns a one-line reason, or None; callers raise their own error
kind (SpecError, SourceError, RunError) with it."""

from __future__ import annotations

import errno
import os
import stat

MiB = 1 << 20
SPEC_LIMIT = 16 * MiB  # a spec is text written by hand: anything larger is a mistake


def file_problem(path, limit: int | None = None) -> str | None:
    """Why ``path`` cannot be read as a file (None when it can)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        from .errors import nearby

        return f"no such file: {path}{nearby(path)}"
    except (OSError, ValueError) as e:
        return f"cannot read {path}: {getattr(e, 'strerror', None) or e}"
    if stat.S_ISDIR(st.st_mode):
        return f"{path} is a folder; give a file"
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file (a device or a pipe?); give a file"
    if limit is not None and st.st_size > limit:
        return f"{path} is {st.st_size / MiB:.1f} MiB; specdl reads at most {limit // MiB} MiB here"
    if not os.access(path, os.R_OK):
        return f"cannot read {path}: permission denied"
    return None


# What a file that is not text starts with, as a spreadsheet program saves it instead of a CSV
NOT_TEXT = {b"PK\x03\x04": "an Excel workbook (.xlsx, a zip), not a CSV",
            b"\xd0\xcf\x11\xe0": "an Excel 97-2003 workbook (.xls), not a CSV",
            b"\xff\xfe": "UTF-16 text (Excel's `Unicode Text`), not UTF-8",
            b"\xfe\xff": "UTF-16 text, not UTF-8"}


def utf8_problem(path) -> str | None:
    """Where ``path`` stops being UTF-8 (line and column), or why it cannot be read, or None.
    A workbook or UTF-16 text (what Excel saves unless told CSV UTF-8) is named as such."""
    try:
        with open(path, "rb") as f:
            start = f.read(4)
            kind = next((k for magic, k in NOT_TEXT.items() if start.startswith(magic)), None)
            if kind:
                return f"{path} is {kind}; save it as `CSV UTF-8 (Comma delimited)` (Excel: File > Save As)"
            f.seek(0)
            for n, line in enumerate(f, 1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as e:
                    return (f"{path} line {n}, column {e.start + 1}: byte 0x{line[e.start]:02x} is not UTF-8; "
                            "save the file as UTF-8")
    except OSError as e:  # /proc/self/mem, a failing disk: stat said "a regular file", reading says EIO
        return f"cannot read {path}: {e.strerror or e}"
    return None


def write_output(path, text: str | bytes, what: str = "the output", inputs=()) -> None:
    """Write a file the user named (a script, a schema, a spec, predictions): one
    RunError line when the path is a folder, sits under a file, is one of the command's
    ``inputs``, or cannot be written."""

    from .errors import RunError

    p = check_output(path, what, inputs=inputs)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text) if isinstance(text, bytes) else p.write_text(text)
    except OSError as e:
        raise RunError(f"cannot write {path}: {e.strerror or e}") from None


def check_output(path, what: str = "the output", regular: bool = False, inputs=(), kept=()):
    """The Path of an output file, or RunError when it is a folder, sits under a file,
    is one of the command's ``inputs`` (or lies in an input folder), is a pipe no program
    reads (writing would wait for ever), or, with ``regular``, is anything but a regular
    file (ONNX export reads its file back). ``kept``: files not read but not to be lost (those
    specdl wrote in the run being read)."""
    from pathlib import Path

    from .errors import RunError

    p = Path(path)
    mode = _mode(p, what)
    _not_an_input(p, what, inputs)
    _not_kept(p, what, kept)
    if mode is not None and stat.S_ISDIR(mode):
        raise RunError(f"{path} is a folder; give a file name for {what}")
    for parent in p.parents:
        if parent.exists() and not parent.is_dir():
            raise RunError(f"cannot write {path}: {parent} is a file, not a folder")
    if mode is None or stat.S_ISREG(mode):
        return p
    if regular:
        raise RunError(f"{path} is not a regular file (a device or a pipe?); give a file name for {what}")
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        try:  # a pipe with a reader (`--out /dev/stdout | less`) is fine; without one, open would block
            os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            raise RunError(f"{path} is a pipe that no program reads; give a file name for {what}") from None
    return p


def _not_an_input(p, what: str, inputs) -> None:
    """Writing over what the command reads (after links: ``--out x.csv`` beside ``--input
    x.csv``, a run's best.pt) would lose it: one line. Any other file is overwritten, as cp does."""
    from .errors import RunError

    for used in inputs:
        if used is None:
            continue
        if same_file(p, used):
            alias = "" if os.path.abspath(p) == os.path.abspath(used) else f" (that is {used})"
            raise RunError(f"--out {p}{alias} is a file this command reads; writing {what} there would "
                           "destroy it: give another file name")
        if os.path.isdir(used) and within(p, used):
            raise RunError(f"--out {p} lies in {used}, which this command reads; write {what} outside it")


def _not_kept(p, what: str, kept) -> None:
    """An --out that is a file specdl wrote in the run being read (its report.json, its
    last.pt, a TensorBoard log): one line, as for an input."""
    from .errors import RunError

    for used in kept:
        if same_file(p, used) or (os.path.isdir(used) and within(p, used)):
            raise RunError(f"--out {p} is {used}, which specdl wrote in the run this command reads; writing "
                           f"{what} there would destroy it: give a file name outside the run, or a new one")


def same_file(a, b) -> bool:
    """Whether two paths name one file (links and hard links followed)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return os.path.realpath(a) == os.path.realpath(b)


def within(path, folder) -> bool:
    """Whether ``path`` lies inside ``folder`` (links resolved)."""
    return os.path.realpath(path).startswith(os.path.realpath(folder).rstrip(os.sep) + os.sep)


PATH_KEYS = ("path", "root", "train", "val", "test", "weights")  # spec keys that may name a file or folder


def spec_inputs(spec) -> list:
    """The files and folders a spec reads: its own file, its data, local weights."""
    found = [spec._source.file] if getattr(spec, "_source", None) is not None else []

    def walk(node):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, v in items:
            if k in PATH_KEYS and isinstance(v, str):
                found.append(v)
            walk(v)

    walk(spec.to_dict())
    return [f for f in found if os.path.exists(f)]


def _mode(p, what: str):
    """The file mode of ``p`` following links (None when nothing is there)."""
    from .errors import RunError

    try:
        return os.stat(p).st_mode
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:  # a symlink loop, a NUL in the name, a parent that is a file
        if getattr(e, "errno", None) == errno.ENOTDIR:  # the caller names the parent that is a file
            return None
        raise RunError(f"cannot write {what} {p}: {getattr(e, 'strerror', None) or e}") from None


def writable_folder(path, what: str = "the output folder") -> None:
    """An output folder must be a folder (or not exist yet) and not sit under a file."""
    from pathlib import Path

    from .errors import RunError

    p = Path(path)
    mode = _mode(p, what)
    if mode is not None and not stat.S_ISDIR(mode):
        raise RunError(f"cannot write {what} {path}: it is a file; give a folder")
    for parent in p.parents:
        if parent.exists() and not parent.is_dir():
            raise RunError(f"cannot write {what} {path}: {parent} is a file, not a folder")


def templates_dir():
    """The templates shipped in the wheel (specdl/templates), or the repo's templates/."""
    from importlib import resources
    from pathlib import Path

    packaged = resources.files("specdl") / "templates"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "templates"
