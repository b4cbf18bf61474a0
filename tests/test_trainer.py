"""The trainer: schedulers, early stopping, mixed precision, accumulation, plots,
NaN losses."""

from __future__ import annotations

import json

import numpy as np
import pytest

import specdl
from specdl.components.base import REGISTRY

from .conftest import ROOT, run_cli

IRIS = ROOT / "specs" / "iris_mlp.yaml"
SCHEDULERS = {
    "step": ("{step: {step_size: 2, gamma: 0.5}}", lambda e: 0.01 * 0.5 ** (e // 2)),
    "multistep": ("{multistep: {milestones: [2, 4], gamma: 0.1}}", lambda e: 0.01 * 0.1 ** ((e >= 2) + (e >= 4))),
    "cosine": ("cosine", lambda e: 0.01 * (1 + np.cos(np.pi * e / 6)) / 2),
    "exponential": ("{exponential: 0.9}", lambda e: 0.01 * 0.9 ** e),
    "warmup": ("{warmup: {epochs: 3, start_factor: 0.1}}", lambda e: 0.01 * (0.1 + 0.9 * min(e, 3) / 3)),
    "onecycle": ("{onecycle: {max_lr: 0.1}}", None),
    "reduce_on_plateau": ("{reduce_on_plateau: {patience: 1, factor: 0.5}}", None),
}


def test_every_scheduler_is_tested():
    assert set(SCHEDULERS) == set(REGISTRY["scheduler"])


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_scheduler(name, tmp_path):
    text, expected = SCHEDULERS[name]
    lr = 1e-5 if name == "reduce_on_plateau" else 0.01  # a plateau from the start
    _, run = specdl.train(IRIS, out=tmp_path / "r", overrides=[
        f"scheduler={text}", "optimizer=sgd", f"optimizer.sgd.lr={lr}", "train.epochs=6"])
    lrs = [json.loads(x)["lr"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    if expected is not None:  # metrics.jsonl logs the lr each epoch trained with
        assert lrs == pytest.approx([expected(e) for e in range(6)], rel=1e-6)
    elif name == "onecycle":
        assert max(lrs) > 0.05 and lrs[-1] < 0.01  # up, then annealed
    else:
        assert len(set(lrs)) > 1 and all(b <= a for a, b in zip(lrs, lrs[1:]))


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_scheduler_in_generated_script_matches(tmp_path):
    spec = specdl.load(IRIS, ["scheduler={onecycle: {max_lr: 0.05}}", "train.epochs=5", "train.accumulate=2"])
    metrics, _ = specdl.train(spec, out=tmp_path / "r")
    (tmp_path / "s.py").write_text(specdl.codegen(spec))
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "s.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == pytest.approx(metrics, abs=1e-6)


def test_early_stopping_stops(tmp_path):
    _, run = specdl.train(IRIS, out=tmp_path / "r", overrides=[
        "train.epochs=100", "train.early_stopping={monitor: val_loss, patience: 3, min_delta: 10.0}"])
    report = json.loads((run / "report.json").read_text())
    # nothing improves by 10: the first epoch sets the mark, three more and it stops
    assert report["epochs_run"] == 4


@pytest.mark.parametrize("precision", ["bf16"])
def test_mixed_precision_on_cpu(precision, tmp_path):
    spec = specdl.load(ROOT / "specs" / "digits_cnn.yaml", [f"train.precision={precision}", "train.epochs=3"])
    metrics, run = specdl.train(spec, out=tmp_path / "r")
    assert all(np.isfinite(v) for v in metrics.values()) and metrics["accuracy"] > 0.3
    code = specdl.codegen(spec)
    assert "autocast, scaler = mixed_precision(DEVICE, PRECISION)" in code and 'PRECISION = "bf16"' in code


def test_plots_are_real(tmp_path):
    from PIL import Image

    _, run = specdl.train(IRIS, out=tmp_path / "r", overrides=["train.epochs=20"])
    for name, min_size in (("curves.png", (400, 300)), ("confusion.png", (300, 250)), ("roc.png", (400, 300)),
                           ("pr.png", (400, 300))):
        im = np.asarray(Image.open(run / name).convert("L"), dtype=float)
        assert im.shape[1] >= min_size[0] and im.shape[0] >= min_size[1], name
        assert im.std() > 10, f"{name} looks blank"
        assert (im < 128).mean() > 0.01, f"{name} has almost nothing drawn"


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_nan_loss_stops_with_a_clear_line_and_keeps_the_best(tmp_path):
    # a learning rate that grows a thousandfold each epoch: good first epochs, then NaN
    r = run_cli("build", IRIS, "-o", "scheduler={exponential: 1000.0}", "-o", "train.epochs=50",
                "-o", "train.checkpoint.interval=0", "--out", tmp_path / "r", "-q", cwd=tmp_path)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "the training loss became nan in epoch" in lines[0]
    from specdl.build import checkpoints as checkpoint

    best = checkpoint.load(tmp_path / "r" / "best.pt")
    assert all(np.isfinite(v.numpy()).all() for v in best.values())


@pytest.mark.slow  # subprocesses: seconds (the default suite stays under 5 minutes)
def test_tensorboard_option(tmp_path):
    """train.tensorboard writes event files; without the package it is one clear line."""
    try:
        import tensorboard  # noqa: F401
        have = True
    except ImportError:
        have = False
    r = run_cli("build", IRIS, "-o", "train.epochs=2", "-o", "train.tensorboard=true", "--out", tmp_path / "r",
                "-q", cwd=tmp_path)
    if have:
        assert r.returncode == 0, r.stderr
        assert list((tmp_path / "r" / "tensorboard").glob("events.out.tfevents.*"))
    else:
        assert r.returncode == 2
        assert r.stderr.strip() == ("specdl: error: train.tensorboard needs the tensorboard package: "
                                    "pip install tensorboard")
    code = specdl.codegen(specdl.load(IRIS, ["train.tensorboard=true"]))
    assert "from torch.utils.tensorboard import SummaryWriter" in code and "BOARD.add_scalar" in code
