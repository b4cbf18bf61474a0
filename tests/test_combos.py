"""Option combinations, drawn by Hypothesis (tests/strategies.py: ``run_specs``): every
task with its losses and their options, each optimizer and scheduler with drawn
arguments, training options (accumulation, clipping, precision, early stopping, monitors,
thresholds, threads, determinism), metrics and splits. A spec check accepts builds
without a traceback, and its generated script ends with build's test metrics (to 1e-6,
on the CPU); a spec with a mistake put in is rejected with one located error for it.

    pytest -m fuzz tests/test_combos.py     # the long run: more combinations, each with its script
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import specdl
from specdl.errors import RunError, SpecError

from .strategies import run_specs

# What a run may stop with, cleanly (exit 1 or 2, one line): drawn arguments that diverge
# (a NaN loss), or a stratified split of small data that lacks a class.
RUN_ERRORS = ("the training loss became", "cannot split the data", "has no sample of class")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("combos")
    rng = np.random.default_rng(0)
    np.savez(d / "multilabel.npz", x=rng.normal(size=(64, 5)).astype(np.float32),
             y=(rng.random((64, 3)) < 0.5).astype(np.int64))
    return {"multilabel": d / "multilabel.npz"}


def script_metrics(spec: Path, cwd: Path) -> dict:
    (cwd / "script.py").write_text(specdl.codegen(specdl.load(spec)))
    r = subprocess.run([sys.executable, "script.py"], cwd=cwd, capture_output=True, text=True, timeout=300,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""})
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_combo(spec: dict, mistakes: list, script: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        path = d / "spec.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        try:
            specdl.check(path)
        except SpecError as e:
            errors = [i for i in e.issues if i.severity == "error"]
            assert mistakes, "\n".join(i.render() for i in errors)
            assert all(i.file == str(path) and i.line > 1 for i in errors), [i.render() for i in errors]
            assert sorted(tuple(i.path) for i in errors) == sorted(mistakes), [i.render() for i in errors]
            return
        assert not mistakes, f"check accepted a spec with a mistake at {mistakes}"
        try:
            built, _ = specdl.train(path, out=d / "run")
        except RunError as e:
            assert str(e).startswith(RUN_ERRORS), str(e)
            return
        if not script:
            return
        got = script_metrics(path, d)
        assert list(got) == list(built)
        for k in built:
            assert got[k] == pytest.approx(built[k], abs=1e-6, nan_ok=True), k


def combo_settings(n):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@combo_settings(int(os.environ.get("SPECDL_COMBOS", "12")))
@given(st.data())
def test_combinations_check_then_build(files, data):
    """The default suite's share: check and build (a few seconds)."""
    spec, mistakes = data.draw(run_specs(files))
    run_combo(spec, mistakes, script=False)


@pytest.mark.slow  # a drawn build and its script (~11 s); test_combinations_check_then_build draws in the default suite
@combo_settings(1)
@given(st.data())
def test_combinations_build_equals_script(files, data):
    spec, mistakes = data.draw(run_specs(files).filter(lambda c: not c[1]))
    run_combo(spec, mistakes, script=True)


@pytest.mark.fuzz
@combo_settings(int(os.environ.get("SPECDL_COMBOS_LONG", "150")))
@given(st.data())
def test_combinations_long(files, data):
    spec, mistakes = data.draw(run_specs(files))
    run_combo(spec, mistakes, script=True)


# ------------------------------------------------------------ resume, per scheduler kind
SCHEDULERS = {"step": {"step": 1}, "multistep": {"multistep": [1, 3]}, "cosine": "cosine",
              "exponential": {"exponential": 0.9}, "warmup": {"warmup": 2}, "onecycle": {"onecycle": 0.05},
              "reduce_on_plateau": {"reduce_on_plateau": 1}}
FAST_KINDS = ("step", "onecycle", "reduce_on_plateau")  # per epoch, per batch, on the monitored value


class Killed(Exception):
    pass


def iris(scheduler) -> dict:
    return {"name": "resume", "data": {"source": "sklearn", "dataset": "iris", "transforms": ["standardize"]},
            "model": {"layers": [{"linear": 8}, "relu", {"linear": 3}]}, "scheduler": scheduler,
            "optimizer": {"sgd": {"lr": 0.05, "momentum": 0.9, "nesterov": True}},
            "train": {"epochs": 4, "batch_size": 16, "device": "cpu", "checkpoint": {"interval": 0},
                      "early_stopping": {"monitor": "val_accuracy", "patience": 3}}}


def test_every_scheduler_is_resumed():
    from specdl.components.base import REGISTRY

    assert set(SCHEDULERS) == set(REGISTRY["scheduler"])


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST_KINDS else pytest.mark.slow)
                                  for n in SCHEDULERS])
@pytest.mark.parametrize("over", [[], ["train.precision=fp16", "train.accumulate=2"]], ids=["fp32", "fp16-acc"])
def test_a_killed_run_resumes_to_the_same_result(name, over, tmp_path):
    """Killed after epoch 2's checkpoint (epoch 3's row written, its checkpoint not):
    resumed, it ends with exactly the uninterrupted run's metrics."""
    from specdl.build.run import fit
    from specdl.front import analysis_of

    spec = iris(SCHEDULERS[name])
    full = fit(analysis_of(spec, over), out=tmp_path / "full").metrics

    def kill(epoch, row):
        if epoch == 3:
            raise Killed

    with pytest.raises(Killed):
        fit(analysis_of(spec, over), out=tmp_path / "part", on_epoch=kill)
    resumed = fit(analysis_of(tmp_path / "part" / "spec.yaml"), resume=tmp_path / "part")
    assert resumed.metrics == full
    rows = [json.loads(r)["epoch"] for r in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert rows == [1, 2, 3, 4]


@pytest.mark.parametrize(("name", "over", "key"), [("onecycle", "train.epochs=6", "total_steps 28"),
                                                   ("onecycle", "train.batch_size=8", "total_steps 28"),
                                                   ("cosine", "train.epochs=6", "T_max 4")])
def test_resuming_a_run_length_scheduler_over_another_length_is_refused(name, over, key, tmp_path):
    from specdl.build.run import fit
    from specdl.front import analysis_of

    fit(analysis_of(iris(SCHEDULERS[name])), out=tmp_path / "run")
    with pytest.raises(RunError, match=f"^scheduler {name} was laid out for the run as it started [(]{key}[)]"):
        fit(analysis_of(tmp_path / "run" / "spec.yaml", [over]), resume=tmp_path / "run")


@pytest.mark.slow  # two CLI builds (CI runs it)
def test_the_refused_resume_is_one_line(tmp_path, cli):
    from specdl.build.run import fit
    from specdl.front import analysis_of

    fit(analysis_of(iris(SCHEDULERS["onecycle"])), out=tmp_path / "run")
    r = cli("build", "--resume", tmp_path / "run", "-o", "train.epochs=6", "-q", cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith(
        "specdl: error: scheduler onecycle was laid out for the run as it started (total_steps 28)"), r.stderr


@pytest.mark.slow  # four schedulers each trained, then resumed (~8 s)
def test_resuming_with_more_epochs_goes_on_for_other_schedulers(tmp_path):
    from specdl.build.run import fit
    from specdl.front import analysis_of

    for name in ("step", "warmup", "reduce_on_plateau", {"cosine": {"T_max": 3}}):
        spec = iris(SCHEDULERS[name] if isinstance(name, str) else name)
        del spec["train"]["early_stopping"]
        run = tmp_path / str(len(list(tmp_path.iterdir())))
        fit(analysis_of(spec), out=run)
        fit(analysis_of(run / "spec.yaml", ["train.epochs=6"]), resume=run)
        assert len((run / "metrics.jsonl").read_text().splitlines()) == 6


# ------------------------------------------------------------ combinations check must settle
def spec_text(**over) -> str:
    spec = {"name": "c", "data": {"source": "sklearn", "dataset": "iris"},
            "model": {"layers": [{"linear": 8}, "relu", {"linear": 3}]}, "train": {"epochs": 1, "device": "cpu"}}
    for key, value in over.items():
        spec[key] = {**spec.get(key, {}), **value} if isinstance(value, dict) and key != "optimizer" else value
    return yaml.safe_dump(spec, sort_keys=False)


@pytest.mark.parametrize(("over", "where", "words"), [
    ({"optimizer": {"sgd": {"nesterov": True}}}, "optimizer (sgd)", "nesterov needs momentum above 0"),
    ({"optimizer": {"sgd": {"nesterov": True, "momentum": 0.9, "dampening": 0.1}}}, "optimizer (sgd)",
     "dampening 0"),
    ({"optimizer": {"rmsprop": {"alpha": 1.0}}}, "optimizer.alpha (rmsprop)", "< 1.0"),
    ({"data": {"split": {"val": 0}}, "train": {"early_stopping": {"patience": 2}}}, "data.split.val",
     "monitoring `val_loss` needs a validation split"),
    ({"data": {"split": {"val": 0}}, "train": {"checkpoint": {"monitor": "val_f1"}}}, "data.split.val",
     "monitoring `val_f1` needs"),
    ({"data": {"split": {"val": 0}}, "train": {"checkpoint": {"monitor": "val_nothing"}}},
     "train.checkpoint.monitor", "cannot monitor `val_nothing`"),  # that error alone
    ({"metrics": ["mae"], "train": {"checkpoint": {"monitor": "val_accuracy"}, "early_stopping": {"monitor": "val_mae"}}},
     "metrics[0] (mae)", "`mae` is a regression metric"),  # that error alone: the monitors wait for its fix
    ({"metrics": ["accuracy"], "train": {"checkpoint": {"monitor": "val_f1"}}}, "train.checkpoint.monitor",
     "cannot monitor `val_f1`: `f1` is not in `metrics`; add it there"),
    ({"model": {"layers": [{"linear": 8}, "batchnorm1d", {"linear": 3}]}, "train": {"batch_size": 1}},
     "train.batch_size", "every training batch holds one sample, and batchnorm1d_1"),
    ({"model": {"layers": [{"linear": 8}, "batchnorm1d", {"linear": 3}]}, "train": {"batch_size": 8}},
     "train.batch_size", "the last training batch holds one sample (105 training samples in batches of 8)"),
    ({"model": {"layers": [{"reshape": [4, 1, 1]}, {"conv2d": {"out_channels": 4, "kernel_size": 1}},
                           "batchnorm2d", "flatten", {"linear": 3}]}, "train": {"batch_size": 4}},
     "train.batch_size", "batchnorm2d_2 (batchnorm2d) cannot normalise"),
])
def test_a_combination_torch_refuses_is_one_located_line(over, where, words, tmp_path, cli):
    (tmp_path / "s.yaml").write_text(spec_text(**over))
    r = cli("check", tmp_path / "s.yaml", cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and lines[1:] == ["1 error"], r.stderr
    assert lines[0].startswith(f"{tmp_path / 's.yaml'}:") and f"error: {where}: " in lines[0] \
        and words in lines[0], r.stderr


@pytest.mark.parametrize("over", [
    {"data": {"split": {"val": 0}}, "train": {"early_stopping": {"monitor": "train_loss", "patience": 1}}},
    {"data": {"split": {"val": 0}}, "train": {"checkpoint": {"interval": 0}}},
    {"model": {"layers": [{"linear": 8}, "batchnorm1d", {"linear": 3}]}, "train": {"batch_size": 7}},
    {"model": {"layers": [{"reshape": [1, 2, 2]}, {"conv2d": {"out_channels": 2, "kernel_size": 1}},
                          "batchnorm2d", "flatten", {"linear": 3}]}, "train": {"batch_size": 1}},  # 2 x 2 maps
])
def test_combinations_that_train_are_accepted(over, tmp_path):
    (tmp_path / "s.yaml").write_text(spec_text(**over))
    metrics, run = specdl.train(tmp_path / "s.yaml", out=tmp_path / "run")
    assert 0.0 <= metrics["accuracy"] <= 1.0 and (run / "best.pt").exists()


@pytest.mark.slow  # CLI processes (CI runs it)
def test_a_lone_batch_that_check_cannot_see_is_one_line_before_training(tmp_path, cli):
    """A CSV's size is read at build: the trainer says it before epoch 1."""
    rows = "\n".join(f"{i * 0.1},{i % 3}" for i in range(30))
    (tmp_path / "d.csv").write_text("a,label\n" + rows + "\n")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "data": {"source": "csv", "path": "d.csv", "target": "label", "task": "classification",
                 "split": {"val": 0, "test": 0.3, "stratify": False}},
        "model": {"layers": [{"linear": 4}, "batchnorm1d", {"linear": 3}]}, "train": {"batch_size": 20,
                                                                                        "device": "cpu"}}))
    specdl.check(tmp_path / "s.yaml")  # accepted: the size is not known yet
    r = cli("build", tmp_path / "s.yaml", "--out", tmp_path / "run", "-q", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "specdl: error: the last training batch holds one sample (21 training samples in batches of 20), and "
        "batchnorm1d_1 (batchnorm1d) cannot normalise a batch of one in training; use another "
        "train.batch_size (not 1, nor a divisor of 20)"], r.stderr
    assert not (tmp_path / "run" / "metrics.jsonl").exists() or not (tmp_path / "run" / "metrics.jsonl").read_text()
