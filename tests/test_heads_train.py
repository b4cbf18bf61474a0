"""Several outputs (issue 30 part 2, spec 12.7) on the training side: DDP and FSDP under
torchrun (real process groups, gloo on the CPU), `codegen --distributed`, `specdl tune`
over `loss_weights.<target>`, the curves and plots per head, score metrics per head and
the missing-class warnings naming the target."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch
import yaml

import specdl

from .conftest import run_cli
from .test_distributed import ENV, TORCHRUN, distributed_script
from .test_heads import TWO, spec_of


def _rows(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _write(spec: dict, path) -> str:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(path)


# ---------------------------------------------------------------- torchrun: DDP, FSDP, the script
@pytest.mark.slow  # three runs, two of them under torchrun (~30 s)
def test_ddp_and_fsdp_of_two_heads_equal_one_process(tmp_path):
    """The same global batch on 2 ranks (DDP by --nproc, FSDP under torchrun) gives one
    process's per-head validation rows and test metrics; the checkpoints are full weights."""
    spec = _write(spec_of(train__epochs=3, train__checkpoint={"monitor": "val_loss"}), tmp_path / "two.yaml")
    single = run_cli("build", spec, "--out", tmp_path / "single", "-q", cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-2000:]
    ddp = run_cli("build", spec, "--nproc", "2", "--out", tmp_path / "ddp", "-q", cwd=tmp_path)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    assert ddp.stdout.count("run directory:") == 1
    fsdp = subprocess.run([*TORCHRUN, "-m", "specdl", "build", spec, "-o", "train.distributed.strategy=fsdp",
                           "--out", "fsdp", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=600, env=ENV)
    assert fsdp.returncode == 0, fsdp.stderr[-2000:]
    want = json.loads((tmp_path / "single" / "report.json").read_text())
    assert {"accuracy[kind]", "mae[score]", "loss[kind]", "loss[score]"} <= set(want["test"])
    for name in ("ddp", "fsdp"):
        got = json.loads((tmp_path / name / "report.json").read_text())
        assert got["test"] == pytest.approx(want["test"], rel=1e-4), name
        for t in ("kind", "score"):
            assert got["targets"][t] == pytest.approx(want["targets"][t], rel=1e-4), (name, t)
        rows, one = _rows(tmp_path / name), _rows(tmp_path / "single")
        assert len(rows) == len(one) == got["best_epoch"] == 3  # written by rank 0 only
        for a, b in zip(rows, one):
            assert {k: v for k, v in a.items() if k != "time_s"} == pytest.approx(
                {k: v for k, v in b.items() if k != "time_s"}, rel=1e-4)
        model = specdl.build_model(specdl.load(spec))
        model.load_state_dict(torch.load(tmp_path / name / "best.pt", weights_only=True))  # full weights
        kind, score = model(torch.zeros(2, 6))
        assert kind.shape == (2, 3) and score.shape == (2, 1)


@pytest.mark.slow  # the script and build, each under torchrun (~25 s)
def test_the_distributed_script_of_two_heads_equals_build_under_torchrun(tmp_path):
    spec = _write(TWO, tmp_path / "two.yaml")
    script = distributed_script(spec, 3, tmp_path)
    b = run_cli("build", spec, "--nproc", "2", "-o", "train.epochs=3", "--out", tmp_path / "r", "-q", cwd=tmp_path)
    assert b.returncode == 0, b.stderr[-2000:]
    built = json.loads((tmp_path / "r" / "report.json").read_text())["test"]
    assert list(script) == list(built) and "r2[score]" in built
    assert script == pytest.approx(built, abs=1e-6)


# ---------------------------------------------------------------- tune over loss_weights.<target>
@pytest.mark.slow  # three trials of two epochs (~10 s)
def test_tune_searches_a_targets_loss_weight_by_a_targets_metric(tmp_path):
    spec = spec_of(search={"trials": 3, "metric": "val_mae[score]", "sampler": "random",
                           "space": {"loss_weights.score": {"log_uniform": [0.1, 10.0]}}})
    path = _write(spec, tmp_path / "tune.yaml")
    r = run_cli("tune", path, "--out", tmp_path / "t", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    table = r.stdout
    assert "val_mae[score]" in table and "loss_weights.score" in table  # rich would eat "[score]" as markup
    trials = (tmp_path / "t" / "trials.csv").read_text().splitlines()
    header = trials[0].split(",")
    assert "loss_weights.score" in header and "test_mae[score]" in header and len(trials) == 4
    weights = [float(line.split(",")[header.index("loss_weights.score")]) for line in trials[1:]]
    assert all(0.1 <= w <= 10 for w in weights) and len(set(weights)) == 3
    for n, w in enumerate(weights, 1):  # each trial trained with its weight: the total is weighted by it
        run = tmp_path / "t" / f"trial-{n:04d}"
        row = _rows(run)[-1]
        assert row["val_loss"] == pytest.approx(row["val_loss[kind]"] + w * row["val_loss[score]"], rel=1e-5)
    best = yaml.safe_load((tmp_path / "t" / "best.yaml").read_text())
    assert "search" not in best and 0.1 <= best["loss_weights"]["score"] <= 10
    assert "trial 1/3 complete val_mae[score]" in r.stderr and "loss_weights.score=" in r.stderr
