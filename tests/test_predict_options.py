"""`specdl predict --keep COL --format csv|json|npy`: input columns carried through next to
the predictions, each format holding what ``LoadedRun.predict`` gives."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

import specdl

from .conftest import ROOT, run_cli
from .test_data import CSV_CLS, write_csv
from .test_data_hardening import one_line


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An iris run (every CSV column a feature) and a CSV run (named features)."""
    root = tmp_path_factory.mktemp("predict")
    iris = specdl.train(ROOT / "specs" / "iris_mlp.yaml", out=root / "iris",
                        overrides=["train.epochs=5", "train.device=cpu"]).run_dir
    write_csv(root / "churn.csv", n=120)
    (root / "churn.yaml").write_text(CSV_CLS.replace("path: churn.csv", f"path: {root}/churn.csv")
                                     .replace("epochs: 15", "epochs: 2, device: cpu"))
    churn = specdl.train(specdl.load(root / "churn.yaml"), out=root / "churn").run_dir
    return {"iris": iris, "churn": churn, "root": root}


def iris_rows(path):
    """A CSV of iris features with an id column before them and a note after."""
    x = np.random.default_rng(0).normal(5, 1, size=(7, 4))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "a", "b", "c", "d", "note"])
        w.writerows([f"id-{i}", *map(repr, map(float, row)), f"n{i}"] for i, row in enumerate(x))
    return x


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_keep_carries_columns_in_each_text_format(runs, tmp_path):
    x = iris_rows(tmp_path / "rows.csv")
    want = specdl.load_run(runs["iris"]).predict(x)
    r = run_cli("predict", runs["iris"], "--input", tmp_path / "rows.csv", "--keep", "id", "--keep", "note",
                cwd=tmp_path)  # CSV on standard output
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0])[:3] == ["id", "note", "prediction"]
    assert [r["id"] for r in rows] == [f"id-{i}" for i in range(7)] and rows[3]["note"] == "n3"
    assert [r["prediction"] for r in rows] == want["prediction"]
    probs = np.array([[float(r[f"p_{c}"]) for c in want["classes"]] for r in rows])
    assert np.allclose(probs, want["probabilities"], atol=1e-6)
    r = run_cli("predict", runs["iris"], "--input", tmp_path / "rows.csv", "--keep", "note", "--keep", "id",
                "--out", "p.json", cwd=tmp_path)  # JSON by the suffix
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "p.json").read_text())
    assert [(r["id"], r["prediction"]) for r in rows] == [(f"id-{i}", p) for i, p in enumerate(want["prediction"])]
    assert list(rows[0])[:2] == ["note", "id"]


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_npy_holds_probabilities_or_values(runs, tmp_path):
    x = iris_rows(tmp_path / "rows.csv")
    np.save(tmp_path / "x.npy", x)
    for args in (["--out", "p.npy"], ["--out", "p.bin", "--format", "npy"]):
        r = run_cli("predict", runs["iris"], "--input", tmp_path / "x.npy", *args, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        got = np.load(tmp_path / args[1])
        assert got.shape == (7, 3) and np.allclose(got, specdl.load_run(runs["iris"]).predict(x)["probabilities"])
    r = run_cli("predict", runs["iris"], "--input", tmp_path / "x.npy", "--format", "json", "--out", "p.csv",
                cwd=tmp_path)  # --format wins over the suffix
    assert r.returncode == 0 and json.loads((tmp_path / "p.csv").read_text())[0]["prediction"]


def test_csv_run_keeps_a_column_it_does_not_read(runs, tmp_path):
    src = runs["root"] / "churn.csv"
    r = run_cli("predict", runs["churn"], "--input", src, "--keep", "spend", "--keep", "churn",
                "--format", "json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    truth = list(csv.DictReader(open(src)))
    assert [(r["spend"], r["churn"]) for r in rows] == [(t["spend"], t["churn"]) for t in truth]


@pytest.mark.slow  # subprocesses: seconds (the default suite stays under 5 minutes)
def test_predict_option_errors_are_one_line(runs, tmp_path):
    iris_rows(tmp_path / "rows.csv")
    np.save(tmp_path / "x.npy", np.zeros((2, 4)))
    run = runs["iris"]
    cases = [
        (["--input", "rows.csv", "--keep", "ID"], "rows.csv has no column `ID`; its columns are: id, a, b, c, d, note"),
        (["--input", "x.npy", "--keep", "id"], "--keep carries columns of a CSV input through; x.npy is not a .csv"),
        (["--input", "x.npy", "--format", "npy"], "--format npy writes a binary file: give it with --out PATH"),
        (["--input", "rows.csv", "--keep", "id", "--out", "p.npy"], "an .npy file holds the predictions only"),
        (["--input", "rows.csv", "--keep", "id"], "column `note` holds 'n0', not a number"),
        (["--input", "rows.csv", "--keep", "prediction"], "the output has its own column `prediction`"),
        (["--input", "rows.csv", "--keep", "id", "--keep", "a", "--keep", "note"],
         "holds samples of shape [3]; the model takes [4] per sample (the columns it holds besides `id`, `a`, `note`)"),
    ]
    for args, want in cases:
        line = one_line(run_cli("predict", run, *args, cwd=tmp_path))
        assert want in line, (args, line)
    assert not (tmp_path / "p.npy").exists()
