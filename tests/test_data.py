"""Data sources: CSV (numeric and categorical), npz, image folders, synthetic; the
generated script reproduces build on each; bad data is one clear line, exit 2."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

import specdl

from .conftest import ROOT, run_cli


def write_csv(path, n=240, missing=False, seed=0):
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["age", "income", "city", "plan", "spend", "churn"])
        for i in range(n):
            age, income = rng.uniform(18, 70), rng.normal(50, 15)
            city, plan = rng.choice(["paris", "lyon", "nice"]), rng.choice(["basic", "pro"])
            score = 0.05 * (age - 40) + (1.5 if plan == "pro" else -1) + (0.8 if city == "nice" else 0)
            spend = 10 * score + 0.1 * income + rng.normal(0, 1)
            cell = "" if missing and i % 17 == 3 else f"{age:.1f}"
            w.writerow([cell, f"{income:.2f}", city, plan, f"{spend:.3f}", "yes" if score > 0 else "no"])
    return path


def spec_file(tmp_path, text, name="s.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def build_and_script(spec, tmp_path):
    """specdl build's test metrics, and the generated script's (build and codegen in
    process; the script as a program)."""
    built, _ = specdl.train(spec, out=tmp_path / "run")
    (tmp_path / "script.py").write_text(specdl.codegen(spec))
    r = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return built, json.loads(r.stdout.strip().splitlines()[-1])


CSV_CLS = """
name: churn
data:
  source: csv
  path: churn.csv
  target: churn
  features: [age, income, city, plan]
  categorical: [city, plan]
  transforms: [{fill: median}, standardize]
model: {layers: [{linear: 16}, relu, {linear: 2}]}
optimizer: {adam: {lr: 0.01}}
train: {epochs: 15}
metrics: [accuracy, f1]
"""


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_csv_classification_with_categories_and_missing_values(tmp_path):
    write_csv(tmp_path / "churn.csv", missing=True)
    a = specdl.check(spec_file(tmp_path, CSV_CLS))
    assert a.task == "classification" and a.data.classes == 2
    assert a.graph.input.shape == ("N", 2 + 3 + 2)  # 2 numeric + 3 cities + 2 plans
    built, script = build_and_script(tmp_path / "s.yaml", tmp_path)
    assert built["accuracy"] > 0.8
    assert script == pytest.approx(built, abs=1e-6)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["classes"] == ["no", "yes"]


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_csv_regression(tmp_path):
    write_csv(tmp_path / "churn.csv")
    text = (CSV_CLS.replace("target: churn", "target: spend").replace("{linear: 2}", "{linear: 1}")
            .replace("[accuracy, f1]", "[r2, mae]")
            .replace("transforms: [{fill: median}, standardize]",
                     "transforms: [standardize]\n  target_transforms: [standardize]"))
    spec = spec_file(tmp_path, text)
    a = specdl.check(spec)
    assert a.task == "regression"
    built, script = build_and_script(spec, tmp_path)
    assert built["r2"] > 0.8
    assert script == pytest.approx(built, abs=1e-6)


def several_targets(tmp_path, target="[spend, age]", extra=""):
    write_csv(tmp_path / "churn.csv")
    text = (CSV_CLS.replace("target: churn", f"target: {target}{extra}")
            .replace("features: [age, income, city, plan]", "features: [income, city, plan]")
            .replace("[accuracy, f1]", "[r2, mae]").replace("train: {epochs: 15}", "train: {epochs: 4}")
            .replace("transforms: [{fill: median}, standardize]",
                     "transforms: [standardize]\n  target_transforms: [standardize]"))
    return spec_file(tmp_path, text)


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_csv_target_columns_make_a_multi_target_regression(tmp_path):
    spec = several_targets(tmp_path)
    a = specdl.check(spec)
    assert a.task == "regression" and a.target_names() == ["spend", "age"]
    built, script = build_and_script(spec, tmp_path)
    assert {"r2", "r2[spend]", "r2[age]", "mae[age]"} <= set(built)
    assert script == pytest.approx(built, abs=1e-6)
    assert set(specdl.evaluate(tmp_path / "run", tmp_path / "churn.csv")) >= {"r2[spend]", "r2[age]"}  # both columns
    r = run_cli("predict", tmp_path / "run", "--input", "churn.csv", cwd=tmp_path)  # a column per target
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "prediction_spend,prediction_age", r.stderr


@pytest.mark.parametrize("target, extra, words", [
    ("[spend, churn]", "", "data.target (csv): the target `churn` holds 'no'; several target columns make a "
                           "multi-target regression, of numbers"),
    ("[spend, agee]", "", "data.target[1] (csv): no column `agee` in churn.csv; did you mean `age`?"),
    ("[spend, spend]", "", "data.target: `spend` is listed twice"),
    ("[]", "", "data.target: give the target column, or a list of target columns"),
    ("[spend, age]", "\n  task: classification", "several target columns make a multi-target regression, "
                                                  "not classification"),
], ids=["text", "missing", "twice", "empty", "task"])
def test_bad_target_columns_are_one_located_line(tmp_path, target, extra, words):
    r = run_cli("check", several_targets(tmp_path, target, extra), cwd=tmp_path)
    errors = [ln for ln in r.stderr.splitlines() if ": error: " in ln]
    assert r.returncode == 2 and len(errors) == 1 and words in errors[0], r.stderr


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_npz_source(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    np.savez(tmp_path / "d.npz", features=x, labels=(x[:, 0] + x[:, 1] > 0).astype(np.int64))
    spec = spec_file(tmp_path, "data: {source: npz, path: d.npz, x: features, y: labels}\n"
                               "model: {layers: [{linear: 8}, relu, {linear: 2}]}\n"
                               "optimizer: {adam: {lr: 0.02}}\ntrain: {epochs: 10}\n")
    built, script = build_and_script(spec, tmp_path)
    assert built["accuracy"] > 0.85 and script == pytest.approx(built, abs=1e-6)


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_multilabel_npz(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 6))
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0, x[:, 3] < 0], axis=1).astype(np.int64)
    np.savez(tmp_path / "m.npz", x=x, y=y)
    spec = spec_file(tmp_path, "data: {source: npz, path: m.npz, task: multilabel, split: {stratify: false}}\n"
                               "model: {layers: [{linear: 16}, relu, {linear: 3}]}\nloss: bce_with_logits\n"
                               "optimizer: {adam: {lr: 0.02}}\ntrain: {epochs: 15}\n")
    built, script = build_and_script(spec, tmp_path)
    assert built["f1"] > 0.8 and script == pytest.approx(built, abs=1e-6)


@pytest.mark.slow  # trains the CIFAR-style CNN to a figure (~10 s): CI's slow run
def test_image_folder_learns(tmp_path):
    """The CIFAR-style CNN on the generated image folder: well above chance (1/3). (Its
    generated script's equality with build is in test_codegen.py, for every spec.)"""
    metrics, _ = specdl.train(ROOT / "specs" / "cifar_cnn.yaml", out=tmp_path / "r")
    assert metrics["accuracy"] > 0.6


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_separate_image_roots(tmp_path):
    from specdl.build.examples import write_images

    for split, seed in (("train", 0), ("val", 1), ("test", 2)):
        write_images(tmp_path / split, per_class=12, seed=seed)
    spec = spec_file(tmp_path, "data: {source: image_folder, train: train, val: val, test: test}\n"
                               "model: {layers: [{conv2d: {out_channels: 4, kernel_size: 3}}, relu, "
                               "{adaptive_avgpool2d: 1}, flatten, {linear: 3}]}\ntrain: {epochs: 2}\n")
    a = specdl.check(spec)
    assert a.graph.input.shape == ("N", 3, 32, 32) and a.data.classes == 3
    built, script = build_and_script(spec, tmp_path)
    assert script == pytest.approx(built, abs=1e-6)


def test_torchvision_source_offline_is_a_clear_error(tmp_path):
    spec = spec_file(tmp_path, "data: {source: torchvision, name: mnist, root: nowhere}\n"
                               "model: {layers: [flatten, {linear: 10}]}\n")
    assert specdl.check(spec).graph.input.shape == ("N", 1, 28, 28)  # known without the files
    r = run_cli("build", spec, "-q", cwd=tmp_path)
    assert r.returncode == 2
    assert f"data.root: no mnist data under {tmp_path / 'nowhere'}" in r.stderr
    assert "download: true" in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------- bad data: exit 2, one line
def bad(tmp_path, text, files=()):
    for f in files:
        f(tmp_path)
    r = run_cli("build", spec_file(tmp_path, text), "-q", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    return lines


def test_missing_csv_file(tmp_path):
    lines = bad(tmp_path, "data: {source: csv, path: nope.csv, target: y}\nmodel: {layers: [{linear: 1}]}\n")
    assert lines[0].startswith(f"{tmp_path / 's.yaml'}:1:") and "no such file: nope.csv" in lines[0]


def test_unknown_target_column(tmp_path):
    lines = bad(tmp_path, "data: {source: csv, path: churn.csv, target: chrun}\nmodel: {layers: [{linear: 2}]}\n",
                [lambda p: write_csv(p / "churn.csv")])
    assert "data.target (csv): no column `chrun` in churn.csv; did you mean `churn`?" in lines[0]


def test_folder_with_no_images(tmp_path):
    (tmp_path / "imgs" / "a").mkdir(parents=True)
    (tmp_path / "imgs" / "b").mkdir()
    lines = bad(tmp_path, "data: {source: image_folder, root: imgs}\nmodel: {layers: [flatten, {linear: 2}]}\n")
    assert "data.root (image_folder): no images under imgs" in lines[0]


@pytest.mark.slow  # the same class in the default run: test_data_hardening.py::test_a_missing_class_is_named_by_its_label
def test_class_missing_from_a_split(tmp_path):
    y = np.array([0] * 40 + [1] * 40 + [2] * 2)
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).normal(size=(82, 3)), y=y)
    lines = bad(tmp_path, "data: {source: npz, path: d.npz, split: {stratify: false, test: 0.1}}\n"
                          "model: {layers: [{linear: 3}]}\nseed: 3\n")
    assert lines == ["specdl: error: the test split has no sample of class 2; add data for it, or change "
                     "split.test / the seed"] or "has no sample of class" in lines[0]


def test_labels_out_of_range(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((50, 2)), y=np.array([-1, 0, 1, 2, 3] * 10))
    lines = bad(tmp_path, "data: {source: npz, path: d.npz}\nmodel: {layers: [{linear: 4}]}\n")
    # found by check since w7 (a located error at data.y), formerly by build's label check
    assert len(lines) == 2 and lines[-1] == "1 error", lines
    assert "error: data.y (npz): `y` in d.npz holds the label -1; class labels are whole numbers 0..K-1" in lines[0]


@pytest.mark.slow  # the same class in the default run: test_data_hardening.py::test_nan_feature_names_the_file_line_and_column
def test_nan_in_features(tmp_path):
    lines = bad(tmp_path, CSV_CLS.replace("[{fill: median}, standardize]", "[standardize]"),
                [lambda p: write_csv(p / "churn.csv", missing=True)])
    # check reads every cell now (issue 26): the blank cells are a located spec error before any training
    assert len(lines) == 2 and lines[1] == "1 error", lines
    assert ":9:15: error: data.transforms (csv): blank cells in `" in lines[0] and "fill: mean" in lines[0], lines


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_a_blank_categorical_cell_is_its_own_category(tmp_path):
    """Blanks in a categorical column get their own one-hot column (docs/spec.md); build,
    the script and predict agree, and predict encodes a blank as training did."""
    write_csv(tmp_path / "churn.csv")
    lines = (tmp_path / "churn.csv").read_text().splitlines()
    lines[1:] = [",".join("" if j == 2 and i % 5 == 0 else c for j, c in enumerate(ln.split(",")))
                 for i, ln in enumerate(lines[1:])]
    (tmp_path / "churn.csv").write_text("\n".join(lines) + "\n")
    a = specdl.check(spec_file(tmp_path, CSV_CLS))
    assert a.graph.input.shape == ("N", 2 + 4 + 2)  # paris, lyon, nice and the blank
    built, script = build_and_script(tmp_path / "s.yaml", tmp_path)
    assert script == pytest.approx(built, abs=1e-6)
    run = specdl.load_run(tmp_path / "run")
    rows = tmp_path / "rows.csv"
    rows.write_text("age,income,city,plan\n30,50,,pro\n30,50,nice,pro\n")
    from specdl.runs.inputs import read_inputs

    x = run.inputs(read_inputs(run, str(rows)))
    blank, nice = x[0].tolist(), x[1].tolist()
    assert blank[2:6] != nice[2:6] and sorted(blank[2:6]) == [0.0, 0.0, 0.0, 1.0]


def test_normalize_on_a_grayscale_folder_read_as_rgb_offers_grayscale(tmp_path):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "img" / c).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (8, 8), 40 * i).save(tmp_path / "img" / c / f"{i}.png")
    spec = spec_file(tmp_path, """
data:
  source: image_folder
  root: img
  split: {val: 0.2, test: 0.2}
  transforms: [to_tensor, {normalize: {mean: [0.5], std: [0.5]}}]
model: {layers: [flatten, {linear: 2}]}
""")
    r = run_cli("check", spec, cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 2, r.stderr
    assert "one value per channel (3), got 1 and 1" in r.stderr and "add `grayscale` before to_tensor" in r.stderr
    fixed = spec.read_text().replace("transforms: [to_tensor", "transforms: [grayscale, to_tensor")
    spec.write_text(fixed)
    assert run_cli("check", spec, cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("high,length,classes,size", [(100, 16, 3, 128), (1000, 64, 4, 512), (50, 8, 5, 512),
                                                      (30, 16, 3, 512), (100, 40, 4, 512)])
def test_synthetic_token_labels_fill_every_class(high, length, classes, size):
    """Token ids' labels come from their centred histogram: before it was centred, the
    common part of every score gave one class most samples and left another empty
    (128 x 16 tokens below 100, 3 classes: [53, 0, 75])."""
    data = {"source": "synthetic", "shape": [length], "classes": classes, "dtype": "int64", "high": high,
            "size": size}
    spec = specdl.load({"name": "tokens", "data": data, "loss": "cross_entropy", "optimizer": "adam",
                        "model": {"layers": [{"embedding": {"num_embeddings": high, "embedding_dim": 4}}, "flatten",
                                             {"linear": classes}]}})
    for seed in range(10):
        counts = np.bincount(spec.data.load(seed).y, minlength=classes)
        assert counts.min() >= 0.5 * size / classes, (seed, counts.tolist())
