"""Several outputs (issue 30 part 2, spec 12.7) on the training side: DDP and FSDP under
torchrun (real process groups, gloo on the CPU), `codegen --distributed`, `specdl tune`
over `loss_weights.<target>`, the curves and plots per head, score metrics per head and
the missing-class warnings naming the target."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch
import yaml

import specdl
from specdl.sources.base import split_indices

from .conftest import run_cli
from .test_distributed import ENV, TORCHRUN, distributed_script
from .test_heads import TWO, spec_of


def _rows(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _write(spec: dict, path) -> str:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(path)


# ---------------------------------------------------------------- torchrun: DDP, FSDP, the script
@pytest.mark.slow  # four runs, three of them under torchrun (~75 s)
def test_ddp_and_fsdp_of_two_heads_equal_one_process(tmp_path):
    """The same global batch on 2 ranks (DDP by --nproc, FSDP under torchrun) gives one
    process's per-head validation rows and test metrics; the checkpoints are full weights,
    and the run resumes under torchrun."""
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
    before = _rows(tmp_path / "ddp")
    resumed = run_cli("build", "--resume", tmp_path / "ddp", "-o", "train.epochs=4", "--nproc", "2", "-q", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]  # last.pt on every rank: one more epoch
    after = _rows(tmp_path / "ddp")
    assert after[:3] == before and len(after) == 4 and "val_mae[score]" in after[3]


@pytest.mark.slow  # the script and build, each under torchrun (~25 s)
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_the_distributed_script_of_two_heads_equals_build_under_torchrun(strategy, tmp_path):
    spec = _write(TWO, tmp_path / "two.yaml")
    script = distributed_script(spec, 3, tmp_path, f"train.distributed.strategy={strategy}")
    b = run_cli("build", spec, "--nproc", "2", "-o", "train.epochs=3", "-o", f"train.distributed.strategy={strategy}",
                "--out", tmp_path / "r", "-q", cwd=tmp_path)
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


# ---------------------------------------------------------------- plots and score metrics per head
THREE = spec_of(data__targets={"spam": {"classes": 2}, "kind": {"classes": 3}, "score": {"outputs": 1}},
                loss={"spam": "bce_with_logits"}, loss_weights={},
                model__layers=[{"linear": 16}, "relu", {"linear": {"out_features": 1, "name": "spam_head"}},
                               {"linear": {"out_features": 3, "inputs": ["relu_1"], "name": "kind_head"}},
                               {"linear": {"out_features": 1, "inputs": ["relu_1"], "name": "score_head"}}],
                model__outputs={"spam": "spam_head", "kind": "kind_head", "score": "score_head"},
                metrics={"spam": ["roc_auc", "accuracy"], "kind": ["accuracy", "pr_auc", "log_loss"], "score": ["mae"]},
                train={"epochs": 3, "batch_size": 32, "device": "cpu", "checkpoint": {"monitor": "val_roc_auc[spam]"}})


def test_curves_give_each_head_a_panel_and_its_loss_beside_the_total(tmp_path):
    from PIL import Image

    from specdl.build.report import _curve_panels, plot_curves

    rows = [{"epoch": e, "train_loss": 3.0 / e, "lr": 0.1, "val_loss": 2.0 / e, "val_loss[spam]": 1.0 / e,
             "val_roc_auc[spam]": 0.5 + e / 10, "val_accuracy[spam]": 0.6, "val_loss[kind]": 0.5 / e,
             "val_accuracy[kind]": 0.3 * e, "val_loss[score]": 0.5, "val_mae[score]": 1.0 / e} for e in (1, 2, 3)]
    panels = _curve_panels(list(rows[-1]), ["spam", "kind", "score"])
    assert panels == [("loss", [("train", "train_loss"), ("validation", "val_loss"),
                                ("validation [spam]", "val_loss[spam]"), ("validation [kind]", "val_loss[kind]"),
                                ("validation [score]", "val_loss[score]")]),
                      ("spam", [("roc_auc", "val_roc_auc[spam]"), ("accuracy", "val_accuracy[spam]")]),
                      ("kind", [("accuracy", "val_accuracy[kind]")]), ("score", [("mae", "val_mae[score]")])]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    plot_curves(tmp_path / "c.png", tmp_path / "m.jsonl", 2, "t", ["spam", "kind", "score"])
    width, height = Image.open(tmp_path / "c.png").size
    assert width == 1100 and height == 800  # four panels, two by two
    one = _curve_panels(["epoch", "train_loss", "val_loss", "val_mae[a]", "val_mae[b]"], None)
    assert one == [("loss", [("train", "train_loss"), ("validation", "val_loss")]),
                   ("metric", [("mae[a]", "val_mae[a]"), ("mae[b]", "val_mae[b]")])]  # one target: as before


@pytest.mark.slow  # trains 3 epochs and draws every plot (~4 s)
def test_each_classification_head_gets_its_plots_and_its_score_metrics(tmp_path):
    from sklearn.metrics import roc_auc_score

    from specdl.build.data import prepare
    from specdl.runtime.heads import head_columns

    test, run = specdl.train(THREE, out=tmp_path / "run")
    for t in ("spam", "kind"):
        for plot in ("confusion", "roc", "pr"):
            assert (run / f"{plot}.{t}.png").stat().st_size > 10_000, (plot, t)
    assert not list(run.glob("*.score.png")) and not (run / "confusion.png").exists()
    manifest = json.loads((run / ".specdl-manifest.json").read_text())["paths"]
    assert {"confusion.kind.png", "roc.spam.png", "pr.kind.png"} <= set(manifest)
    report = json.loads((run / "report.json").read_text())
    kind = report["class_scores"]["kind"]  # beside each target's test metrics (report["targets"])
    assert kind["classes"] == ["0", "1", "2"] and np.sum(kind["confusion_matrix"]) == report["samples"]["test"]
    assert set(report["class_scores"]) == {"spam", "kind"} and set(kind) == {"per_class", "confusion_matrix", "classes"}
    assert set(report["targets"]["spam"]) == {"loss", "roc_auc", "accuracy"}
    assert all("val_roc_auc[spam]" in row for row in _rows(run))
    # roc_auc[spam] is scikit-learn's on the spam head's probabilities of the best epoch's weights
    a = specdl.check(THREE)
    arrays = prepare(a.spec, a)
    model = specdl.build_model(a.spec)
    model.load_state_dict(torch.load(run / "best.pt", weights_only=True))
    with torch.no_grad():
        spam, _, _ = model(torch.as_tensor(arrays.x["test"], dtype=torch.float32))
    truth = head_columns(arrays.y_true["test"], a.head_tuples())["spam"]
    assert test["roc_auc[spam]"] == pytest.approx(roc_auc_score(truth, torch.sigmoid(spam).ravel().numpy()), abs=1e-9)
    assert test["roc_auc[spam]"] == report["targets"]["spam"]["roc_auc"]


# ---------------------------------------------------------------- a class a split lacks, per head
def _rare(tmp_path) -> dict:
    """Two classification heads on npz data: `a` (stratified by), and `kind`, whose class 2
    lies in the train and test splits only (its val split lacks it)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    a = (x[:, 1] > 0).astype(np.int64)
    spec = spec_of(name="rare", data={"source": "npz", "path": str(tmp_path / "rare.npz"),
                                      "targets": {"a": {"array": "a"}, "kind": {"array": "kind"}}},
                   model__layers=[{"linear": 16}, "relu", {"linear": {"out_features": 2, "name": "a_head"}},
                                  {"linear": {"out_features": 3, "inputs": ["relu_1"], "name": "kind_head"}}],
                   model__outputs={"a": "a_head", "kind": "kind_head"}, loss_weights={},
                   metrics={"a": ["accuracy"], "kind": ["accuracy", "roc_auc"]},
                   train={"epochs": 1, "batch_size": 32, "device": "cpu",
                          "checkpoint": {"monitor": "val_roc_auc[kind]"}})
    rows = split_indices(a, specdl.load(spec).data.held_out(), spec["seed"], True)
    kind = (x[:, 0] > 0).astype(np.int64)
    kind[rows["train"][:3]] = 2
    kind[rows["test"][:2]] = 2
    np.savez(tmp_path / "rare.npz", x=x, a=a, kind=kind)
    return spec


def test_check_warns_of_a_class_a_split_lacks_naming_the_head_and_target(tmp_path):
    spec = _rare(tmp_path)
    text = yaml.safe_dump(spec, sort_keys=False)
    line = text.splitlines().index("  kind:", text.splitlines().index("metrics:")) + 3  # its second metric
    warned = [(w.line, w.col, w.message) for w in specdl.check(text).warnings if "split" in w.message]
    assert warned == [(line, 5, "head `kind_head` (target `kind`): the val split (seed 1) has no sample of class 2: "
                       "roc_auc and pr_auc there are means over the others; a larger split holds every class "
                       "(split.stratify stratifies by `a` only)")]
    spec["metrics"]["a"] = ["roc_auc"]  # the stratified head holds every class: no warning of its own
    assert [w.path for w in specdl.check(spec).warnings if "split" in w.message] == [("metrics", "kind", 1)]
    spec["data"]["split"] = {"stratify": False}  # unstratified: the first target may lack a class too
    data = dict(np.load(tmp_path / "rare.npz"))
    rows = split_indices(data["a"], specdl.load(spec).data.held_out(), spec["seed"], False)
    data["a"][rows["val"]] = 0
    np.savez(tmp_path / "rare.npz", **data)
    warned = [w.message for w in specdl.check(spec).warnings if "(target `a`)" in w.message]
    assert warned == ["head `a_head` (target `a`): the val split (seed 1) has no sample of class 1: roc_auc and "
                      "pr_auc are not defined there (null in metrics.jsonl and report.json); a larger split, or "
                      "split.stratify: true, holds every class"]


@pytest.mark.slow  # a build in a subprocess (~5 s)
def test_a_run_notes_the_class_a_split_lacks_naming_the_target(tmp_path):
    spec = _write(_rare(tmp_path), tmp_path / "rare.yaml")
    r = run_cli("build", spec, "--out", tmp_path / "run", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert ("specdl: note: roc_auc and pr_auc over the classes present: classes [2] have no sample, or every one, "
            "in this split; the mean is over the 2 others (target `kind`)") in r.stderr.splitlines()
    data = dict(np.load(tmp_path / "rare.npz"))
    data["kind"][data["kind"] == 2] = 1
    data["kind"][0] = 2  # class 2 in one row now: a split it misses lacks it in build, named
    np.savez(tmp_path / "rare.npz", **data)
    r = run_cli("build", spec, "--out", tmp_path / "again", "-q", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1] == ("specdl: error: target `kind`: the train split has no sample of class "
                                                 "2; add data for it, or change split.test / the seed")
