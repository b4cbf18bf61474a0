"""Reading the user's files within limits: a path must be a regular file (not a
folder, a device such as /dev/zero, or a pipe), no larger than a cap, and text must be
UTF-8. Each helper returns a one-line reason, or None; callers raise their own error
kind (SpecError, SourceError, RunError) with it."""

from __future__ import annotations

import os
import stat

MiB = 1 << 20
SPEC_LIMIT = 16 * MiB  # a spec is text written by hand: anything larger is a mistake


def file_problem(path, limit: int | None = None) -> str | None:
    """Why ``path`` cannot be read as a file (None when it can)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"no such file: {path}"
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


def utf8_problem(path) -> str | None:
    """Where ``path`` stops being UTF-8 (line and column), or None."""
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return (f"{path} line {n}, column {e.start + 1}: byte 0x{line[e.start]:02x} is not UTF-8; "
                        "save the file as UTF-8")
    return None
