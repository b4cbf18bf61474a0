import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))


def run_cli(*args, cwd=None, env=None, timeout=600):
    """Run ``python -m specdl`` in a real subprocess."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "specdl", *map(str, args)], cwd=cwd or ROOT,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(autouse=True)
def _one_thread_cwd(tmp_path, monkeypatch):
    """Each test runs in its own temporary directory (run dirs land there)."""
    monkeypatch.chdir(tmp_path)
