import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))


FAST = ("iris_mlp", "digits_cnn")  # the bundled specs every run of the suite trains


def per_spec(specs=SPECS, fast=FAST):
    """Parameters over the bundled specs: the small ones in every run, the others under
    the `slow` marker (CI runs them: `pytest -m slow`)."""
    return [pytest.param(p, id=p.stem, marks=() if p.stem in fast else pytest.mark.slow) for p in specs]


def run_cli(*args, cwd=None, env=None, timeout=600):
    """Run ``python -m specdl`` in a real subprocess."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "specdl", *map(str, args)], cwd=cwd or ROOT,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli


def ensure_example_data() -> Path:
    """ROOT/data: what `specdl example-data` writes (the image specs read it from the
    current directory). Written once, atomically, whichever test worker gets there first."""
    data = ROOT / "data"
    if not (data / "checkpoints" / "resnet18.pth").exists():
        tmp = ROOT / f".data-{os.getpid()}"
        from specdl.examples import write_all

        write_all(tmp)
        try:
            os.rename(tmp, data)
        except OSError:  # another worker won the race
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return data


@pytest.fixture(autouse=True)
def _own_cwd(tmp_path, monkeypatch):
    """Each test runs in its own temporary directory (run dirs land there), which sees
    the example data as ./data, as the repository root does."""
    (tmp_path / "data").symlink_to(ensure_example_data())
    monkeypatch.chdir(tmp_path)


def pytest_collection_modifyitems(config, items):
    """`gpu` tests run where torch sees a CUDA GPU and are skipped elsewhere."""
    gpu = [i for i in items if "gpu" in i.keywords]
    if not gpu:
        return
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU (torch sees none)")
        for item in gpu:
            item.add_marker(skip)
