"""On a CUDA GPU (skipped elsewhere; run with `pytest -m gpu`): build, mixed precision
with the scaler, compile, exact resume after SIGKILL with train.deterministic, build ==
the generated script, and DDP with one process over NCCL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

import specdl

from .conftest import ROOT, run_cli
from .test_resume import epochs_logged, start

pytestmark = pytest.mark.gpu
CUDA = ["-o", "train.device=cuda", "-o", "train.deterministic=true"]


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_build_on_cuda(tmp_path, precision):
    r = run_cli("build", ROOT / "specs" / "digits_cnn.yaml", *CUDA, "-o", "train.epochs=3",
                "-o", f"train.precision={precision}", "--out", tmp_path / "run", "-q")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["device"].startswith("cuda") and report["test"]["accuracy"] > 0.5


def test_compile_on_cuda(tmp_path):
    r = run_cli("build", ROOT / "specs" / "digits_cnn.yaml", "-o", "train.device=cuda", "-o", "train.epochs=2",
                "-o", "train.compile=true", "--out", tmp_path / "run", "-q")
    assert r.returncode == 0, r.stderr


def test_resume_after_sigkill_is_exact_on_cuda(tmp_path):
    over = [*CUDA, "-o", "train.epochs=4", "-o", "train.checkpoint.interval=0"]
    full = run_cli("build", ROOT / "specs" / "digits_cnn.yaml", *over, "--out", tmp_path / "full", "-q")
    assert full.returncode == 0, full.stderr
    run = tmp_path / "run"
    p = start(["build", ROOT / "specs" / "digits_cnn.yaml", *over, "--out", run, "-q"], tmp_path)
    deadline = time.time() + 120
    while epochs_logged(run) < 2 and time.time() < deadline:
        time.sleep(0.005)
    p.send_signal(signal.SIGKILL)
    p.wait()
    r = run_cli("build", "--resume", run, "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    a = json.loads((tmp_path / "full" / "report.json").read_text())["test"]
    assert json.loads((run / "report.json").read_text())["test"] == a


@pytest.mark.parametrize("spec", ["digits_cnn", "transformer_classifier"])
def test_build_equals_script_on_cuda(tmp_path, spec):
    over = ["train.device=cuda", "train.deterministic=true", "train.epochs=2"]
    built, _ = specdl.train(ROOT / "specs" / f"{spec}.yaml", out=tmp_path / "run", overrides=over)
    (tmp_path / "script.py").write_text(specdl.codegen(specdl.load(ROOT / "specs" / f"{spec}.yaml", over)))
    r = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    script = json.loads(r.stdout.strip().splitlines()[-1])
    for k in built:
        assert script[k] == pytest.approx(built[k], abs=1e-6), k


def test_ddp_one_process_over_nccl(tmp_path):
    r = run_cli("build", ROOT / "specs" / "iris_mlp.yaml", "-o", "train.device=cuda", "-o", "train.epochs=3",
                "--nproc", "1", "--out", tmp_path / "run", "-q")
    assert r.returncode == 0, r.stderr
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", "-m", "specdl",
           "build", str(ROOT / "specs" / "iris_mlp.yaml"), "-o", "train.device=cuda", "-o", "train.epochs=3",
           "--out", str(tmp_path / "ddp"), "-q"]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path / "ddp" / "report.json").read_text())["device"].startswith("cuda")
