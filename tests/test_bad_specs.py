"""The malformed-spec corpus: every file in tests/bad_specs/ states, in its `# expect:`
lines, the exact line:col and message of each error `specdl check` must print."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import run_cli

BAD = sorted((Path(__file__).parent / "bad_specs").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+) (.+)$")


def expectations(path: Path):
    out = [EXPECT.match(line) for line in path.read_text().splitlines()]
    return [(int(m[1]), int(m[2]), m[3]) for m in out if m]


def test_corpus_is_large_enough():
    assert len(BAD) >= 25
    assert all(expectations(p) for p in BAD), "every bad spec states what it expects"


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_spec_is_a_located_error(path):
    r = run_cli("check", path, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = r.stderr.splitlines()
    for line, col, text in expectations(path):
        prefix = f"{path}:{line}:{col}: error: "
        hits = [ln for ln in lines if ln.startswith(prefix) and text in ln]
        assert hits, f"expected `{prefix}...{text}` in:\n{r.stderr}"
    # one located line per problem, and a count at the end
    assert re.fullmatch(r"\d+ errors?", lines[-1])
    assert all(re.match(rf"{re.escape(str(path))}:\d+:\d+: (error|warning|note): ", ln) for ln in lines[:-1])
