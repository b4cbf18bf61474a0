"""Progress off a terminal: `specdl build` piped to a log prints one line per epoch
(throttled for very fast epochs, never the first and last), and `-q` prints none."""

from __future__ import annotations

import pytest

from specdl.build.progress import Progress, epoch_line

from .conftest import ROOT


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_build_piped_prints_epoch_lines(cli, tmp_path):
    r = cli("build", ROOT / "specs" / "iris_mlp.yaml", "-o", "train.epochs=5", "-o", "train.device=cpu",
            "-o", "train.early_stopping.monitor=val_accuracy", "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("epoch ")]
    assert lines[0].startswith("epoch 1/5  train_loss ") and lines[-1].startswith("epoch 5/5  ")
    assert "val_accuracy" in lines[0] and " lr " in lines[0] and lines[0].endswith("s")
    q = cli("build", ROOT / "specs" / "iris_mlp.yaml", "-o", "train.epochs=2", "-o", "train.device=cpu",
            "--out", tmp_path / "quiet", "-q")
    assert q.returncode == 0 and not [ln for ln in q.stderr.splitlines() if ln.startswith("epoch ")]


def test_lines_are_throttled_but_keep_first_and_last(capsys, monkeypatch):
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    p = Progress(100, enabled=None)
    for e in range(1, 101):
        p.update(e, {"epoch": e, "train_loss": 1.0 / e, "lr": 0.1, "time_s": 0.001}, "val_loss")
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("epoch 1/100") and err[-1].startswith("epoch 100/100") and len(err) < 10
    assert epoch_line(2, 3, {"epoch": 2, "train_loss": 0.5, "lr": 0.01, "val_r2": 0.25, "time_s": 1.5}) == \
        "epoch 2/3  train_loss 0.5  val_r2 0.25  lr 0.01  1.50s"
