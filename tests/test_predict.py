"""`specdl predict` applies the run's own fitted preprocessing: on the held-out rows it
reproduces the test metrics of report.json exactly."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sklearn import metrics

import specdl
from specdl.sources.base import split_indices

from .conftest import ROOT, run_cli
from .test_data import CSV_CLS, write_csv


def held_out(spec, y):
    return split_indices(y, spec.data.split, spec.seed,
                         spec.data.split.stratify and specdl.check(spec).task == "classification")["test"]


def predict(run, inputs, tmp_path, fmt="csv"):
    out = tmp_path / f"pred.{fmt}"
    r = run_cli("predict", run, "--input", inputs, "--out", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    if fmt == "json":
        return json.loads(out.read_text())
    return list(csv.DictReader(open(out)))


def test_iris_rows_reproduce_test_accuracy(tmp_path):
    from sklearn.datasets import load_iris

    spec = specdl.load(ROOT / "specs" / "iris_mlp.yaml", ["train.epochs=40"])
    _, run = specdl.train(spec, out=tmp_path / "r")
    x, y = load_iris(return_X_y=True)
    idx = held_out(spec, y)
    np.save(tmp_path / "rows.npy", x[idx])
    rows = predict(run, tmp_path / "rows.npy", tmp_path)
    names = json.loads((run / "report.json").read_text())["classes"]
    pred = [names.index(r["prediction"]) for r in rows]
    report = json.loads((run / "report.json").read_text())["test"]
    assert metrics.accuracy_score(y[idx], pred) == report["accuracy"]
    assert metrics.f1_score(y[idx], pred, average="macro") == report["f1"]
    p = np.array([[float(r[f"p_{c}"]) for c in names] for r in rows])
    assert np.allclose(p.sum(axis=1), 1, atol=1e-5)
    loaded = specdl.load_run(run)  # the same in Python
    assert list(loaded.predict(x[idx])["index"]) == pred


def test_csv_rows_reproduce_test_metrics(tmp_path):
    write_csv(tmp_path / "churn.csv", missing=True)
    (tmp_path / "s.yaml").write_text(CSV_CLS)
    spec = specdl.load(tmp_path / "s.yaml")
    _, run = specdl.train(spec, out=tmp_path / "r")
    rows = list(csv.DictReader(open(tmp_path / "churn.csv")))
    y = np.array([0 if r["churn"] == "no" else 1 for r in rows])
    idx = held_out(spec, y)
    with open(tmp_path / "new.csv", "w", newline="") as f:  # the raw rows, target column dropped
        w = csv.DictWriter(f, fieldnames=["age", "income", "city", "plan", "spend"])
        w.writeheader()
        w.writerows({k: rows[i][k] for k in ("age", "income", "city", "plan", "spend")} for i in idx)
    out = predict(run, tmp_path / "new.csv", tmp_path, fmt="json")
    pred = [1 if r["prediction"] == "yes" else 0 for r in out]
    assert metrics.accuracy_score(y[idx], pred) == json.loads((run / "report.json").read_text())["test"]["accuracy"]


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_regression_predictions_in_data_units(tmp_path):
    from sklearn.datasets import load_diabetes

    spec = specdl.load(ROOT / "specs" / "diabetes_mlp.yaml", ["train.epochs=30"])
    _, run = specdl.train(spec, out=tmp_path / "r")
    x, y = load_diabetes(return_X_y=True)
    idx = held_out(spec, y)
    np.savez(tmp_path / "rows.npz", x=x[idx])
    rows = predict(run, tmp_path / "rows.npz", tmp_path)
    pred = np.array([float(r["prediction"]) for r in rows])
    report = json.loads((run / "report.json").read_text())["test"]
    assert metrics.r2_score(y[idx], pred) == report["r2"]


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_image_predictions(tmp_path):
    _, run = specdl.train(ROOT / "specs" / "cifar_cnn.yaml", out=tmp_path / "r", overrides=["train.epochs=3"])
    rows = predict(run, tmp_path / "data" / "shapes", tmp_path)
    assert len(rows) == 180 and {r["prediction"] for r in rows} <= {"circles", "squares", "stripes"}
    truth = [r["file"].split("/")[-2] for r in rows]
    acc = np.mean([t == r["prediction"] for t, r in zip(truth, rows)])
    assert acc > 0.5
