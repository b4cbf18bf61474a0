"""Nothing is lost: a run killed with SIGKILL (mid-epoch, or mid-checkpoint-write) or
stopped with Ctrl-C resumes to exactly the metrics of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from specdl.build import checkpoints as checkpoint

from .conftest import ROOT, run_cli

pytestmark = pytest.mark.slow  # real process groups / real kills: `pytest -m slow` (CI)

SPEC = ROOT / "specs" / "digits_cnn.yaml"
OVER = ["-o", "train.epochs=4", "-o", "train.checkpoint.interval=0"]


def start(args, cwd, wrapper=None):
    cmd = [sys.executable, "-c", wrapper, *map(str, args)] if wrapper else \
        [sys.executable, "-m", "specdl", *map(str, args)]
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def epochs_logged(run):
    p = run / "metrics.jsonl"
    return len(p.read_text().splitlines()) if p.exists() else 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    d = tmp_path_factory.mktemp("full")
    r = run_cli("build", SPEC, *OVER, "--out", d / "run", "-q", cwd=d)
    assert r.returncode == 0, r.stderr
    return json.loads((d / "run" / "report.json").read_text())["test"]


def resume_and_compare(run, tmp_path, uninterrupted):
    r = run_cli("build", "--resume", run, "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads((run / "report.json").read_text())
    assert report["test"] == uninterrupted  # exactly, not approximately
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 5))


def test_sigkill_mid_epoch_then_resume(tmp_path, uninterrupted):
    run = tmp_path / "run"
    p = start(["build", SPEC, *OVER, "--out", run, "-q"], tmp_path)
    deadline = time.time() + 120
    while epochs_logged(run) < 2 and time.time() < deadline:
        time.sleep(0.005)
    time.sleep(0.03)  # well inside the next epoch (about 0.1 s each)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL
    assert not (run / "report.json").exists()
    assert checkpoint.load(run / "last.pt")["state"]["epoch"] >= 2
    resume_and_compare(run, tmp_path, uninterrupted)


SLOW_DISK = """
import io, sys, time, torch
real_save = torch.save
def slow_save(obj, f, *args, **kwargs):  # a slow disk: the write takes a while
    buf = io.BytesIO()
    real_save(obj, buf, *args, **kwargs)
    print("SAVING", file=sys.stderr, flush=True)
    data = buf.getvalue()
    for i in range(0, len(data), 2048):
        f.write(data[i:i + 2048]); f.flush(); time.sleep(0.02)
torch.save = slow_save
from specdl.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_while_writing_a_checkpoint(tmp_path, uninterrupted):
    run = tmp_path / "run"
    p = start(["build", SPEC, *OVER, "--out", run, "-q"], tmp_path, wrapper=SLOW_DISK)
    saves = 0
    for line in p.stderr:  # epoch 1: best.pt, last.pt; epoch 2: best.pt, then last.pt...
        saves += line.startswith("SAVING")
        if saves == 4:
            break
    time.sleep(0.1)  # in the middle of writing epoch 2's last.pt
    p.send_signal(signal.SIGKILL)
    p.wait()
    last = checkpoint.load(run / "last.pt")  # the previous one, whole
    assert last["state"]["epoch"] == 1
    assert any(f.name.startswith(".last.pt.") for f in run.iterdir()), "the interrupted write was a temp file"
    resume_and_compare(run, tmp_path, uninterrupted)


def test_ctrl_c_saves_and_resumes(tmp_path, uninterrupted):
    run = tmp_path / "run"
    p = start(["build", SPEC, *OVER, "--out", run, "-q"], tmp_path)
    while epochs_logged(run) < 2:
        time.sleep(0.005)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted after epoch" in lines[0] and f"--resume {run}" in lines[0]
    assert checkpoint.load(run / "last.pt")["state"]["epoch"] >= 2
    resume_and_compare(run, tmp_path, uninterrupted)
