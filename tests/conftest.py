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
    if not data.exists():
        tmp = ROOT / f".data-{os.getpid()}"
        from specdl.build.examples import write_all

        write_all(tmp)
        try:
            os.rename(tmp, data)
        except OSError:  # another worker won the race
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    if not all((data / rel).exists() for rel in EXAMPLE_FILES):
        _complete_example_data(data)
    return data


EXAMPLE_FILES = ("checkpoints/resnet18.pth", "reviews.csv", "posters")  # each written by `specdl example-data`


def _complete_example_data(data: Path) -> None:
    """An older data/ (written before some example file existed, e.g. reviews.csv) is
    completed in place: `write_all` rewrites the files it owns and adds the new ones, under
    a lock so that test workers write it one at a time."""
    import fcntl

    from specdl.build.examples import write_all

    with open(ROOT / ".data.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all((data / rel).exists() for rel in EXAMPLE_FILES):
            write_all(data)


@pytest.fixture(autouse=True)
def _own_cwd(tmp_path, monkeypatch):
    """Each test runs in its own temporary directory (run dirs land there), which sees
    the example data as ./data, as the repository root does."""
    (tmp_path / "data").symlink_to(ensure_example_data())
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _cpu_unless_gpu(request, monkeypatch):
    """Every test but the `gpu` ones asserts CPU behaviour (messages that say "on cpu",
    exact equality between runs in different processes): on a CUDA machine it runs as
    on one without, so that `auto` devices resolve to the CPU in this process and in the
    subprocesses it starts. The `gpu` tests are where CUDA is exercised."""
    if request.node.get_closest_marker("gpu"):
        return
    import torch

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def pytest_collection_modifyitems(config, items):
    """`gpu` tests run where torch sees a CUDA GPU and are skipped elsewhere (by their
    marker, not by keyword: a checkout in a folder named gpu is not a GPU test)."""
    gpu = [i for i in items if i.get_closest_marker("gpu")]
    if not gpu:
        return
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU (torch sees none)")
        for item in gpu:
            item.add_marker(skip)
