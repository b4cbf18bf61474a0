"""Faults during a run: each is one clear line, a non-zero exit, and no checkpoint lost."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from specdl.build import checkpoints as checkpoint

from .conftest import ROOT, run_cli

IRIS = ROOT / "specs" / "iris_mlp.yaml"


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_unwritable_output_is_caught_before_training(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    r = run_cli("build", IRIS, "--out", tmp_path / "afile" / "run", cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("specdl: error: cannot write the run directory")


INJECT = """
import sys, torch, errno
from pathlib import Path
real, count = torch.save, [0]  # every checkpoint write goes through torch.save
def full_disk(obj, f, *a, **k):
    count[0] += 1
    if count[0] > {after}:
        raise OSError(errno.ENOSPC, "No space left on device")
    return real(obj, f, *a, **k)
torch.save = full_disk
{extra}
from specdl.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_injected(tmp_path, after=10**9, extra=""):
    code = INJECT.format(after=after, extra=extra)
    return subprocess.run([sys.executable, "-c", code, "build", str(IRIS), "-o", "train.epochs=6", "-o", "train.device=cpu",
                           "-o", "train.checkpoint.interval=0", "--out", str(tmp_path / "r"), "-q"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_disk_full_keeps_the_previous_checkpoint(tmp_path):
    r = run_injected(tmp_path, after=4)  # epochs 1 and 2 save (best, last); epoch 3 finds the disk full
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0] and "previous checkpoint is intact" in lines[0]
    assert checkpoint.load(tmp_path / "r" / "last.pt")["state"]["epoch"] == 2
    checkpoint.load(tmp_path / "r" / "best.pt")
    assert not [f for f in (tmp_path / "r").iterdir() if f.name.endswith(".tmp")], "temp files cleaned up"


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_out_of_memory_names_the_batch_size(tmp_path):
    extra = ("import specdl.build.trainer as tr\n"
             "def oom(self, *args):\n    raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')\n"
             "tr.Trainer.run_epoch = oom\n")
    r = run_injected(tmp_path, extra=extra)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert lines == ["specdl: error: out of memory on cpu with train.batch_size 32; lower the batch size "
                     "(or try precision: bf16); the last checkpoint is intact"]
