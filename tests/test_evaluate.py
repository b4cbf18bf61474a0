"""`specdl evaluate RUN --input FILE`: on the held-out rows of a run, written to a new
labelled file, the metrics are report.json's test metrics; bad labelled files are one
line each, exit 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import specdl

from .conftest import ROOT, run_cli
from .test_data import CSV_CLS, write_csv
from .test_data_hardening import image_folder, one_line
from .test_predict import held_out


def _report(run):
    return json.loads((Path(run) / "report.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """iris (classification), diabetes (regression, target standardized), a CSV run
    (categories, blanks, fill) and an image-folder run; each with its held-out rows."""
    from sklearn.datasets import load_diabetes, load_iris

    root = tmp_path_factory.mktemp("evaluate")
    out = {}
    for name, loader, epochs in (("iris", load_iris, 20), ("diabetes", load_diabetes, 10)):
        spec = specdl.load(ROOT / "specs" / f"{name}_mlp.yaml", [f"train.epochs={epochs}", "train.device=cpu"])
        run = specdl.train(spec, out=root / name).run_dir
        x, y = loader(return_X_y=True)
        out[name] = (run, x[held_out(spec, y)], y[held_out(spec, y)])
    write_csv(root / "churn.csv", missing=True)
    (root / "churn.yaml").write_text(CSV_CLS.replace("path: churn.csv", f"path: {root}/churn.csv")
                                     .replace("epochs: 15", "epochs: 3, device: cpu"))
    spec = specdl.load(root / "churn.yaml")
    rows = list(csv.DictReader(open(root / "churn.csv")))
    idx = held_out(spec, np.array([r["churn"] == "yes" for r in rows], dtype=np.int64))
    out["churn"] = (specdl.train(spec, out=root / "churn").run_dir, [rows[i] for i in idx], None)
    image_folder(root / "img")
    (root / "img.yaml").write_text(f"data: {{source: image_folder, root: {root}/img}}\n"
                                   "model: {layers: [flatten, {linear: 2}]}\ntrain: {epochs: 1, device: cpu}\n")
    out["img"] = (specdl.train(specdl.load(root / "img.yaml"), out=root / "img-run").run_dir, root / "img", None)
    return out


def write_rows(path, x, labels, names=("a", "b", "c", "d"), target="target"):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*names[:x.shape[1]], target])
        w.writerows([*map(repr, map(float, row)), label] for row, label in zip(x, labels))
    return path


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_iris_held_out_rows_give_the_reports_test_metrics(runs, tmp_path):
    run, x, y = runs["iris"]
    report = _report(run)
    names = report["classes"]
    rows = write_rows(tmp_path / "held.csv", x, [names[i] for i in y])
    assert specdl.evaluate(run, rows) == report["test"]
    np.savez(tmp_path / "held.npz", x=x, y=y)  # class indices in an .npz
    assert specdl.evaluate(run, tmp_path / "held.npz") == report["test"]
    r = run_cli("evaluate", run, "--input", rows, "--out", tmp_path / "ev.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert ev["test"] == report["test"] and ev["samples"] == len(y)
    assert ev["per_class"] == report["per_class"] and ev["confusion_matrix"] == report["confusion_matrix"]
    assert "per class" in r.stdout and "confusion (rows: true, columns: predicted)" in r.stdout
    assert all(n in r.stdout for n in names)
    assert f"accuracy {report['test']['accuracy']:.4f}" in r.stdout


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_regression_rows_through_the_target_transform(runs, tmp_path):
    run, x, y = runs["diabetes"]
    cols = [f"f{i}" for i in range(10)]
    rows = write_rows(tmp_path / "held.csv", x, y, names=cols, target="progression")
    got = specdl.evaluate(run, rows, target="progression")
    assert got == pytest.approx(_report(run)["test"], rel=1e-9, abs=1e-12)
    r = run_cli("evaluate", run, "--input", rows, "--target", "progression", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"r2 {got['r2']:.4f}" in r.stdout and "per class" not in r.stdout


def test_csv_run_with_categories_and_blanks(runs, tmp_path):
    run, rows, _ = runs["churn"]
    with open(tmp_path / "new.csv", "w", newline="") as f:  # another column order, an extra column
        w = csv.DictWriter(f, fieldnames=["churn", "plan", "spend", "city", "income", "age"])
        w.writeheader()
        w.writerows({k: r[k] for k in w.fieldnames} for r in rows)
    assert any(r["age"] == "" for r in rows)  # blanks filled as in training
    got = specdl.evaluate(run, tmp_path / "new.csv", details=True)
    report = _report(run)
    assert got["test"] == report["test"] and got["confusion_matrix"] == report["confusion_matrix"]
    assert got["classes"] == ["no", "yes"]


def test_image_folder_scores_match_predict(runs, tmp_path):
    run, folder, _ = runs["img"]
    got = specdl.evaluate(run, folder, details=True)
    pred = specdl.load_run(run)
    from specdl.runs.inputs import read_inputs

    raw = read_inputs(pred, folder)
    p = pred.predict(raw)
    truth = [Path(f).parent.name for f in raw.files]
    assert got["samples"] == 16 and sum(map(sum, got["confusion_matrix"])) == 16
    assert got["test"]["accuracy"] == np.mean([t == q for t, q in zip(truth, p["prediction"])])
    assert [c["support"] for c in got["per_class"].values()] == [8, 8]


def _bad_files(tmp, runs):
    """(run, input, extra args, what the one line says)."""
    iris, x, y = runs["iris"]
    churn = runs["churn"][0]
    write_rows(tmp / "nolabel.csv", x, y).write_text("a,b,c,d\n1,2,3,4\n")
    write_rows(tmp / "unknown.csv", x[:3], ["setosa", "rose", "setosa"])
    write_rows(tmp / "index.csv", x[:3], ["0", "1", "2"])  # iris labels are names, not indices
    write_rows(tmp / "narrow.csv", x[:3, :3], ["setosa"] * 3)
    write_rows(tmp / "blank.csv", x[:3], ["setosa", "", "setosa"])
    (tmp / "text.csv").write_text("age,income,city,plan,churn\n30,50,paris,pro,maybe\n")
    np.savez(tmp / "range.npz", x=x[:3], y=np.array([0, 1, 7]))
    np.savez(tmp / "short.npz", x=x[:3], y=np.array([0, 1]))
    np.savez(tmp / "nokey.npz", x=x[:3], labels=np.array([0, 1, 2]))
    np.savez(tmp / "frac.npz", x=x[:3], y=np.array([0.5, 1, 2]))
    np.save(tmp / "plain.npy", x[:3])
    img = image_folder(tmp / "img")
    (img / "c").mkdir()
    (img / "b").rename(img / "c" / "b")
    loose = image_folder(tmp / "loose")
    (loose / "a" / "0.png").rename(loose / "0.png")
    return [
        (iris, "nolabel.csv", [], "has no column `target`; its columns are: a, b, c, d"),
        (iris, "unknown.csv", [], "unknown.csv line 3, column `target`: 'rose' is not one of the run's classes "
                                  "(setosa, versicolor, virginica)"),
        (iris, "index.csv", [], "'0' is not one of the run's classes"),
        (iris, "narrow.csv", [], "holds samples of shape [3]; the model takes [4] per sample"),
        (iris, "blank.csv", [], "blank.csv line 3: the target `target` has no value"),
        (churn, "text.csv", [], "text.csv line 2, column `churn`: 'maybe' is not one of the run's classes (no, yes)"),
        (churn, "text.csv", ["--target", "plan"], "this run's target column is `churn`"),
        (iris, "range.npz", [], "row 2 holds class 7; the run has classes 0..2"),
        (iris, "short.npz", [], "`x` holds 3 samples but `y` is [2]"),
        (iris, "nokey.npz", [], "has no array `y`"),
        (iris, "frac.npz", [], "holds fractional or NaN values; give class indices"),
        (iris, "plain.npy", [], "cannot read labels from"),
        (iris, "absent.csv", [], "absent.csv does not exist"),
        (runs["img"][0], "img", [], "`c` is not one of the run's classes (a, b)"),
        (runs["img"][0], "loose", [], "0.png is not in a class sub-folder"),
        (runs["img"][0], "plain.npy", [], "is not a folder: give an image folder"),
    ]


@pytest.mark.slow  # many CLI processes; CI runs it (pytest -m slow)
def test_bad_labelled_files_are_one_line(runs, tmp_path):
    for run, name, extra, want in _bad_files(tmp_path, runs):
        line = one_line(run_cli("evaluate", run, "--input", tmp_path / name, *extra, cwd=tmp_path))
        assert line.startswith("specdl: error: ") and want in line, (name, line)


def test_regression_targets_must_be_numbers(runs, tmp_path):
    run, x, _ = runs["diabetes"]
    cols = [f"f{i}" for i in range(10)]
    write_rows(tmp_path / "t.csv", x[:2], ["12.5", "lots"], names=cols)
    with pytest.raises(specdl.RunError, match=r"t.csv line 3, column `target` holds 'lots', not a number"):
        specdl.evaluate(run, tmp_path / "t.csv")
    np.savez(tmp_path / "t.npz", x=x[:2], y=np.ones((2, 3)))
    with pytest.raises(specdl.RunError, match=r"the targets are \[3\] per sample; the run predicts \[1\]"):
        specdl.evaluate(run, tmp_path / "t.npz")


def test_public_functions_are_not_shadowed_by_modules():
    """`import specdl.x` binds the module over a function of the same name (specdl.export
    was the module once the trainer had imported it): no public name is a module's."""
    package = Path(specdl.__file__).parent
    clash = [n for n in specdl.__all__ if callable(getattr(specdl, n)) and
             ((package / f"{n}.py").exists() or (package / n).is_dir())]
    assert clash == []
    import importlib

    for module in ("runs.evaluate", "build.onnx", "runs.deploy", "runs.loaded", "runs.predict", "script.render",
                   "tuning.run"):
        importlib.import_module(f"specdl.{module}")
    assert callable(specdl.export) and callable(specdl.evaluate)


@pytest.mark.parametrize("task", ["multilabel", "two targets"])
def test_npz_labels_of_several_values(task, tmp_path):
    from specdl.sources.base import split_indices

    x = np.random.default_rng(0).normal(size=(200, 5))
    if task == "multilabel":
        y = (x[:, :3] > 0).astype(np.int64)
        head = "task: multilabel, split: {stratify: false}}\nmodel: {layers: [{linear: 8}, relu, {linear: 3}]}\n" \
               "loss: bce_with_logits\n"
    else:
        y = np.stack([x[:, 0] + x[:, 1], 2 * x[:, 2]], 1)
        head = "target_transforms: [standardize]}\nmodel: {layers: [{linear: 8}, relu, {linear: 2}]}\nloss: mse\n"
    np.savez(tmp_path / "d.npz", x=x, y=y)
    (tmp_path / "s.yaml").write_text(f"data: {{source: npz, path: {tmp_path}/d.npz, {head}"
                                     "train: {epochs: 2, device: cpu}\n")
    spec = specdl.load(tmp_path / "s.yaml")
    metrics, run = specdl.train(spec, out=tmp_path / "r")
    idx = split_indices(y, spec.data.split, spec.seed, False)["test"]
    np.savez(tmp_path / "held.npz", x=x[idx], y=y[idx])
    assert specdl.evaluate(run, tmp_path / "held.npz") == metrics
    write_rows(tmp_path / "held.csv", x[idx], ["1"] * len(idx), names="abcde")
    with pytest.raises(specdl.RunError, match="targets of several values; give the labels in an .npz"):
        specdl.evaluate(run, tmp_path / "held.csv")


def test_a_binary_run_one_logit_and_its_threshold(tmp_path):
    """One logit, bce_with_logits: evaluate scores as the trainer does (the labels as
    float 0/1 for the loss, train.threshold for the labels)."""
    from sklearn.datasets import load_breast_cancer

    spec = specdl.load(ROOT / "specs" / "breast_cancer_binary.yaml",
                       ["train.epochs=3", "train.device=cpu", "train.threshold=0.7"])
    run = specdl.train(spec, out=tmp_path / "run").run_dir
    x, y = load_breast_cancer(return_X_y=True)
    idx = held_out(spec, y)
    np.savez(tmp_path / "held.npz", x=x[idx], y=y[idx])
    assert specdl.evaluate(run, tmp_path / "held.npz") == _report(run)["test"]
