"""Binary classification the usual way: two classes, one logit ([N, 1] or [N]) and
bce_with_logits, with ``train.threshold`` turning the probability into a label. Checked,
built, generated (the script equals build), exported and predicted."""

from __future__ import annotations

import ast
import builtins
import csv
import inspect
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

import specdl
from specdl.runtime import loop

from .conftest import ROOT, run_cli

BINARY = ROOT / "specs" / "breast_cancer_binary.yaml"


def write_binary_csv(path, n=160, seed=0):
    """Three features; the label (yes/no) is mostly whether a + b > 0."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + x[:, 1] + 0.3 * rng.normal(size=n) > 0)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "label"])
        for row, label in zip(x, y):
            w.writerow([*(round(float(v), 4) for v in row), "yes" if label else "no"])
    return x, y


def csv_spec(path, logit=(1,), threshold=None, epochs=3):
    """A CSV binary spec whose model ends in one logit: [N, 1], or [N] via select."""
    layers = [{"linear": 8}, "relu", {"linear": 1}] + ([{"select": {"dim": 1, "index": 0}}] if logit == () else [])
    train = {"epochs": epochs, "batch_size": 16, "device": "cpu"}
    if threshold is not None:
        train["threshold"] = threshold
    return {"name": "bin", "seed": 0,
            "data": {"source": "csv", "path": str(path), "target": "label", "transforms": ["standardize"],
                     "split": {"val": 0.2, "test": 0.25, "stratify": True}},
            "model": {"layers": layers}, "loss": "bce_with_logits", "optimizer": {"adam": {"lr": 0.01}},
            "train": train, "metrics": ["accuracy", "precision", "recall", "f1"]}


def test_the_bundled_binary_spec_checks(cli):
    r = cli("check", BINARY)
    assert r.returncode == 0, r.stderr
    assert "output [N, 1] -> 2 classes, loss bce_with_logits" in r.stdout


# Bad binary specs: each one located line, exit 2 (override: expected line:col, words).
BAD = [
    (["data.dataset=iris"], "loss (bce_with_logits)", "the data has 3 classes: use cross_entropy with [N, 3]"),
    (["model.layers.3={linear: 2}"], "model.layers[3] (linear)", "need one logit, [N, 1] or [N]"),
    (["loss=cross_entropy"], "model.layers[3] (linear)", "(or, for one logit, loss: bce_with_logits)"),
    (["loss={bce_with_logits: {pos_weight: [1.0, 2.0]}}"], "loss.pos_weight", "gives 2 values; the data has one logit"),
    (["loss=cross_entropy", "model.layers.3={linear: 2}", "train.threshold=0.3"], "train.threshold",
     "a threshold applies to binary classification"),
    (["train.threshold=1.5"], "train.threshold", "must be < 1.0"),
    (["train.threshold=0"], "train.threshold", "must be > 0.0"),
    (["data.dataset=diabetes", "metrics=[r2]"], "loss (bce_with_logits)",
     "is a binary (one logit) or multilabel loss, but the data is regression"),
]


@pytest.mark.parametrize(("over", "where", "words"), BAD, ids=[b[1] + "-" + b[0][-1] for b in BAD])
def test_bad_binary_specs_are_one_located_line(over, where, words, cli, tmp_path):
    spec = yaml.safe_load(BINARY.read_text())
    del spec["train"]["threshold"]  # the default: a threshold given is checked on its own
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    r = cli("check", tmp_path / "s.yaml", *[a for o in over for a in ("-o", o)])
    assert r.returncode == 2, r.stdout
    errors = [ln for ln in r.stderr.splitlines() if ": error: " in ln]
    assert len(errors) == 1, r.stderr
    assert f": error: {where}" in errors[0] and words in errors[0], errors[0]
    assert "Traceback" not in r.stderr


def test_threshold_on_multilabel_is_accepted(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "m.npz", x=rng.normal(size=(40, 4)), y=(rng.random((40, 3)) > 0.5).astype(float))
    spec = {"name": "ml", "data": {"source": "npz", "path": str(tmp_path / "m.npz"), "x": "x", "y": "y",
                                   "task": "multilabel"},
            "model": {"layers": [{"linear": 3}]}, "train": {"threshold": 0.7, "device": "cpu"}}
    a = specdl.check(spec)
    assert a.kind == "multilabel" and a.spec.train.threshold == 0.7


def test_one_pos_weight_weighs_every_label_alike(tmp_path):
    """`pos_weight: 2.0` is `[2.0, 2.0, 2.0]` on three labels (and `[2.0]` on one logit)."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "m.npz", x=rng.normal(size=(40, 4)), y=(rng.random((40, 3)) > 0.5).astype(float))
    spec = {"name": "ml", "seed": 0, "data": {"source": "npz", "path": str(tmp_path / "m.npz"), "x": "x", "y": "y",
                                              "task": "multilabel"},
            "model": {"layers": [{"linear": 3}]}, "train": {"epochs": 2, "batch_size": 8, "device": "cpu"}}
    got = [specdl.train({**spec, "loss": {"bce_with_logits": {"pos_weight": w}}}, out=tmp_path / str(i)).metrics
           for i, w in enumerate([2.0, [2.0, 2.0, 2.0]])]
    assert got[0] == got[1]
    assert got[0] != specdl.train({**spec, "loss": "bce_with_logits"}, out=tmp_path / "plain").metrics
    binary = yaml.safe_load(BINARY.read_text())
    binary["loss"] = {"bce_with_logits": {"pos_weight": 3}}
    assert "nn.BCEWithLogitsLoss(pos_weight=torch.tensor([3.0]))" in specdl.codegen(specdl.load(binary))


def run_script(code, tmp_path) -> dict:
    (tmp_path / "script.py").write_text(code)
    s = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""})
    assert s.returncode == 0, s.stderr
    return json.loads(s.stdout.strip().splitlines()[-1])


def assert_same(script: dict, built: dict):
    assert list(script) == list(built)
    for k, v in built.items():
        assert script[k] == pytest.approx(v, abs=1e-6), k


def check_probabilities(rows, threshold):
    """predict's rows: the label and both classes' probabilities; "yes" where p_yes >= threshold."""
    assert list(rows[0]) == ["prediction", "p_no", "p_yes"]
    p_yes = np.array([float(row["p_yes"]) for row in rows])
    assert np.allclose(p_yes + np.array([float(row["p_no"]) for row in rows]), 1.0, atol=1e-6)
    assert [row["prediction"] for row in rows] == ["yes" if p >= threshold else "no" for p in p_yes]
    assert 0.0 < p_yes.min() < threshold < p_yes.max() < 1.0
    return p_yes


@pytest.mark.slow  # many CLI processes; CI runs it (pytest -m slow)
def test_csv_binary_with_one_logit_column_through_the_cli(tmp_path):
    """[N, 1]: build, codegen (the script equals build), predict and export as programs."""
    x, _ = write_binary_csv(tmp_path / "d.csv")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(csv_spec(tmp_path / "d.csv", threshold=0.4)))
    r = run_cli("build", "s.yaml", "--out", "run", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert set(report["per_class"]) == {"no", "yes"} and report["classes"] == ["no", "yes"]
    assert report["test"]["accuracy"] > 0.7, r.stdout
    r = run_cli("codegen", "s.yaml", "--out", "script.py", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    code = (tmp_path / "script.py").read_text()
    assert "threshold=0.4)" in code and "loss_fn = binary_loss(nn.BCEWithLogitsLoss())" in code
    assert_same(run_script(code, tmp_path), report["test"])
    np.savetxt(tmp_path / "rows.csv", x[:40], delimiter=",", header="a,b,c", comments="", fmt="%.4f")
    r = run_cli("predict", "run", "--input", "rows.csv", "--out", "pred.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    p_yes = check_probabilities(list(csv.DictReader(open(tmp_path / "pred.csv"))), 0.4)
    r = run_cli("export", "run", "--out", "model.onnx", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    inputs = specdl.load_run(tmp_path / "run").inputs((x[:40], np.empty((40, 0), dtype=object))).numpy()
    got = session.run(None, {"input": inputs})[0]
    assert got.shape == (40, 1)
    assert np.allclose(1 / (1 + np.exp(-got.reshape(-1))), p_yes, atol=1e-5)


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_csv_binary_with_a_flat_logit(tmp_path):
    """[N] (the logit selected out of [N, 1]): build equals the script, predict, export."""
    from specdl.runs.predict import write_predictions

    x, _ = write_binary_csv(tmp_path / "d.csv", seed=1)
    spec = csv_spec(tmp_path / "d.csv", logit=(), threshold=0.6)
    built, run_dir = specdl.train(spec, out=tmp_path / "run")
    assert_same(run_script(specdl.codegen(spec), tmp_path), built)
    run = specdl.load_run(run_dir)
    raw = (x[:40], np.empty((40, 0), dtype=object))
    write_predictions(run.predict(raw), tmp_path / "pred.csv")
    check_probabilities(list(csv.DictReader(open(tmp_path / "pred.csv"))), 0.6)
    from specdl.api import export

    figures = export(run_dir, tmp_path / "m.onnx")
    assert figures["max_abs_diff"] <= figures["tolerance"]
    assert run.outputs(run.inputs(raw)).shape == (40,)


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_threshold_decides_the_test_metrics(threshold, tmp_path):
    """Same seed, same weights: the reported accuracy and F1 are those of the labels
    sigmoid(logit) >= threshold on the test split."""
    from sklearn.metrics import accuracy_score, f1_score

    write_binary_csv(tmp_path / "d.csv")
    spec = csv_spec(tmp_path / "d.csv", threshold=threshold, epochs=2)
    metrics, run_dir = specdl.train(spec, out=tmp_path / "run")
    run = specdl.load_run(run_dir)
    from specdl.build.data import prepare

    arrays = prepare(run.spec, run.analysis)
    with torch.no_grad():
        prob = torch.sigmoid(run.model(torch.as_tensor(arrays.x["test"], dtype=torch.float32))).reshape(-1).numpy()
    labels = (prob >= threshold).astype(int)
    truth = arrays.y_true["test"]
    assert metrics["accuracy"] == pytest.approx(accuracy_score(truth, labels), abs=1e-12)
    assert metrics["f1"] == pytest.approx(f1_score(truth, labels, average="macro", zero_division=0), abs=1e-12)
    if threshold == 0.8:  # a high threshold says "yes" less often than 0.5 would
        assert labels.sum() < (prob >= 0.5).sum()


def test_binary_loss_takes_labels_as_float_targets_shaped_like_the_logit():
    bce = torch.nn.BCEWithLogitsLoss()
    out = torch.tensor([[2.0], [-1.0], [0.5]])
    y = torch.tensor([1, 0, 0])
    want = bce(out, torch.tensor([[1.0], [0.0], [0.0]]))
    assert torch.equal(loop.binary_loss(bce)(out, y), want)
    assert torch.equal(loop.binary_loss(bce)(out.reshape(3), y), want)


def test_binary_predictions_use_the_threshold():
    out = torch.tensor([[-3.0], [-0.2], [0.0], [0.3], [2.0]])  # probabilities .05 .45 .5 .57 .88
    assert loop.predictions(out, "binary").tolist() == [0, 0, 1, 1, 1]
    assert loop.predictions(out, "binary", threshold=0.55).tolist() == [0, 0, 0, 1, 1]
    assert loop.predictions(out.reshape(5), "binary", threshold=0.9).tolist() == [0, 0, 0, 0, 0]
    assert loop.predictions(out.reshape(1, 5), "multilabel", threshold=0.5).tolist() == [[0, 0, 1, 1, 1]]


OPTIONAL = [*loop.BINARY_FUNCTIONS, *loop.PER_TARGET_FUNCTIONS]


def test_optional_runtime_functions_read_only_what_a_script_has():
    from .test_runtime import SCRIPT_GLOBALS

    for f in OPTIONAL:
        tree = ast.parse(inspect.getsource(f))
        bound = {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
        bound |= {n.id for n in ast.walk(tree) if isinstance(n, (ast.Name,)) and isinstance(n.ctx, ast.Store)}
        bound |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        assert read - bound - set(dir(builtins)) <= SCRIPT_GLOBALS, f.__name__


def test_the_binary_golden_holds_the_package_binary_loss():
    from .test_runtime import definitions

    golden = definitions((ROOT / "generated" / "breast_cancer_binary.py").read_text())
    assert golden["binary_loss"] == definitions(inspect.getsource(loop.binary_loss))["binary_loss"]
    others = definitions((ROOT / "generated" / "iris_mlp.py").read_text())
    assert "binary_loss" not in others and "per_target" not in others


@pytest.mark.slow  # trains an image folder and runs its script (~6 s): CI's slow run
def test_image_folder_binary_build_equals_script(tmp_path):
    """File-backed data: the DataLoader's class indices reach the one-logit loss as float
    targets too, in build and in the script."""
    import shutil

    from specdl.build.examples import write_images

    root = write_images(tmp_path / "imgs", per_class=6, size=16)
    shutil.rmtree(root / "squares")
    spec = {"name": "imgbin", "seed": 0, "data": {"source": "image_folder", "root": str(root),
                                                  "split": {"val": 0.25, "test": 0.25}},
            "model": {"layers": ["flatten", {"linear": 1}]}, "loss": "bce_with_logits",
            "train": {"epochs": 2, "batch_size": 4, "device": "cpu"}}
    built, run_dir = specdl.train(spec, out=tmp_path / "run")
    assert list(json.loads((run_dir / "report.json").read_text())["per_class"]) == ["circles", "stripes"]
    assert_same(run_script(specdl.codegen(spec), tmp_path), built)


@pytest.mark.slow  # a bundled spec trained to its figure, like the other acceptance runs
def test_bundled_binary_spec_meets_its_readme_figure(tmp_path, cli):
    """The full spec, through the CLI, as the README runs it (README: accuracy 0.97)."""
    r = cli("build", BINARY, "--out", tmp_path / "run", "-q", "-o", "train.device=cpu", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["test"]["accuracy"] >= 0.95, report["test"]
    assert f"accuracy {report['test']['accuracy']:.4f}" in r.stdout
    assert list(report["per_class"]) == ["malignant", "benign"]
