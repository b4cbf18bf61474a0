"""What a run reports: curves with the validation metrics and the best epoch marked,
per-class scores keyed by class label, and each target's metrics in a multi-target
regression (in report.json, the build's test line and the generated script's)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import specdl
from specdl.build.report import plot_curves

from .conftest import ROOT, run_cli

IRIS = ROOT / "specs" / "iris_mlp.yaml"


def red_columns(png) -> np.ndarray:
    """The image columns holding the best-epoch line's red (matplotlib's tab:red)."""
    from PIL import Image

    im = np.asarray(Image.open(png).convert("RGB"), dtype=int)
    red = (im[..., 0] > 170) & (im[..., 1] < 90) & (im[..., 2] < 90)
    return np.flatnonzero(red.sum(axis=0) > 20)


def test_curves_show_the_first_metric_each_epoch_and_mark_the_best_epoch(tmp_path):
    from PIL import Image

    _, run = specdl.train(IRIS, out=tmp_path / "r", overrides=["train.epochs=12", "train.device=cpu"])
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    # monitored by val_loss; the spec's first metric (accuracy) is computed each epoch too
    assert all("val_accuracy" in r for r in rows) and not any("val_f1" in r for r in rows)
    width = Image.open(run / "curves.png").size[0]
    assert width >= 1000  # two panels: loss, and the metric
    cols = red_columns(run / "curves.png")
    assert (cols < width / 2).any() and (cols > width / 2).any(), "the best epoch is marked on both panels"


def test_curves_best_epoch_line_moves_with_the_best_epoch(tmp_path):
    rows = [{"epoch": e, "train_loss": 1.0 / e, "lr": 0.1, "val_loss": abs(e - 4) + 1.0, "val_r2": 0.1 * e}
            for e in range(1, 11)]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    where = {}
    for best in (2, 9):
        plot_curves(tmp_path / f"c{best}.png", tmp_path / "m.jsonl", best, "t")
        where[best] = red_columns(tmp_path / f"c{best}.png")
    assert len(where[2]) and len(where[9])
    assert where[2].min() < where[9].min() and where[2].max() < where[9].max()


def test_a_loss_only_run_plots_one_panel_without_a_metric(tmp_path):
    from PIL import Image

    rows = [{"epoch": e, "train_loss": 1.0 / e, "lr": 0.1} for e in range(1, 4)]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    plot_curves(tmp_path / "c.png", tmp_path / "m.jsonl", 3, "t")
    assert Image.open(tmp_path / "c.png").size[0] < 700
    assert len(red_columns(tmp_path / "c.png"))


def test_no_validation_split_watches_no_metric():
    a = specdl.check(specdl.load(IRIS, ["data.split.val=0"]))
    assert a.watched_metrics() == []
    assert specdl.check(specdl.load(IRIS)).watched_metrics() == ["accuracy"]
    monitored = specdl.check(specdl.load(IRIS, ["train.checkpoint.monitor=val_f1"]))
    assert monitored.watched_metrics() == ["accuracy", "f1"]


def test_per_class_is_keyed_by_class_label(tmp_path):
    _, run = specdl.train(IRIS, out=tmp_path / "r", overrides=["train.epochs=2", "train.device=cpu"])
    report = json.loads((run / "report.json").read_text())
    assert list(report["per_class"]) == ["setosa", "versicolor", "virginica"] == report["classes"]
    assert sum(c["support"] for c in report["per_class"].values()) == report["samples"]["test"]


def test_per_class_without_names_is_keyed_by_index(tmp_path):
    spec = {"name": "syn", "data": {"source": "synthetic", "shape": [6], "classes": 3, "size": 90},
            "model": {"layers": [{"linear": 3}]}, "train": {"epochs": 1, "device": "cpu"}}
    _, run = specdl.train(spec, out=tmp_path / "r")
    assert list(json.loads((run / "report.json").read_text())["per_class"]) == ["0", "1", "2"]


def npz_spec(path):
    return {"name": "two", "seed": 0,
            "data": {"source": "npz", "path": str(path), "x": "x", "y": "y", "transforms": ["standardize"],
                     "target_transforms": ["standardize"]},
            "model": {"layers": [{"linear": 8}, "relu", {"linear": 2}]},
            "train": {"epochs": 3, "batch_size": 16, "device": "cpu"}, "metrics": ["r2", "mae"]}


def write_two_targets(path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    y = np.stack([3 * x[:, 0] + 0.1 * rng.normal(size=120), x[:, 1] - x[:, 2]], axis=1)
    np.savez(path, x=x, y=y)
    return x, y


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_two_targets_report_each_target_in_the_one_test_line(tmp_path):
    import yaml

    write_two_targets(tmp_path / "d.npz")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(npz_spec(tmp_path / "d.npz")))
    r = run_cli("build", "s.yaml", "--out", "run", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    test_lines = [ln for ln in r.stdout.splitlines() if ln.startswith("test:")]
    assert len(test_lines) == 1 and len(r.stdout.splitlines()) == 2
    for key in ("r2 ", "mae ", "r2[0] ", "mae[0] ", "r2[1] ", "mae[1] ", "loss "):
        assert f" {key}" in test_lines[0], key
    test = json.loads((tmp_path / "run" / "report.json").read_text())["test"]
    assert list(test) == ["r2", "mae", "r2[0]", "mae[0]", "r2[1]", "mae[1]", "loss"]
    # the mean over the targets is the mean of each target's figure (uniform average)
    assert test["r2"] == pytest.approx((test["r2[0]"] + test["r2[1]"]) / 2, abs=1e-12)
    assert test["mae"] == pytest.approx((test["mae[0]"] + test["mae[1]"]) / 2, abs=1e-12)
    assert test["r2[0]"] != test["r2[1]"]


def test_each_target_is_checked_against_sklearn(tmp_path):
    from sklearn.metrics import mean_absolute_error, r2_score

    write_two_targets(tmp_path / "d.npz")
    spec = npz_spec(tmp_path / "d.npz")
    metrics, run_dir = specdl.train(spec, out=tmp_path / "run")
    run = specdl.load_run(run_dir)
    from specdl.build.data import prepare

    arrays = prepare(run.spec, run.analysis)
    import torch

    from specdl.build.data import invert_targets

    with torch.no_grad():
        out = run.model(torch.as_tensor(arrays.x["test"], dtype=torch.float32)).double().numpy()
    pred = invert_targets(run.spec, arrays, out)
    truth = arrays.y_true["test"]
    for j in range(2):
        assert metrics[f"r2[{j}]"] == pytest.approx(r2_score(truth[:, j], pred[:, j]), abs=1e-9)
        assert metrics[f"mae[{j}]"] == pytest.approx(mean_absolute_error(truth[:, j], pred[:, j]), abs=1e-9)


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_named_targets_and_the_script_report_the_same(tmp_path):
    """linnerud's three targets are named; the generated script prints the same keys
    and values as build."""
    spec = {"name": "lin", "seed": 0,
            "data": {"source": "sklearn", "dataset": "linnerud", "split": {"val": 0.15, "test": 0.3},
                     "transforms": ["standardize"], "target_transforms": ["standardize"]},
            "model": {"layers": [{"linear": 3}]}, "train": {"epochs": 2, "batch_size": 4, "device": "cpu"},
            "metrics": ["mae"]}
    built, _ = specdl.train(spec, out=tmp_path / "run")
    assert list(built) == ["mae", "mae[Weight]", "mae[Waist]", "mae[Pulse]", "loss"]
    code = specdl.codegen(spec)
    assert 'functools.partial(per_target, METRICS, names=["Weight", "Waist", "Pulse"])' in code
    (tmp_path / "script.py").write_text(code)
    r = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""})
    assert r.returncode == 0, r.stderr
    script = json.loads(r.stdout.strip().splitlines()[-1])
    assert list(script) == list(built)
    for k, v in built.items():
        assert script[k] == pytest.approx(v, abs=1e-6), k


def test_one_target_and_many_targets_report_the_mean_only():
    assert specdl.check(specdl.load(ROOT / "specs" / "diabetes_mlp.yaml")).target_names() is None
    wide = {"name": "w", "data": {"source": "synthetic", "shape": [4], "outputs": [17], "size": 40},
            "model": {"layers": [{"linear": 17}]}}
    assert specdl.check(wide).target_names() is None
    two = {**wide, "data": {**wide["data"], "outputs": [2]}, "model": {"layers": [{"linear": 2}]}}
    assert specdl.check(two).target_names() == ["0", "1"]
