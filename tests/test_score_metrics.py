"""Metrics from scores (issue 28): roc_auc, pr_auc, log_loss and top_k_accuracy, read from
the probabilities of every classification head kind (softmax over logits, exp of a final
log_softmax, sigmoid of one logit, a sigmoid per label). The test split's numbers equal
scikit-learn's on probabilities this file computes itself, with SciPy, from the saved
model's raw outputs; a monitored score metric is computed each epoch and the others are
not; build equals the generated script."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import settings as search_settings
from hypothesis import strategies as st
from scipy.special import expit, softmax
from sklearn import metrics as skm

import specdl
from specdl.build.data import prepare
from specdl.front import analysis_of
from specdl.runtime import loop

SCORES = ["roc_auc", "pr_auc", "log_loss"]


def spec_text(data: str, layers: str, loss: str, metrics: str, train: str = "") -> str:
    return (f"name: scores\nseed: 0\ndata: {data}\nmodel:\n  layers: {layers}\nloss: {loss}\n"
            f"optimizer: {{adam: {{lr: 0.01}}}}\nmetrics: {metrics}\n"
            f"train: {{epochs: 3, batch_size: 16, device: cpu{train}}}\n")


def multilabel_npz(path):
    """Three 0/1 labels that depend on the features (an AUC far from 0.5 is possible)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    y = (x[:, :3] + 0.5 * rng.normal(size=(120, 3)) > 0).astype(np.int64)
    np.savez(path, x=x, y=y)
    return path


# head kind -> (data, layers, loss, metrics, how the test turns raw outputs into probabilities)
HEADS = {
    "softmax": ("{source: sklearn, dataset: iris, transforms: [standardize]}", "[linear: 8, relu, linear: 3]",
                "cross_entropy", "[accuracy, roc_auc, pr_auc, log_loss, {top_k_accuracy: 2}]",
                lambda out: softmax(out, axis=1)),
    "log_softmax": ("{source: sklearn, dataset: iris, transforms: [standardize]}",
                    "[linear: 8, relu, linear: 3, {log_softmax: {dim: 1}}]", "nll",
                    "[roc_auc, pr_auc, log_loss, {top_k_accuracy: 2}, f1]", np.exp),
    "two_softmax": ("{source: sklearn, dataset: breast_cancer, transforms: [standardize]}", "[linear: 2]",
                    "cross_entropy", "[roc_auc, pr_auc, log_loss, accuracy]", lambda out: softmax(out, axis=1)),
    "one_logit": ("{source: sklearn, dataset: breast_cancer, transforms: [standardize]}", "[linear: 1]",
                  "bce_with_logits", "[accuracy, roc_auc, pr_auc, log_loss]", lambda out: expit(out).reshape(-1)),
    "multilabel": ("{source: npz, path: DATA, task: multilabel}", "[linear: 8, relu, linear: 3]",
                   "bce_with_logits", "[accuracy, roc_auc, pr_auc, log_loss]", expit),
}


def sklearn_scores(head: str, y: np.ndarray, p: np.ndarray) -> dict:
    """scikit-learn's numbers, written out here for each head kind."""
    if head == "multilabel":  # macro over the labels; the log loss over every (row, label)
        return {"roc_auc": skm.roc_auc_score(y, p, average="macro"),
                "pr_auc": skm.average_precision_score(y, p, average="macro"),
                "log_loss": np.mean([skm.log_loss(y[:, j], np.stack([1 - p[:, j], p[:, j]], 1), labels=[0, 1])
                                     for j in range(y.shape[1])])}
    if head == "one_logit":  # class 1's probability; the log loss with both columns
        return {"roc_auc": skm.roc_auc_score(y, p), "pr_auc": skm.average_precision_score(y, p),
                "log_loss": skm.log_loss(y, np.stack([1 - p, p], 1), labels=[0, 1])}
    if head == "two_softmax":
        return {"roc_auc": skm.roc_auc_score(y, p[:, 1]), "pr_auc": skm.average_precision_score(y, p[:, 1]),
                "log_loss": skm.log_loss(y, p, labels=[0, 1])}
    classes = list(range(p.shape[1]))
    return {"roc_auc": skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=classes),
            "pr_auc": np.mean([skm.average_precision_score(y == c, p[:, c]) for c in classes]),
            "log_loss": skm.log_loss(y, p, labels=classes),
            "top_k_accuracy": skm.top_k_accuracy_score(y, p, k=2, labels=classes)}


def trained(head: str, tmp_path, train: str = ""):
    data, layers, loss, metrics, _ = HEADS[head]
    if head == "multilabel":
        data = data.replace("DATA", str(multilabel_npz(tmp_path / "m.npz")))
    (tmp_path / "s.yaml").write_text(spec_text(data, layers, loss, metrics, train))
    return specdl.train(tmp_path / "s.yaml", out=tmp_path / "run")


@pytest.mark.parametrize("head", list(HEADS))
def test_test_split_scores_equal_scikit_learns_on_the_models_own_outputs(head, tmp_path):
    reported, run_dir = trained(head, tmp_path)
    run = specdl.load_run(run_dir)
    arrays = prepare(run.spec, run.analysis)
    with torch.no_grad():
        out = run.model(torch.as_tensor(arrays.x["test"], dtype=torch.float32)).double().numpy()
    p = HEADS[head][4](out)
    want = sklearn_scores(head, arrays.y_true["test"], p)
    assert set(want) <= set(reported)
    for name, value in want.items():
        assert reported[name] == pytest.approx(value, abs=1e-12), name
    assert 0.5 < reported["roc_auc"] <= 1.0  # three epochs learn something: not a constant score
    report = json.loads((run_dir / "report.json").read_text())
    assert {k: report["test"][k] for k in want} == {k: reported[k] for k in want}
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert not any(k.startswith(("val_roc", "val_pr", "val_log", "val_top")) for r in rows for k in r)


def test_evaluate_and_predict_read_the_same_probabilities(tmp_path):
    """specdl evaluate on the run's own data gives the same score metrics as a direct
    computation on predict's probabilities (both read runtime/loop.py's ``probabilities``)."""
    reported, run_dir = trained("one_logit", tmp_path)
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    np.savez(tmp_path / "all.npz", x=x, y=y)
    got = specdl.evaluate(run_dir, tmp_path / "all.npz")
    proba = specdl.predict(run_dir, x)["probabilities"]
    assert proba.shape == (len(x), 2)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]), abs=1e-6)  # predict's are float32
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=[0, 1]), abs=1e-6)


def test_a_monitored_score_metric_is_computed_each_epoch(tmp_path):
    reported, run_dir = trained("softmax", tmp_path, ", checkpoint: {monitor: val_roc_auc}")
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(0.0 <= r["val_roc_auc"] <= 1.0 for r in rows)
    assert not any("val_log_loss" in r or "val_pr_auc" in r for r in rows)  # not monitored
    assert all("val_accuracy" in r for r in rows)  # the first metric from predictions, for the curves


def analysis(metrics: str, train: str = "", data: str = "{source: sklearn, dataset: iris}", last: str = "linear: 3",
             loss: str = "cross_entropy"):
    return analysis_of(specdl.load(spec_text(data, f"[{last}]", loss, metrics, train)))


def test_watched_metrics_take_a_score_metric_only_where_monitored():
    assert analysis("[roc_auc, log_loss, f1]").watched_metrics() == ["f1"]
    assert analysis("[roc_auc, log_loss]").watched_metrics() == []
    a = analysis("[roc_auc, log_loss]", ", early_stopping: {monitor: val_log_loss, patience: 2}")
    assert a.watched_metrics() == ["log_loss"]
    assert a.es_mode() == "min"  # a lower log loss is better, a higher AUC
    assert analysis("[roc_auc]", ", checkpoint: {monitor: val_roc_auc}").mode == "max"


@pytest.mark.parametrize(("last", "loss", "how"), [("linear: 3", "cross_entropy", "softmax"),
                                                   ("{log_softmax: {dim: 1}}", "nll", "exp"),
                                                   ("{softmax: {dim: 1}}", "cross_entropy", "as_is")])
def test_the_analysis_says_how_outputs_become_probabilities(last, loss, how):
    layers = f"linear: 3, {last}" if last != "linear: 3" else last
    assert analysis("[roc_auc]", last=layers, loss=loss).probability == how


def test_probabilities_per_head_kind():
    out = torch.tensor([[0.5, -1.0, 2.0], [3.0, 0.0, -2.0]], dtype=torch.float64)
    assert np.allclose(loop.probabilities(out, "softmax").numpy(), softmax(out.numpy(), axis=1), rtol=0, atol=1e-15)
    assert np.allclose(loop.probabilities(out, "exp").numpy(), np.exp(out.numpy()), rtol=0, atol=1e-15)
    assert np.allclose(loop.probabilities(out, "sigmoid").numpy(), expit(out.numpy()), rtol=0, atol=1e-15)
    one = torch.tensor([[2.0], [-1.0]])
    pred = loop.scored_predictions(one, "sigmoid", "binary", threshold=0.9)
    assert pred.tolist() == [0, 0] and pred.probabilities.shape == (2,)  # 0.88 < 0.9: the threshold decides
    assert pred.probabilities == pytest.approx(expit([2.0, -1.0]), abs=1e-15)
    assert isinstance(loop.predictions(one, "binary"), np.ndarray) and not hasattr(loop.predictions(one, "binary"),
                                                                                   "probabilities")


@pytest.mark.slow
@pytest.mark.parametrize("head", ["log_softmax", "one_logit", "multilabel"])
def test_build_equals_script_monitoring_val_roc_auc(head, tmp_path):
    from .test_runtime import build_and_script

    data, layers, loss, metrics, _ = HEADS[head]
    if head == "multilabel":
        data = data.replace("DATA", str(multilabel_npz(tmp_path / "m.npz")))
    (tmp_path / "s.yaml").write_text(spec_text(data, layers, loss, metrics, ", checkpoint: {monitor: val_roc_auc}"))
    script_text = specdl.codegen(specdl.load(tmp_path / "s.yaml"))
    roc = next(line for line in script_text.splitlines() if '"roc_auc": lambda' in line)
    assert "metrics.roc_auc_score(" in roc and "y_pred.probabilities" in roc  # a scikit-learn call on them
    assert "def scored_predictions(" in script_text and '"roc_auc"' in script_text
    built, script = build_and_script(tmp_path / "s.yaml", [], tmp_path)
    assert list(script) == list(built)
    for k in built:
        assert script[k] == pytest.approx(built[k], abs=1e-6), k


@pytest.mark.slow  # ~6 s: the script runs in a subprocess
def test_build_equals_script_monitoring_val_roc_auc_iris(tmp_path):
    """The default run's case: several classes, roc_auc monitored, top-k and log loss on test."""
    from .test_runtime import build_and_script

    data, layers, loss, metrics, _ = HEADS["softmax"]
    (tmp_path / "s.yaml").write_text(spec_text(data, layers, loss, metrics, ", checkpoint: {monitor: val_roc_auc}"))
    built, script = build_and_script(tmp_path / "s.yaml", [], tmp_path)
    assert list(script) == list(built)
    assert {"roc_auc", "pr_auc", "log_loss", "top_k_accuracy"} <= set(built)
    for k in built:
        assert script[k] == pytest.approx(built[k], abs=1e-6), k


def test_a_spec_without_score_metrics_gets_the_plain_predictions():
    text = specdl.codegen(specdl.load(spec_text("{source: sklearn, dataset: iris}", "[linear: 3]", "cross_entropy",
                                                "[accuracy]")))
    assert "functools.partial(predictions, task=" in text
    assert "scored_predictions" not in text and "class Scored" not in text


@pytest.mark.slow  # ~5 s: a study of two trials
def test_tune_searches_on_val_roc_auc(tmp_path):
    """search.metric: val_roc_auc is what every trial monitors and the study maximises."""
    import yaml

    spec = {"name": "tiny-auc", "seed": 0,
            "data": {"source": "sklearn", "dataset": "breast_cancer", "transforms": ["standardize"]},
            "model": {"layers": [{"linear": 1}]}, "loss": "bce_with_logits", "optimizer": {"adam": {"lr": 0.01}},
            "train": {"epochs": 2, "batch_size": 64, "device": "cpu", "threads": 1},
            "metrics": ["accuracy", "roc_auc"],
            "search": {"trials": 2, "metric": "val_roc_auc",
                       "space": {"optimizer.adam.lr": {"choice": [0.001, 0.03]}}}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    study, best = specdl.tune(tmp_path / "s.yaml", out=tmp_path / "t")
    assert study.direction.name == "MAXIMIZE" and best.train.checkpoint.monitor == "val_roc_auc"
    values = sorted(t.value for t in study.trials)
    assert len(values) == 2 and all(0.5 < v <= 1.0 for v in values)


def test_log_loss_on_float32_probabilities_is_not_a_note_of_build():
    """exp of a float32 log_softmax sums to one within float32's rounding; scikit-learn's
    warning about it says nothing about the user's data, so build drops it."""
    from specdl.notes import note_for

    p = np.exp(torch.log_softmax(torch.tensor([[0.3, 1.1, -2.0]] * 4), 1).double().numpy())
    with pytest.warns(UserWarning, match="do not sum to one") as caught:
        skm.log_loss([0, 1, 2, 1], p + 1e-7, labels=[0, 1, 2])  # 1e-7: a float32 rounding of each
    assert note_for(caught[0].message, UserWarning) == ""
    assert note_for("Some other warning", UserWarning) is None


def score(name: str, kind: str, classes: int, y_true, out, how: str) -> float:
    """A registered score metric as build computes it, on scored predictions of ``out``."""
    from specdl.components.base import REGISTRY

    y_pred = loop.scored_predictions(torch.as_tensor(out), how, kind)
    return float(REGISTRY["metric"][name]().function(kind, classes)(y_true, y_pred))


@pytest.mark.parametrize("seed", range(5))
def test_several_classes_every_one_present_is_scikit_learns_one_vs_rest(seed):
    rng = np.random.default_rng(seed)
    out, y = rng.normal(size=(40, 4)), np.arange(40) % 4
    p = softmax(out, axis=1)
    assert score("roc_auc", "classification", 4, y, out, "softmax") == pytest.approx(
        skm.roc_auc_score(y, p, multi_class="ovr", labels=[0, 1, 2, 3]), abs=1e-12)
    assert score("pr_auc", "classification", 4, y, out, "softmax") == pytest.approx(
        skm.average_precision_score(y, p), abs=1e-12)


def test_a_class_absent_from_the_split_is_left_out_not_a_nan():
    """roc_auc and pr_auc over the classes the split holds (scikit-learn: NaN, or an error)."""
    rng = np.random.default_rng(1)
    out, y = rng.normal(size=(30, 4)), np.arange(30) % 3  # class 3 absent
    p = softmax(out, axis=1)
    with pytest.warns(UserWarning, match=r"over the classes present: classes \[3\] have no sample") as said:
        roc = score("roc_auc", "classification", 4, y, out, "softmax")
        pr = score("pr_auc", "classification", 4, y, out, "softmax")
    assert len(said) == 2  # one for each metric
    assert roc == pytest.approx(np.mean([skm.roc_auc_score(y == c, p[:, c]) for c in range(3)]), abs=1e-12)
    assert pr == pytest.approx(np.mean([skm.average_precision_score(y == c, p[:, c]) for c in range(3)]), abs=1e-12)
    with pytest.raises(ValueError):  # what scikit-learn's multi-class average precision does here
        skm.average_precision_score(y, p)
    labels = (rng.random((30, 3)) < 0.5).astype(np.int64)
    labels[:, 1] = 1  # a label every row holds: no ROC curve, but an average precision of 1
    outs = rng.normal(size=(30, 3))
    q = expit(outs)
    with pytest.warns(UserWarning, match=r"classes \[1\] have no sample, or every one"):
        multilabel_roc = score("roc_auc", "multilabel", 3, labels, outs, "sigmoid")
    assert multilabel_roc == pytest.approx(np.mean([skm.roc_auc_score(labels[:, j], q[:, j]) for j in (0, 2)]),
                                           abs=1e-12)
    assert score("pr_auc", "multilabel", 3, labels, outs, "sigmoid") == pytest.approx(
        skm.average_precision_score(labels, q), abs=1e-12)


# ------------------------------------------- the per-epoch path: NumPy == scikit-learn
@st.composite
def scored_problems(draw):
    """A head kind with random scores (ties drawn often: a few distinct values) and labels,
    sometimes lacking a class or a label's positives."""
    kind = draw(st.sampled_from(["binary", "two", "several", "multilabel"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    levels = draw(st.sampled_from([3, 7, 1000]))  # how many distinct scores: ties with 3 or 7
    classes = {"binary": 2, "two": 2, "several": draw(st.integers(3, 6)), "multilabel": draw(st.integers(2, 5))}[kind]
    n = draw(st.integers(classes + 2, 60))
    width = 1 if kind == "binary" else classes
    out = rng.integers(0, levels, size=(n, width)) / levels * 6 - 3
    if kind == "multilabel":
        y = (rng.random((n, classes)) < 0.5).astype(np.int64)
        y[:, 0] = draw(st.sampled_from([0, 1])) if draw(st.booleans()) else y[:, 0]  # a label never / always on
    else:
        y = rng.integers(0, classes - draw(st.sampled_from([0, 1])) if kind == "several" else classes, size=n)
    y[:2] = [[0] * classes, [1] * classes] if kind == "multilabel" else [0, 1]  # each binary problem has both
    if kind == "several":
        y[2:classes] = np.arange(2, classes) if draw(st.booleans()) else y[2:classes]
    return kind, classes, out, y


@given(scored_problems(), st.sampled_from(SCORES))
@search_settings(max_examples=300, deadline=None)
def test_the_numpy_epoch_scores_equal_scikit_learns(problem, name):
    """runtime/metrics.py's epoch_score against the registry's scikit-learn call (build's
    and the script's test split) on the same Scored predictions, to 1e-12."""
    import warnings

    from specdl.components.base import REGISTRY
    from specdl.runtime import metrics

    kind, classes, out, y = problem
    how = "sigmoid" if kind in ("binary", "multilabel") else "softmax"
    task = {"two": "classification", "several": "classification"}.get(kind, kind)
    y_pred = loop.scored_predictions(torch.as_tensor(out), how, task)
    fn = REGISTRY["metric"][name]().function(task, classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class left out: said once, as a note (tested below)
        want, got = fn(y, y_pred), metrics.epoch_score(name, fn)(y, y_pred)
    assert got == pytest.approx(want, abs=1e-12, nan_ok=True)


def test_epoch_score_defers_to_epoch_metric_and_scikit_learn():
    from specdl.runtime import metrics

    y, pred = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    assert metrics.epoch_score("accuracy", None)(y, pred) == 0.75  # epoch_metric's NumPy accuracy
    assert metrics.epoch_score("top_k_accuracy", "sklearn's") == "sklearn's"  # top-k: the function given


def test_a_class_left_out_is_one_note_naming_it():
    import io

    from specdl.notes import third_party_notes
    from specdl.runtime import metrics

    err = io.StringIO()
    with third_party_notes(err):
        for _ in range(3):  # each epoch: said once
            metrics.present_classes(np.array([0, 1, 0, 1]), np.full((4, 3), 1 / 3))
    assert err.getvalue() == ("specdl: note: roc_auc and pr_auc over the classes present: classes [2] have no "
                              "sample, or every one, in this split; the mean is over the 2 others\n")


# ------------------------------------------- a split lacking a class: check warns, build writes null
def lacking_split(tmp_path, classes: int):
    """An npz and a seed whose unstratified val split lacks class 1 (the test draws the split
    itself with the function build uses), and a spec monitoring val_roc_auc on it."""
    from specdl.runtime.splits import split_rows

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = np.where(np.arange(40) % 8 == 0, 1, 0) if classes == 2 else np.arange(40) % classes
    seed = next(s for s in range(200) if 1 not in y[split_rows(y, 0.1, 0.2, s, False)["val"]]
                and 1 in y[split_rows(y, 0.1, 0.2, s, False)["test"]])
    np.savez(tmp_path / "d.npz", x=x, y=y)
    head = "[linear: 1]\nloss: bce_with_logits" if classes == 2 else f"[linear: {classes}]"
    (tmp_path / "s.yaml").write_text(
        f"name: lacking\nseed: {seed}\ndata: {{source: npz, path: d.npz, split: {{val: 0.1, test: 0.2, "
        f"stratify: false}}}}\nmodel:\n  layers: {head}\nmetrics: [accuracy, roc_auc]\n"
        "train: {epochs: 2, batch_size: 8, device: cpu, checkpoint: {monitor: val_roc_auc}}\n")
    return seed


@pytest.mark.parametrize("classes", [2, 4])
def test_check_warns_of_a_split_lacking_a_class(classes, tmp_path):
    from .conftest import run_cli

    seed = lacking_split(tmp_path, classes)
    r = run_cli("check", tmp_path / "s.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    then = ("roc_auc and pr_auc are not defined there (null in metrics.jsonl and report.json)" if classes == 2
            else "roc_auc and pr_auc there are means over the others")
    line = next(ln for ln in r.stderr.splitlines() if "the val split" in ln)
    at = 7 if classes == 2 else 6  # the metrics' line: after the loss's, for one logit
    assert line.startswith(f"{tmp_path / 's.yaml'}:{at}:21: warning: metrics[1] (roc_auc): the val split (seed {seed}) "
                           f"has no sample of class")
    assert line.endswith(f": {then}; a larger split, or split.stratify: true, holds every class")


@pytest.mark.slow  # ~6 s: a build in a subprocess
def test_a_binary_val_split_of_one_class_is_null_in_metrics_jsonl_with_a_note(tmp_path):
    from .conftest import run_cli

    lacking_split(tmp_path, 2)
    r = run_cli("build", tmp_path / "s.yaml", "--out", tmp_path / "r", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "r" / "metrics.jsonl").read_text()
    rows = [json.loads(line) for line in text.splitlines()]
    assert "NaN" not in text and [row["val_roc_auc"] for row in rows] == [None, None]
    assert r.stderr.count("specdl: note: val_roc_auc is nan at epoch 1 (not defined on the validation split: "
                          "it lacks a class, or has too few samples); metrics.jsonl holds null there") == 1
    assert np.isfinite(json.loads((tmp_path / "r" / "report.json").read_text())["test"]["roc_auc"])
