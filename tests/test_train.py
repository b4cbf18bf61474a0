"""Training the bundled specs: acceptance metrics, the run directory, the CLI output."""

from __future__ import annotations

import json

import pytest
import torch

import specdl
from specdl.build import checkpoints as checkpoint

from .conftest import ROOT

ACCEPT = {"iris_mlp": ("accuracy", 0.93), "digits_cnn": ("accuracy", 0.90), "diabetes_mlp": ("r2", 0.40)}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ACCEPT))
def test_bundled_spec_meets_its_target(name, tmp_path, cli):
    """The full spec, through the CLI, as the README runs it."""
    r = cli("build", ROOT / "specs" / f"{name}.yaml", "--out", tmp_path / "run", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    metric, floor = ACCEPT[name]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["test"][metric] >= floor, report["test"]
    assert f"{metric} {report['test'][metric]:.4f}" in r.stdout
    assert f"run directory: {tmp_path / 'run'}" in r.stdout


def test_run_directory_contents(tmp_path):
    metrics, run = specdl.train(ROOT / "specs" / "iris_mlp.yaml", out=tmp_path / "r",
                                overrides=["train.epochs=7"])
    assert sorted(p.name for p in run.iterdir()) == [".specdl-manifest.json", "best.pt", "confusion.png", "curves.png", "examples.pt",
                                                     "last.pt", "metrics.jsonl", "pr.png", "preprocess.json",
                                                     "report.json", "roc.png", "spec.yaml"]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 8))
    assert {"train_loss", "val_loss", "lr"} <= set(rows[0])
    report = json.loads((run / "report.json").read_text())
    assert report["test"] == metrics and set(metrics) == {"accuracy", "precision", "recall", "f1", "loss"}
    assert report["best_epoch"] == min(rows, key=lambda r: r["val_loss"])["epoch"]
    assert len(report["per_class"]) == 3 and len(report["confusion_matrix"]) == 3
    # the resolved spec is recorded (with the override) and loads back to the same spec
    again = specdl.load(run / "spec.yaml")
    assert again.train.epochs == 7
    assert again.to_dict() == specdl.load(ROOT / "specs" / "iris_mlp.yaml", ["train.epochs=7"]).to_dict()
    # checkpoints are plain state_dicts that load with weights_only=True
    best = checkpoint.load(run / "best.pt")
    model = specdl.build_model(again)
    model.load_state_dict(best)
    last = checkpoint.load(run / "last.pt")
    assert last["state"]["epoch"] == 7 and set(last["model"]) == set(best)


def test_default_run_dir_is_timestamped(tmp_path):
    _, run = specdl.train(ROOT / "specs" / "iris_mlp.yaml", overrides=["train.epochs=1"])
    assert run.resolve().parent == (tmp_path / "runs" / "iris-mlp").resolve()
    assert (run / "report.json").exists()


def test_resume_continues_exactly(tmp_path):
    """Training 6 epochs in one go equals 3 epochs, then --resume to 6."""
    spec = ROOT / "specs" / "digits_cnn.yaml"
    full, _ = specdl.train(spec, out=tmp_path / "full", overrides=["train.epochs=6"])
    specdl.train(spec, out=tmp_path / "part", overrides=["train.epochs=3", "train.checkpoint.interval=0"])
    spec_file = tmp_path / "part" / "spec.yaml"
    spec_file.write_text(spec_file.read_text().replace("epochs: 3", "epochs: 6"))
    resumed, _ = specdl.train(None, resume=tmp_path / "part")
    assert resumed == full
    rows = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [1, 2, 3, 4, 5, 6]


def test_missing_cuda_is_a_clear_error(cli, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    r = cli("build", ROOT / "specs" / "iris_mlp.yaml", "-o", "train.device=cuda", "--out", tmp_path / "r",
            cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "specdl: error: device `cuda` was asked for, but torch sees no CUDA GPU here; "
        "use `-o train.device=auto` (or cpu)"]
