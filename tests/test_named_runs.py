"""Named-input runs through every run verb (spec 12.5, 12.8; issue 29 part B point 4, issue
31): the run directory keeps what each input fitted (vocabulary, length, categories, the
numeric transforms' states); `specdl predict` (CLI and API, every --format), `evaluate`,
`export` (one ONNX input per data input, checked with onnxruntime) and `serve` (the
`inputs` and `rows` forms, answers equal to predict) read a CSV's columns, an .npz keyed
by input name, or a mapping of input names; bad inputs are one located line, exit 2.
Three small runs (csv with a text, a categorical and a numeric input; synthetic; npz)
are trained once for the module."""

from __future__ import annotations

import csv
import json
import subprocess

import numpy as np
import pytest

import specdl
from specdl.errors import RunError
from specdl.runtime import text

from .conftest import run_cli
from .test_csv_inputs import SPEC, write_reviews
from .test_named_inputs import spec_of


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """name -> a finished run: `csv` (reviews.csv: review text, movie, stats), `synthetic`
    (price floats, ids tokens) and `npz` (the same arrays, from a file)."""
    root = tmp_path_factory.mktemp("named_runs")
    write_reviews(root / "reviews.csv")
    spec = json.loads(json.dumps(SPEC))
    spec["data"]["path"] = str(root / "reviews.csv")
    spec["train"]["epochs"] = 1
    out = {"root": root, "csv_spec": spec}
    _, out["csv"] = specdl.train(spec, out=root / "csv")
    _, out["synthetic"] = specdl.train(spec_of(train__epochs=1), out=root / "synthetic")
    rng = np.random.default_rng(0)
    arrays = {"price": rng.normal(size=(60, 4)).astype(np.float32), "ids": rng.integers(0, 12, (60, 5)),
              "y": rng.integers(0, 3, 60)}
    np.savez(root / "data.npz", **arrays)
    npz = spec_of(train__epochs=1)
    npz["data"] = {"source": "npz", "path": str(root / "data.npz"), "task": "classification",
                   "inputs": {"price": {"array": "price"}, "ids": {"array": "ids"}}}
    _, out["npz"] = specdl.train(npz, out=root / "npz")
    out["arrays"] = arrays
    return out


def rows_of(path, n=None) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))[:n]
    return [{"text": r["text"], "movie": r["movie"], "runtime": float(r["runtime"]) if r["runtime"] else None,
             "year": float(r["year"])} for r in rows]


def few(runs, tmp_path, extra=()) -> str:
    """The first 6 rows of the run's CSV, and ``extra`` rows, as a new CSV."""
    path = tmp_path / "few.csv"
    with open(runs["root"] / "reviews.csv", newline="") as f:
        lines = f.read().splitlines()[:7]
    path.write_text("\n".join([*lines, *extra]) + "\n")
    return str(path)


def cli(capsys, *args) -> subprocess.CompletedProcess:
    """`specdl ARGS` in this process (specdl.cli.main; one test runs a real subprocess)."""
    from specdl.cli import main

    capsys.readouterr()
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def one_error_line(r) -> str:
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("specdl: error:"), r.stderr
    return lines[0]


# ---------------------------------------------------------------- the run directory
def test_the_run_keeps_what_each_input_fitted_on_its_train_split(runs):
    from specdl.runtime.splits import split_rows

    pre = json.loads((runs["csv"] / "preprocess.json").read_text())["inputs"]
    with open(runs["root"] / "reviews.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    train = split_rows(np.array([int(r["label"]) for r in rows]), val=0.1, test=0.2, seed=SPEC["seed"],
                       stratify=True)["train"]
    texts = [rows[i]["text"].strip() for i in train]
    assert pre["review"]["vocabulary"] == text.fit_vocabulary(texts, min_freq=2)
    assert pre["review"]["length"] == text.auto_length(text.token_counts(texts))
    assert pre["movie"]["categories"] == sorted({rows[i]["movie"] for i in train})
    runtimes = [float(rows[i]["runtime"]) for i in train if rows[i]["runtime"]]
    assert pre["stats"]["transforms"][0]["fill"][0] == pytest.approx(np.median(runtimes))


def test_a_preprocess_json_without_the_inputs_fit_is_one_line(runs, tmp_path):
    import shutil

    run = shutil.copytree(runs["csv"], tmp_path / "run")
    pre = json.loads((run / "preprocess.json").read_text())
    del pre["inputs"]["movie"]["categories"]
    (run / "preprocess.json").write_text(json.dumps(pre))
    with pytest.raises(RunError, match=r"preprocess.json does not fit the run's spec \(`inputs.movie` is not what a "
                                       r"categorical input fits \(categories\)\); restore it or build the run again"):
        specdl.load_run(run)


# ---------------------------------------------------------------- predict
def test_predict_cli_every_format_equals_the_api(runs, tmp_path, capsys):
    path = few(runs, tmp_path)
    r = cli(capsys, "predict", runs["csv"], "--input", path, "--format", "json")
    assert r.returncode == 0, r.stderr
    written = json.loads(r.stdout)
    api = specdl.predict(runs["csv"], path)
    assert [row["prediction"] for row in written] == api["prediction"]
    np.testing.assert_allclose([[row["p_0"], row["p_1"]] for row in written], api["probabilities"], atol=1e-6)
    # rows in memory and a mapping of input names give the same as the file
    rows = rows_of(path)
    by_rows = specdl.predict(runs["csv"], rows)
    by_inputs = specdl.predict(runs["csv"], {"review": [r["text"] for r in rows], "movie": [r["movie"] for r in rows],
                                             "stats": [[r["runtime"], r["year"]] for r in rows]})
    np.testing.assert_allclose(by_rows["probabilities"], api["probabilities"], atol=1e-6)
    np.testing.assert_allclose(by_inputs["probabilities"], api["probabilities"], atol=1e-6)
    r = cli(capsys, "predict", runs["csv"], "--input", path, "--format", "npy", "--out", tmp_path / "p.npy")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), api["probabilities"], atol=1e-6)
    r = cli(capsys, "predict", runs["csv"], "--input", path, "--keep", "movie")
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "movie,prediction,p_0,p_1", r.stderr
    assert len(r.stdout.splitlines()) == 7


def test_unseen_tokens_map_to_1_and_categories_to_0_in_one_note(runs, tmp_path, capsys):
    run = specdl.load_run(runs["csv"])
    x = run.inputs({"review": ["great qqqzz", "zzzqq"], "movie": ["m_new", "m1"], "stats": [[100, 2000], [90, 1990]]})
    assert x.tensors["review"][0, :2].tolist() == [run.pre["inputs"]["review"]["vocabulary"].index("great"), 1]
    assert x.tensors["review"][1, :2].tolist() == [1, 0]
    assert x.tensors["movie"].tolist() == [0, run.pre["inputs"]["movie"]["categories"].index("m1") + 1]
    path = few(runs, tmp_path, ['"zzzqq great qqqzz",m_new,100,2001,1'])
    r = cli(capsys, "predict", runs["csv"], "--input", path)
    assert r.returncode == 0, r.stderr
    notes = [ln for ln in r.stderr.splitlines() if ln.startswith("specdl: note:")]
    assert notes == ["specdl: note: 2 tokens of `review` outside the run's vocabulary map to 1; 1 row of `movie` "
                     "holds a category the train split never saw ('m_new'): it maps to 0"], r.stderr


def test_bad_inputs_are_one_located_line_and_exit_2(runs, tmp_path, capsys):
    path = tmp_path / "nomovie.csv"
    path.write_text("text,runtime,year\ngood,100,2000\n")
    assert one_error_line(cli(capsys, "predict", runs["csv"], "--input", path)) == (
        f"specdl: error: {path} has no column `movie` (the input `movie` reads it); its columns are: text, runtime, year")
    path.write_text("text,movie,runtime,year\ngood,m1,long,2000\n")
    assert f"{path} line 2, column `runtime`" in one_error_line(cli(capsys, "predict", runs["csv"], "--input", path))
    np.savez(tmp_path / "a.npz", price=runs["arrays"]["price"], idz=runs["arrays"]["ids"])
    line = one_error_line(cli(capsys, "predict", runs["npz"], "--input", tmp_path / "a.npz"))
    assert line.startswith(f"specdl: error: {tmp_path / 'a.npz'} has no array `ids`; did you mean `idz`?")
    np.savez(tmp_path / "f.npz", price=runs["arrays"]["price"], ids=runs["arrays"]["ids"] + 0.5)
    assert "the input `ids` holds fractional or NaN values" in one_error_line(
        cli(capsys, "predict", runs["npz"], "--input", tmp_path / "f.npz"))
    with pytest.raises(RunError, match=r"^row 0, input `movie` holds float '1.5'; give a text or None$"):
        specdl.predict(runs["csv"], {"review": ["a"], "movie": [1.5], "stats": [[1, 2]]})
    with pytest.raises(RunError, match="^the inputs hold no `stats`; this run's inputs are review, movie, stats$"):
        specdl.predict(runs["csv"], {"review": ["a"], "movie": ["m1"]})


def test_array_runs_read_an_npz_keyed_by_input_name(runs, tmp_path):
    x = {k: runs["arrays"][k][:7] for k in ("price", "ids")}
    np.savez(tmp_path / "in.npz", **x)
    for kind in ("synthetic", "npz"):
        from_file = specdl.predict(runs[kind], tmp_path / "in.npz")
        in_memory = specdl.predict(runs[kind], x)
        assert from_file["prediction"] == in_memory["prediction"] and len(in_memory["prediction"]) == 7
        np.testing.assert_allclose(from_file["probabilities"], in_memory["probabilities"])
    with pytest.raises(RunError, match=r"the input `ids` holds the id 12; the embedding `embedding_1` takes ids 0..11"):
        specdl.predict(runs["npz"], {"price": x["price"], "ids": np.full_like(x["ids"], 12)})


# ---------------------------------------------------------------- evaluate
def test_evaluate_scores_the_predictions_of_the_same_rows(runs, tmp_path, capsys):
    path = runs["root"] / "reviews.csv"
    r = cli(capsys, "evaluate", runs["csv"], "--input", path, "--out", tmp_path / "e.json")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "e.json").read_text())
    with open(path, newline="") as f:
        labels = [r["label"] for r in csv.DictReader(f)]
    pred = specdl.predict(runs["csv"], path)["prediction"]
    assert report["samples"] == len(labels) == 120
    assert report["test"]["accuracy"] == pytest.approx(np.mean(np.array(pred) == np.array(labels)))
    np.savez(tmp_path / "l.npz", **runs["arrays"])
    report = specdl.evaluate(runs["npz"], tmp_path / "l.npz")
    pred = specdl.predict(runs["npz"], {k: runs["arrays"][k] for k in ("price", "ids")})["index"]
    assert report["accuracy"] == pytest.approx(np.mean(pred == runs["arrays"]["y"]))


@pytest.mark.slow
def test_predict_in_a_real_process_equals_the_api(runs, tmp_path):
    path = few(runs, tmp_path, ['"zzzqq great",m_new,100,2001,1'])
    r = run_cli("predict", runs["csv"], "--input", path, "--format", "json")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.startswith("specdl: note:")]) == 1
    api = specdl.predict(runs["csv"], path)
    np.testing.assert_allclose([[row["p_0"], row["p_1"]] for row in json.loads(r.stdout)], api["probabilities"],
                               atol=1e-6)


# ---------------------------------------------------------------- export
@pytest.mark.slow
def test_export_gives_one_onnx_input_per_data_input(runs, tmp_path):
    import onnxruntime as ort
    import torch

    out = specdl.export(runs["csv"], tmp_path / "m.onnx")
    assert "`review` int64 [N, " in out["expects"] and "`stats` float32 [N, 2]" in out["expects"]
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("review", "tensor(int64)"), ("movie", "tensor(int64)"), ("stats", "tensor(float)")]
    run = specdl.load_run(runs["csv"])
    x = run.inputs(few(runs, tmp_path))
    got = session.run(None, {k: v.numpy() for k, v in x.tensors.items()})[0]
    with torch.inference_mode():
        want = run.model(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


# ---------------------------------------------------------------- serve
def test_serve_answers_the_inputs_and_rows_forms_as_predict(runs, tmp_path, capsys):
    from fastapi.testclient import TestClient

    path = few(runs, tmp_path, ['"zzz great",m_new,,2001,1'])
    rows = rows_of(path)
    want = json.loads(cli(capsys, "predict", runs["csv"], "--input", path, "--format", "json").stdout)
    inputs = {"review": [r["text"] for r in rows], "movie": [r["movie"] for r in rows],
              "stats": [[r["runtime"], r["year"]] for r in rows]}
    with TestClient(specdl.serve_app(runs["csv"])) as client:
        for body in ({"inputs": inputs}, {"rows": rows}):
            r = client.post("/predict", json=body)
            assert r.status_code == 200, r.text
            got = r.json()["rows"]
            assert [g["prediction"] for g in got] == [w["prediction"] for w in want]
            np.testing.assert_allclose([[g["p_0"], g["p_1"]] for g in got], [[w["p_0"], w["p_1"]] for w in want],
                                       atol=1e-6)
        table = {"columns": ["text", "movie", "runtime", "year"],
                 "data": [[r["text"], r["movie"], r["runtime"], r["year"]] for r in rows]}
        assert client.post("/predict", json=table).json()["rows"] == client.post("/predict", json={"rows": rows}).json()["rows"]
        r = client.post("/predict", json={"inputs": {"review": ["a"], "movie": ["m1"]}})
        assert r.status_code == 422 and r.json()["error"] == "`inputs.stats`: missing"
        r = client.post("/predict", json={"inputs": {"review": ["a"], "movie": ["m1"], "stats": [[1, 2, 3]]}})
        assert r.status_code == 422 and r.json()["error"] == (
            "the input `stats` is [1, 3]; it reads the columns runtime, year: give [N, 2] numbers")
        info = client.get("/info").json()["inputs"]
        assert [i["name"] for i in info["inputs"]] == ["review", "movie", "stats"]
    with TestClient(specdl.serve_app(runs["synthetic"])) as client:
        x = {k: runs["arrays"][k][:3].tolist() for k in ("price", "ids")}
        got = client.post("/predict", json={"inputs": x}).json()["rows"]
        assert [g["prediction"] for g in got] == specdl.predict(runs["synthetic"], x)["prediction"]


@pytest.mark.slow
def test_a_real_server_answers_a_named_input_run_as_predict(runs, tmp_path):
    import httpx

    from .test_serve import start_server

    path = few(runs, tmp_path)
    rows = rows_of(path)
    want = specdl.predict(runs["csv"], path)
    proc, url = start_server(runs["csv"], "--max-wait-ms", "50")
    try:
        r = httpx.post(f"{url}/predict", json={"rows": rows}, timeout=60)
        assert r.status_code == 200, r.text
        got = r.json()["rows"]
        assert [g["prediction"] for g in got] == want["prediction"]
        np.testing.assert_allclose([[g["p_0"], g["p_1"]] for g in got], want["probabilities"], atol=1e-6)
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


def test_a_spec_with_named_inputs_and_export_onnx_checks():
    assert specdl.check(spec_of(export={"onnx": True})).graph.named


def test_script_of_named_inputs_exports_one_onnx_input_each():
    """The generated script's export (export.onnx) takes the named inputs by keyword."""
    assert "kwargs=example, input_names=list(example)" in specdl.codegen(spec_of(export={"onnx": True}))
    assert "kwargs=example" not in specdl.codegen(spec_of())


@pytest.mark.slow
def test_the_script_writes_an_onnx_file_of_named_inputs(tmp_path):
    import sys

    import onnxruntime as ort

    (tmp_path / "two.py").write_text(specdl.codegen(spec_of(train__epochs=1, export={"onnx": True})))
    r = subprocess.run([sys.executable, "two.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    session = ort.InferenceSession(str(tmp_path / "two.onnx"), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("price", ["batch", 4]), ("ids", ["batch", 5])]


@pytest.mark.slow  # exports (torch.onnx) and starts a server
def test_with_preprocessing_and_the_onnx_backend_serve_raw_named_inputs(runs, tmp_path):
    """`export --with-preprocessing` of a named-input run: one graph input per data input
    (text as ids, the category as a string, the numbers raw); `serve --backend onnx` in a
    process where `import torch` fails answers within the export's tolerance of predict."""
    import httpx
    import onnxruntime as ort

    from specdl.build.onnx import TOLERANCE
    from specdl.runs.named import graph_feed

    from .test_serve import NO_TORCH, start_server

    run = runs["csv"]
    out = specdl.export(run, with_preprocessing=True)
    assert out["max_abs_diff"] <= TOLERANCE and (run / "model.raw.onnx").is_file()
    session = ort.InferenceSession(str(run / "model.raw.onnx"), providers=["CPUExecutionProvider"])
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("review", "tensor(int64)"), ("movie", "tensor(string)"), ("stats", "tensor(float)")]
    path = few(runs, tmp_path, ['"zzz great",m_new,,2001,1'])
    loaded = specdl.load_run(run)
    want = specdl.predict(run, path)
    got = session.run(None, graph_feed(loaded, loaded.read(path)))[0]
    np.testing.assert_allclose(got, want["probabilities"], atol=TOLERANCE)
    rows = rows_of(path)
    proc, url = start_server(run, "--backend", "onnx", code=NO_TORCH)
    try:
        for body in ({"rows": rows}, {"inputs": {"review": [r["text"] for r in rows], "movie": [r["movie"] for r in rows],
                                                 "stats": [[r["runtime"], r["year"]] for r in rows]}}):
            answer = httpx.post(f"{url}/predict", json=body, timeout=30).json()["rows"]
            assert [a["prediction"] for a in answer] == want["prediction"]
            np.testing.assert_allclose([[a["p_0"], a["p_1"]] for a in answer], want["probabilities"], atol=TOLERANCE)
        assert httpx.get(f"{url}/info").json()["backend"] == "onnx"
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    assert "Traceback" not in proc.stderr.read()
