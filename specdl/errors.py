"""Located problems in a spec, reported like a compiler: ``file:line:col: error: ...``."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

Path_ = tuple  # a YAML path: keys and list indices, e.g. ("model", "layers", 5)


def format_path(path: Path_) -> str:
    """Render ``("model", "layers", 5, "kernel_size")`` as ``model.layers[5].kernel_size``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# Characters that would break a report's one line or disguise it on a terminal: C0/C1
# controls (newline, NUL, ESC...), line/paragraph separators, bidirectional overrides.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def one_line(text) -> str:
    """``text`` with every unsafe character escaped (``\\n``, ``\\x00``, ``\\u202e``): a file
    name or a value quoted in a report stays on its line and reads as what it is."""
    return _UNSAFE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), str(text))


def closest(word: str, choices) -> str | None:
    """The choice ``word`` is most likely a misspelling of, if any."""
    choices = sorted(set(map(str, choices)))
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    if close:
        return close[0]
    word = str(word)
    longer = [c for c in choices if len(word) >= 3 and c.startswith(word)]  # `acc`: accuracy
    shorter = [c for c in choices if len(c) >= 3 and word.startswith(c)]  # `validation`: val
    return longer[0] if len(longer) == 1 else shorter[0] if len(shorter) == 1 else None


def did_you_mean(word: str, choices, what: str = "") -> str:
    """A ``; did you mean `x`?`` suffix, or a list of the valid choices when nothing is close."""
    choices = sorted(set(map(str, choices)))
    parts = set(str(word).split("_"))
    holding = [c for c in choices if "_" in str(word) and parts <= set(c.split("_"))]  # random_flip
    if 1 <= len(holding) <= 3:
        return "; did you mean " + " or ".join(f"`{c}`" for c in holding) + "?"
    close = closest(word, choices)
    if close:
        return f"; did you mean `{close}`?"
    if choices and len(choices) <= 12:
        return f"; expected one of {', '.join(choices)}"
    return f"; run `specdl layers` for the list of {what}" if what == "layers" else ""


def nearby(path) -> str:
    """For a path that does not exist: ``"; did you mean `X`?"`` where X is the path with
    its first missing part replaced by the closest name beside it (case ignored), or ``""``."""
    import os

    parts = os.path.normpath(str(path)).split(os.sep)
    for i, part in enumerate(parts):
        here = os.sep.join(parts[:i]) or ("/" if str(path).startswith("/") else ".")
        if i == 0 and not part or os.path.lexists(os.path.join(here, part)):
            continue
        try:
            with os.scandir(here) as entries:
                names = [e.name for _, e in zip(range(5000), entries)]
        except OSError:
            return ""
        by_lower = {n.lower(): n for n in names if not n.startswith(".") or part.startswith(".")}
        found = by_lower.get(part.lower()) or by_lower.get(closest(part.lower(), by_lower) or "")
        if found is None:
            return ""
        fixed = os.path.join(*parts[:i], found, *parts[i + 1:]) if i else os.path.join(found, *parts[1:])
        return f"; did you mean `{'/' + fixed if str(path).startswith('/') and not fixed.startswith('/') else fixed}`?"
    return ""


def no_such(path, what: str) -> str:
    """``<what> <path> does not exist`` and the sibling it may be a misspelling of."""
    return f"{what} {path} does not exist{nearby(path)}"


def not_a_run(path) -> str:
    """Why ``path`` (no spec.yaml in it) is not a run directory: it does not exist (and
    what it may be misspelt for), it is a file, or it holds runs (the newest is named)."""
    import os

    if not os.path.lexists(path):
        return no_such(path, "the run directory")
    if not os.path.isdir(path) and str(path).endswith((".yaml", ".yml")):
        return (f"{path} is a spec, not a run directory: train it first (`specdl build {path}`) and give the run "
                "directory build prints")
    if not os.path.isdir(path):
        return f"{path} is a file, not a run directory"
    try:
        runs = sorted(e.name for e in os.scandir(path) if os.path.isfile(os.path.join(e.path, "spec.yaml")))
    except OSError:
        runs = []
    inside = f"; it holds runs, the newest by name is {os.path.join(str(path), runs[-1])}" if runs else ""
    return f"{path} is not a specdl run directory (no spec.yaml){inside}"


@dataclass
class Issue:
    """One problem: where it is, which component, and what is wrong."""

    path: Path_
    message: str
    component: str | None = None
    severity: str = "error"
    file: str = "<spec>"
    line: int = 1
    col: int = 1
    notes: list = field(default_factory=list)  # (file, line, col, text): rendered after it

    def render(self) -> str:
        comp = f" ({self.component})" if self.component else ""
        where = f"{format_path(self.path)}{comp}: " if self.path or comp else ""
        head = f"{one_line(self.file)}:{self.line}:{self.col}: {self.severity}: {one_line(where + self.message)}"
        return "\n".join([head, *(f"{one_line(f)}:{ln}:{c}: note: {one_line(t)}" for f, ln, c, t in self.notes)])


@dataclass
class SpecError(Exception):
    """A spec that cannot be used: every independent problem found, each located."""

    issues: list[Issue] = field(default_factory=list)

    def __post_init__(self):
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(i.render() for i in self.issues)

    def __str__(self) -> str:
        return self.render()


class ShapeError(Exception):
    """Raised by a shape rule: the layer cannot accept its input. A data transform's
    failure names where it stands: ``group`` (``transforms`` or ``augment``) and its ``index``."""

    def __init__(self, message: str = "", index: int = 0, group: str = "transforms"):
        super().__init__(message)
        self.index, self.group = index, group


class RunError(Exception):
    """A runtime failure with a one-line message saying what to do (missing data, NaN loss...).

    ``exit_code``: 2 for bad input (the default), 1 for a run that failed (NaN loss,
    out of memory, disk full), 130 for an interrupted one."""

    exit_code = 2

    def __init__(self, message: str = "", exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class SourceError(Exception):
    """A problem with the data a source names, located at one of its fields."""

    def __init__(self, field: str | tuple, message: str):
        super().__init__(message)
        self.field = field  # a field name, or (field, index) for an item of a list

    @property
    def where(self) -> str:
        """``features`` or ``categorical[0]``."""
        return f"{self.field[0]}[{self.field[1]}]" if isinstance(self.field, tuple) else str(self.field)
