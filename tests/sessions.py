"""The sessions in docs/cli.md and docs/tutorial.md are produced by the code they show.

A ```console block's `$ ` lines are run, in order, in a fresh folder holding a copy of
specs/ (and the example data); the ```text block right after it is what they printed
(standard output and standard error, as a terminal shows them). A `...` line in a text
block stands for any number of lines (to keep a long table short).

    python tests/sessions.py            # rewrite the text blocks from real runs
    python -m pytest tests/test_docs.py # check that they are current

The check compares every line, with one allowance: numbers with a fractional part
(metrics, losses, times, differences) are compared as "a number", since the last digits
of a trained model's figures differ between CPUs (and column padding follows them); the
words, keys, whole numbers and order must match.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("cli.md", "tutorial.md")
BLOCK = re.compile(r"```console\n(.*?)```(\n\n```text\n(.*?)```)?", re.S)
NUMBER = re.compile(r"-?\d+\.\d+(e[-+]?\d+)?|\d+(\.\d+)?e[-+]?\d+|\d{8}-\d{6}")


def sessions(page: str) -> list[tuple[list[str], list[str] | None]]:
    """(commands, shown output lines or None) for each console block of a page."""
    text = (ROOT / "docs" / page).read_text()
    out = []
    for m in BLOCK.finditer(text):
        cmds = [ln[2:] for ln in m.group(1).splitlines() if ln.startswith("$ ")]
        shown = m.group(3).rstrip("\n").split("\n") if m.group(2) else None
        out.append((cmds, shown))
    return out


def workspace(tmp: Path) -> Path:
    shutil.copytree(ROOT / "specs", tmp / "specs")
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    from conftest import ensure_example_data

    if not (tmp / "data").exists():
        (tmp / "data").symlink_to(ensure_example_data())
    return tmp


def run(cmd: str, cwd: Path) -> tuple[int, str]:
    shell = re.sub(r"^specdl ", f"{sys.executable} -m specdl ", cmd)
    shell = re.sub(r"^python ", sys.executable + " ", shell)
    r = subprocess.run(shell, shell=True, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=900, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "COLUMNS": "100"})
    return r.returncode, r.stdout


def fit(shown: list[str], actual: list[str]) -> list[str]:
    """The actual lines, elided where the shown ones were (`...` keeps its place: as many
    lines before it as were shown before it, and as many after)."""
    actual = [line.rstrip() for line in actual]
    marks = [i for i, line in enumerate(shown) if line.strip() == "..."]
    if not marks:
        return actual
    cut = marks[0]
    head, tail = shown[:cut], shown[cut + 1:]
    if len(actual) <= len(head) + len(tail):
        return actual
    return actual[: len(head)] + [shown[cut]] + (actual[len(actual) - len(tail):] if tail else [])


def shape(line: str) -> str:
    """A line as compared: numbers with a fraction as <n>; column padding and rule lengths
    (which follow the numbers' widths) as one space and one rule character."""
    line = NUMBER.sub("<n>", line.strip())
    line = re.sub(r"([─━═]){2,}", r"\1", line)
    return re.sub(r"\s+", " ", line)


def matches(shown: list[str], actual: list[str]) -> bool:
    """Whether the shown lines are the actual output (elisions and numbers allowed)."""
    return [shape(x) for x in fit(shown, actual)] == [shape(x) for x in shown]


def rewrite(page: str, cwd: Path) -> None:
    path = ROOT / "docs" / page
    text = path.read_text()
    pieces, last = [], 0
    for m in BLOCK.finditer(text):
        output = []
        for cmd in [ln[2:] for ln in m.group(1).splitlines() if ln.startswith("$ ")]:
            code, out = run(cmd, cwd)
            if code:
                sys.exit(f"{page}: `{cmd}` failed:\n{out}")
            output += out.rstrip("\n").split("\n") if out.strip() else []
        if m.group(2):
            lines = fit(m.group(3).rstrip("\n").split("\n"), output)
            pieces.append(text[last:m.start(3)] + "\n".join(lines) + "\n")
            last = m.end(3)
    path.write_text("".join(pieces) + text[last:])


if __name__ == "__main__":
    import tempfile

    for page in PAGES:  # each page in a folder of its own, as the test runs it
        with tempfile.TemporaryDirectory() as tmp:
            rewrite(page, workspace(Path(tmp)))
            print(f"wrote docs/{page}")
