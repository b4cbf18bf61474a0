"""Bad command-line arguments: one `specdl: error:` line naming the verb and the
argument, exit 2, no usage block, no traceback."""

from __future__ import annotations

import pytest

from .conftest import run_cli


@pytest.mark.parametrize("args, expected", [
    (["summary", "s.yaml", "--batch", "0"], "summary: argument --batch: must be at least 1, got 0"),
    (["summary", "s.yaml", "--batch", "-4"], "summary: argument --batch: must be at least 1, got -4"),
    (["summary", "s.yaml", "--batch", "two"], "summary: argument --batch: expected a whole number, got 'two'"),
    (["build", "s.yaml", "--nproc", "0"], "build: argument --nproc: must be at least 1, got 0"),
    (["check"], "check: the following arguments are required: spec"),
    (["frob"], "argument VERB: invalid choice: 'frob'"),
])
def test_bad_arguments_are_one_line(tmp_path, args, expected):
    r = run_cli(*args, cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"specdl: error: {expected}"), r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
