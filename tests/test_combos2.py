"""Option combinations, second round: pairs the first round (tests/test_combos.py) leaves out."""

from __future__ import annotations

import pytest
import yaml


def spec_text(data: dict, out: int, **over) -> str:
    spec = {"name": "c", "data": data, "model": {"layers": [{"linear": 8}, "relu", {"linear": out}]},
            "train": {"epochs": 1, "device": "cpu"}, **over}
    return yaml.safe_dump(spec, sort_keys=False)


DIABETES = {"source": "sklearn", "dataset": "diabetes"}
IRIS = {"source": "sklearn", "dataset": "iris"}


@pytest.mark.parametrize(("data", "out", "metrics", "monitor", "offered", "left_out"), [
    (DIABETES, 1, ["mae", "f1"], "val_accuracy", "train_loss, val_loss, val_mae", "val_f1"),
    (DIABETES, 1, ["accuracy", "r2"], "val_precision", "train_loss, val_loss, val_r2", "val_accuracy"),
    (IRIS, 3, ["f1", "rmse"], "val_auc", "did you mean `val_f1`", "val_rmse"),  # val_recall: waits (below)
])
def test_a_monitor_error_offers_only_metrics_that_fit_the_task(data, out, metrics, monitor, offered,
                                                               left_out, tmp_path, cli):
    """A metric the task refuses is its own error; the monitor's error does not offer it."""
    (tmp_path / "s.yaml").write_text(spec_text(data, out, metrics=metrics, train={
        "epochs": 1, "device": "cpu", "early_stopping": {"monitor": monitor, "patience": 1}}))
    r = cli("check", tmp_path / "s.yaml", cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and lines[-1] == "2 errors", r.stderr
    assert "is a " in lines[0] and "metric; this data is" in lines[0], r.stderr
    assert f"train.early_stopping.monitor: cannot monitor `{monitor}`" in lines[1], r.stderr
    assert offered in lines[1] and left_out not in lines[1], r.stderr


@pytest.mark.parametrize("monitor", ["val_f1", "val_r2"])
def test_monitoring_a_refused_metric_is_one_error_for_the_metric(monitor, tmp_path, cli):
    """The refused metric, or one of the task's that the fixed list may hold: the monitor waits."""
    (tmp_path / "s.yaml").write_text(spec_text(DIABETES, 1, metrics=["mae", "f1"], train={
        "epochs": 1, "device": "cpu", "checkpoint": {"monitor": monitor}}))
    r = cli("check", tmp_path / "s.yaml", cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and lines[1:] == ["1 error"] and "metrics[1] (f1)" in lines[0], r.stderr


@pytest.mark.parametrize(("override", "col", "words"), [
    ("optimizer.sgd.nesterov=true", 1, "optimizer (sgd): nesterov needs momentum above 0"),
    ("scheduler.onecycle.pct_start=0.3", 1, "scheduler.max_lr (onecycle): missing required `max_lr`"),
    ("loss.cross_entropy.weight=[1]", 27, "loss.weight (cross_entropy): weight gives 1 values"),
])
def test_an_error_in_what_an_override_made_is_located_at_the_override(override, col, words, tmp_path, cli):
    """The file has no `optimizer`/`scheduler`/`loss`: the override made it, so the error is its own."""
    (tmp_path / "s.yaml").write_text(spec_text(IRIS, 3))
    r = cli("check", tmp_path / "s.yaml", "-o", override, cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and lines[1:] == ["1 error"], r.stderr
    assert lines[0].startswith(f"<override 1: {override}>:1:{col}: error: {words}"), r.stderr


def test_an_error_in_a_component_the_file_gives_stays_in_the_file(tmp_path, cli):
    (tmp_path / "s.yaml").write_text(spec_text(IRIS, 3, optimizer={"sgd": {"lr": 0.1}}))
    r = cli("check", tmp_path / "s.yaml", "-o", "optimizer.sgd.nesterov=true", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith(f"{tmp_path / 's.yaml'}:"), r.stderr
    assert "optimizer (sgd): nesterov needs momentum" in r.stderr, r.stderr
