"""Several outputs at the run verbs (issue 30 part 2, spec 12.7): a run of a CSV spec with a
classification head, a binary head (one logit, its own threshold) and a regression head
(its target standardized), trained once (~0.5 s). load_run and `specdl predict` give each
target's prediction in its units (the columns `<target>` and `<target>.p_<class>`; an
.npz keyed by target, never an .npy), equal to the model called directly on the same rows
with the saved statistics; `specdl evaluate` on the run's test rows gives report.json's
per-target figures, all heads or one (`--target`); `specdl serve` answers as predict
(in process here; over real HTTP on 127.0.0.1 in the slow set)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

import specdl
from specdl.cli import main
from specdl.errors import RunError
from specdl.runs.predict import predict_file

COLUMNS = ["a", "b", "c", "id", "label", "spam", "value"]
SPEC = """name: three-heads
seed: 0
data:
  source: csv
  path: {root}/d.csv
  exclude: [id]
  transforms: [standardize]
  targets:
    kind: {{column: label}}
    spam: {{column: spam, task: classification}}
    amount: {{column: value, task: regression, transforms: [standardize]}}
model:
  layers:
    - linear: 16
    - relu
    - linear: {{out_features: 3, name: kind_head}}
    - linear: {{out_features: 1, inputs: [relu_1], name: spam_head}}
    - linear: {{out_features: 1, inputs: [relu_1], name: amount_head}}
  outputs: {{kind: kind_head, spam: spam_head, amount: amount_head}}
loss: {{kind: cross_entropy, spam: bce_with_logits, amount: mse}}
loss_weights: {{amount: 0.5}}
metrics: {{kind: [accuracy, f1], spam: [accuracy, roc_auc], amount: [mae, r2]}}
train: {{epochs: 2, batch_size: 32, device: cpu, threshold: {{spam: 0.7}}}}
"""
OUTPUTS = ["kind", "kind.p_cat", "kind.p_dog", "kind.p_eel", "spam", "spam.p_no", "spam.p_yes", "amount"]


def write_data(path, n: int = 160, seed: int = 0) -> list[dict]:
    """``n`` rows: three numbers, an id, a class of three, a yes/no and a value."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    rows = [{"a": f"{x[i, 0]:.4f}", "b": f"{x[i, 1]:.4f}", "c": f"{x[i, 2]:.4f}", "id": f"r{i}",
             "label": ["cat", "dog", "eel"][int(x[i, 0] > 0) + int(x[i, 1] > 0.5)],
             "spam": "yes" if x[i, 2] + 0.3 * x[i, 0] > 0 else "no", "value": f"{3 * x[i, 2] + 10:.4f}"}
            for i in range(n)]
    write_rows(path, rows)
    return rows


def write_rows(path, rows, columns=COLUMNS):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(the run directory, the data's rows, the test split's rows)."""
    from specdl.sources.base import split_indices

    root = tmp_path_factory.mktemp("heads-runs")
    rows = write_data(root / "d.csv")
    (root / "s.yaml").write_text(SPEC.format(root=root))
    spec = specdl.load(root / "s.yaml")
    run_dir = specdl.train(spec, out=root / "run").run_dir
    kind = np.unique([r["label"] for r in rows], return_inverse=True)[1]  # split as build splits: by the first class target
    test = split_indices(kind, spec.data.split, spec.seed, spec.data.split.stratify)["test"]
    return run_dir, rows, [rows[i] for i in test]


def by_hand(run_dir, rows) -> list[dict]:
    """Each target's prediction from the model itself on ``rows``, preprocessed with
    preprocess.json's statistics by NumPy."""
    pre = json.loads((run_dir / "preprocess.json").read_text())
    (st,) = pre["transforms"]
    x = (np.array([[float(r[c]) for c in "abc"] for r in rows]) - st["mean"]) / st["std"]
    with torch.no_grad():
        kind, spam, amount = specdl.load_run(run_dir).model(torch.as_tensor(x, dtype=torch.float32))
    (amt,) = pre["target_transforms"]["amount"]
    p_kind, p_spam = torch.softmax(kind.double(), 1).numpy(), torch.sigmoid(spam.double()).numpy()[:, 0]
    values = amount.double().numpy()[:, 0] * amt["std"][0] + amt["mean"][0]
    names, yes_no = pre["class_names"]["kind"], pre["class_names"]["spam"]
    assert (names, yes_no) == (["cat", "dog", "eel"], ["no", "yes"])
    return [{"kind": names[int(p.argmax())], **{f"kind.p_{c}": p[j] for j, c in enumerate(names)},
             "spam": "yes" if s >= 0.7 else "no", "spam.p_no": 1 - s, "spam.p_yes": s, "amount": v}
            for p, s, v in zip(p_kind, p_spam, values)]


def same(got: list[dict], want: list[dict]) -> bool:
    assert len(got) == len(want) and got
    for g, w in zip(got, want):
        assert list(g) == list(w), (g, w)
        for k, v in w.items():
            assert g[k] == pytest.approx(v, abs=1e-6) if isinstance(v, float) else g[k] == v, (k, g, w)
    return True


def test_predict_gives_each_target_in_its_units_as_the_model_does(run, tmp_path):
    run_dir, rows, _ = run
    path = write_rows(tmp_path / "in.csv", rows[:30])
    n, text = predict_file(path, fmt="json", run_dir=run_dir)
    got = json.loads(text)
    assert n == 30 and list(got[0]) == OUTPUTS
    want = by_hand(run_dir, rows[:30])
    assert same(got, want)
    assert any(0.5 <= r["spam.p_yes"] < 0.7 for r in want)  # rows the head's own threshold (0.7) says "no" to
    pred = specdl.load_run(run_dir).predict([{c: float(r[c]) for c in "abc"} for r in rows[:30]])
    assert list(pred["heads"]) == ["kind", "spam", "amount"]
    assert pred["heads"]["kind"]["prediction"] == [r["kind"] for r in got]
    assert np.allclose(pred["heads"]["amount"]["prediction"][:, 0], [r["amount"] for r in got], atol=1e-9)
    _, csv_text = predict_file(path, keep=["id"], run_dir=run_dir)
    assert csv_text.splitlines()[0] == ",".join(["id", *OUTPUTS]) and csv_text.splitlines()[1].startswith("r0,")


def test_npz_holds_an_array_per_target_and_npy_is_refused(run, tmp_path, capsys):
    run_dir, rows, _ = run
    path = write_rows(tmp_path / "in.csv", rows[:12])
    assert main(["predict", str(run_dir), "--input", str(path), "--out", str(tmp_path / "p.npz")]) == 0
    want = by_hand(run_dir, rows[:12])
    with np.load(tmp_path / "p.npz") as f:
        assert f.files == ["kind", "spam", "amount"]
        assert f["kind"].shape == (12, 3) and f["spam"].shape == (12, 2) and f["amount"].shape == (12, 1)
        assert np.allclose(f["kind"][:, 1], [r["kind.p_dog"] for r in want], atol=1e-6)
        assert np.allclose(f["spam"][:, 1], [r["spam.p_yes"] for r in want], atol=1e-6)
        assert np.allclose(f["amount"][:, 0], [r["amount"] for r in want], rtol=1e-6)
    capsys.readouterr()
    assert main(["predict", str(run_dir), "--input", str(path), "--out", str(tmp_path / "p.npy")]) == 2
    err = capsys.readouterr().err
    assert err == ("specdl: error: --format npy holds one array; this run has several outputs (kind, spam, amount): "
                   "use --format npz (one array per target)\n")
    assert not (tmp_path / "p.npy").exists()


@pytest.mark.parametrize("column", ["kind", "kind.p_cat", "spam.p_yes", "amount", "file"])
def test_a_kept_column_named_like_an_output_is_refused(run, tmp_path, column):
    run_dir, rows, _ = run
    path = write_rows(tmp_path / "in.csv", [{**r, column: "x"} for r in rows[:3]], [*COLUMNS, column])
    with pytest.raises(RunError, match=f"^--keep {column}: the output has its own column `{column}`; rename"):
        predict_file(path, keep=[column], run_dir=run_dir)


def test_evaluate_on_the_test_rows_gives_the_reports_figures_per_target(run, tmp_path):
    run_dir, _, test_rows = run
    report = json.loads((run_dir / "report.json").read_text())
    path = write_rows(tmp_path / "test.csv", test_rows)
    got = specdl.evaluate(run_dir, path, details=True)
    assert list(got["test"]) == list(report["test"]) and got["samples"] == report["samples"]["test"]
    for k, v in report["test"].items():
        assert got["test"][k] == pytest.approx(v, abs=1e-6), k
    assert set(got["targets"]) == set(report["targets"])
    for t, scores in report["targets"].items():
        assert got["targets"][t] == pytest.approx(scores, abs=1e-6), t
    one = specdl.evaluate(run_dir, path, target="spam", details=True)
    assert one["target"] == "spam" and one["test"] == pytest.approx(report["targets"]["spam"], abs=1e-6)
    assert one["classes"] == ["no", "yes"] and sum(map(sum, one["confusion_matrix"])) == len(test_rows)


def test_evaluate_target_names_a_target_and_labels_come_from_each_column(run, tmp_path, capsys):
    run_dir, _, test_rows = run
    path = write_rows(tmp_path / "test.csv", test_rows)
    assert main(["evaluate", str(run_dir), "--input", str(path), "--target", "amont"]) == 2
    assert capsys.readouterr().err == "specdl: error: --target amont: this run has no target `amont`; did you mean " \
                                      "`amount`?\n"
    assert main(["evaluate", str(run_dir), "--input", str(path), "--target", "amount"]) == 0
    assert "(target `amount`)" in capsys.readouterr().out
    assert main(["evaluate", str(run_dir), "--input", str(path)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert "(weighted total)" in shown[0] and [line.split()[:2] for line in shown[1:]] == [
        ["kind", "accuracy"], ["spam", "accuracy"], ["amount", "mae"]]
    no_spam = write_rows(tmp_path / "no_spam.csv", test_rows, [c for c in COLUMNS if c != "spam"])
    with pytest.raises(RunError, match="has no column `spam`"):
        specdl.evaluate(run_dir, no_spam)
    assert specdl.evaluate(run_dir, no_spam, target="kind")["accuracy"] == pytest.approx(
        json.loads((run_dir / "report.json").read_text())["targets"]["kind"]["accuracy"])
    bad = write_rows(tmp_path / "bad.csv", [{**test_rows[0], "label": "cow"}, *test_rows[1:]])
    with pytest.raises(RunError, match=r"bad.csv line 2, column `label`: 'cow' is not one of the run's classes "
                                       r"\(cat, dog, eel\)"):
        specdl.evaluate(run_dir, bad)


def test_a_finished_run_reads_no_training_data(run, tmp_path):
    """Each target's facts come from preprocess.json (sources/targets.py's views), not the data."""
    import shutil

    run_dir, rows, _ = run
    copy = shutil.copytree(run_dir, tmp_path / "run")
    spec = (copy / "spec.yaml").read_text()
    assert f"path: {run_dir.parent}/d.csv" in spec
    (copy / "spec.yaml").write_text(spec.replace(f"path: {run_dir.parent}/d.csv", "path: /nowhere/d.csv"))
    path = write_rows(tmp_path / "in.csv", rows[:5])
    assert predict_file(path, run_dir=copy) == predict_file(path, run_dir=run_dir)


def test_a_damaged_preprocess_json_of_several_outputs_is_one_line(run, tmp_path):
    import shutil

    copy = shutil.copytree(run[0], tmp_path / "run")
    pre = json.loads((copy / "preprocess.json").read_text())
    del pre["target_transforms"]["amount"]
    (copy / "preprocess.json").write_text(json.dumps(pre))
    with pytest.raises(RunError, match=r"preprocess.json does not fit the run's spec \(`target_transforms.amount` is "
                                       r"not one fitted state for each of the spec's 1 target_transforms.amount\)"):
        specdl.load_run(copy)
    pre = json.loads((run[0] / "preprocess.json").read_text())
    pre["class_names"]["kind"] = ["cat", "dog"]
    (copy / "preprocess.json").write_text(json.dumps(pre))
    with pytest.raises(RunError, match=r"\(2 class names for 3 classes\)"):
        specdl.load_run(copy)


def test_export_writes_an_output_per_head_and_the_onnx_backend_asks_for_the_raw_graph(run, tmp_path, capsys):
    """`serve --backend onnx` serves a run of several outputs (``onnx_served``); before
    `export --with-preprocessing` it says, in one line, to write that graph."""
    import onnx

    run_dir = run[0]
    assert main(["export", str(run_dir), "--out", str(tmp_path / "m.onnx")]) == 0, capsys.readouterr().err
    assert [o.name for o in onnx.load(tmp_path / "m.onnx").graph.output] == ["kind", "spam", "amount"]
    capsys.readouterr()
    assert main(["serve", str(run_dir), "--backend", "onnx"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("specdl: error: ") and err.count("\n") == 1
    assert err.endswith(f"{run_dir} has no model.raw.onnx: write it with `specdl export {run_dir} --with-preprocessing`\n")


@pytest.fixture(scope="module")
def onnx_served(run, tmp_path_factory):
    """A copy of the run exported with its preprocessing (model.raw.onnx: an output per
    target), and predict's JSON rows for the first 40 data rows (written to in.csv there)."""
    import shutil

    copy = shutil.copytree(run[0], tmp_path_factory.mktemp("onnx-heads") / "run")
    assert specdl.export(copy, with_preprocessing=True)["path"] == str(copy / "model.raw.onnx")
    path = write_rows(copy.parent / "in.csv", run[1][:40])
    return copy, json.loads(predict_file(path, fmt="json", run_dir=copy)[1])


def onnx_body(run, n: int = 40) -> dict:
    return {"rows": [{c: float(r[c]) for c in "abc"} for r in run[1][:n]]}


def test_the_onnx_backend_answers_each_head_as_predict(run, onnx_served):
    """In process: each target's class and probabilities (or value, in its units) within
    the export's tolerance of predict's, the binary head deciding by its own threshold."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from .test_serve import within_export_tolerance

    copy, want = onnx_served
    with TestClient(specdl.serve_app(copy, backend="onnx")) as client:
        r = client.post("/predict", json=onnx_body(run))
        assert r.status_code == 200, r.text
        info = client.get("/info").json()
    got = r.json()["rows"]
    assert info["backend"] == "onnx" and info["outputs"] == OUTPUTS and list(got[0]) == OUTPUTS
    assert within_export_tolerance(got, want, thresholds={"spam": 0.7})
    own = [g["spam"] for g, w in zip(got, want) if 0.5 + 1e-3 <= w["spam.p_yes"] < 0.7 - 1e-3]
    assert own and set(own) == {"no"}  # rows the head's threshold (0.7), not 0.5, says "no" to
    assert [g["kind"] for g in got] == [w["kind"] for w in want] and len({g["kind"] for g in got}) == 3


def test_serve_answers_each_head_as_predict(run, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    run_dir, rows, _ = run
    want = json.loads(predict_file(write_rows(tmp_path / "in.csv", rows[:7]), fmt="json", run_dir=run_dir)[1])
    body = {"rows": [{c: float(r[c]) for c in "abc"} for r in rows[:7]]}
    with TestClient(specdl.serve_app(run_dir)) as client:
        r = client.post("/predict", json=body)
        assert r.status_code == 200, r.text
        assert same(r.json()["rows"], want)
        info = client.get("/info").json()
        assert info["outputs"] == OUTPUTS and info["classes"]["spam"] == ["no", "yes"]
        doc = client.get("/openapi.json").json()
        assert list(doc["components"]["schemas"]["AnswerRow"]["properties"]) == OUTPUTS  # aliased by column
        __import__("openapi_spec_validator").validate(doc)
        assert same([client.post("/predict", json={"rows": [row]}).json()["rows"][0] for row in body["rows"][:3]],
                    want[:3])


@pytest.mark.slow  # starts a server process
def test_a_real_server_answers_each_head_as_predict(run, tmp_path):
    import httpx

    from .test_serve import start_server

    run_dir, rows, _ = run
    want = json.loads(predict_file(write_rows(tmp_path / "in.csv", rows[:9]), fmt="json", run_dir=run_dir)[1])
    proc, url = start_server(run_dir)
    try:
        r = httpx.post(f"{url}/predict", json={"rows": [{c: float(r[c]) for c in "abc"} for r in rows[:9]]},
                       timeout=60)
        assert r.status_code == 200 and same(r.json()["rows"], want)
        assert httpx.get(f"{url}/info").json()["outputs"] == OUTPUTS
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def test_a_raw_graph_without_an_output_per_target_is_one_line(onnx_served, tmp_path, capsys):
    """A model.raw.onnx whose outputs are not the run's targets (here `amount` renamed):
    `serve --backend onnx` says so in one line, naming the export that writes it again."""
    import shutil

    import onnx

    copy = shutil.copytree(onnx_served[0], tmp_path / "run")
    graph = onnx.load(str(copy / "model.raw.onnx"))
    for node in graph.graph.node:
        node.output[:] = ["value" if o == "amount" else o for o in node.output]
    graph.graph.output[2].name = "value"
    onnx.save(graph, str(copy / "model.raw.onnx"))
    capsys.readouterr()
    assert main(["serve", str(copy), "--backend", "onnx"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.endswith(f"gives kind, spam, value, not one output per target (kind, spam, amount): write it again "
                        f"with `specdl export {copy} --with-preprocessing`\n")


@pytest.mark.slow  # starts a server process
def test_a_real_server_without_torch_answers_each_head_as_predict_with_the_onnx_backend(run, onnx_served):
    """`serve --backend onnx` in a process where `import torch` fails, on 127.0.0.1: the
    rows in one request (in chunks of --max-batch) and one at a time from threads
    (batched by the server) within the export's tolerance of predict's."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from .test_serve import NO_TORCH, start_server, within_export_tolerance

    copy, want = onnx_served
    body = onnx_body(run)
    proc, url = start_server(copy, "--backend", "onnx", "--max-batch", "16", code=NO_TORCH)
    try:
        got = httpx.post(f"{url}/predict", json=body, timeout=60).json()["rows"]
        with ThreadPoolExecutor(8) as pool:
            alone = list(pool.map(lambda row: httpx.post(f"{url}/predict", json={"rows": [row]}, timeout=60)
                                  .json()["rows"][0], body["rows"]))
        assert httpx.get(f"{url}/info").json()["backend"] == "onnx"
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    for rows in (got, alone):
        assert within_export_tolerance(rows, want, thresholds={"spam": 0.7})
    err = proc.stderr.read()
    assert "Traceback" not in err and "(backend onnx)" in err


def test_a_synthetic_run_is_evaluated_on_an_npz_keyed_by_target(tmp_path):
    """A synthetic run of several outputs: its labelled .npz holds `x` and an array per
    target, named by the target."""
    from specdl.sources.base import split_indices
    from specdl.sources.targets import target_views

    from .test_heads import TWO

    spec = specdl.load(TWO)
    test, run_dir = specdl.train(spec, out=tmp_path / "run")
    views = target_views(spec.data)
    x, kind = views["kind"].load(spec.seed).x, views["kind"].load(spec.seed).y
    score = views["score"].load(spec.seed).y
    idx = split_indices(kind, spec.data.split, spec.seed, spec.data.split.stratify)["test"]
    np.savez(tmp_path / "held.npz", x=x[idx], kind=kind[idx], score=score[idx])
    got = specdl.evaluate(run_dir, tmp_path / "held.npz")
    assert list(got) == list(test) and got == pytest.approx(test, abs=1e-6)
    assert specdl.evaluate(run_dir, tmp_path / "held.npz", target="kind") == pytest.approx(
        json.loads((run_dir / "report.json").read_text())["targets"]["kind"], abs=1e-6)
    np.savez(tmp_path / "no_score.npz", x=x[idx], kind=kind[idx])
    with pytest.raises(RunError, match="no_score.npz has no array `score`"):
        specdl.evaluate(run_dir, tmp_path / "no_score.npz")


def test_npz_output_is_a_run_of_several_outputs_only(tmp_path):
    one = specdl.train({"data": {"source": "synthetic", "shape": [4], "outputs": 1, "size": 64},
                        "model": {"layers": [{"linear": 1}]}, "train": {"epochs": 1, "device": "cpu"}},
                       out=tmp_path / "one").run_dir
    np.save(tmp_path / "x.npy", np.zeros((3, 4)))
    with pytest.raises(RunError, match="^--format npz holds one array per target of a run of several outputs"):
        predict_file(tmp_path / "x.npy", tmp_path / "p.npz", run_dir=one)


@pytest.mark.slow  # trains on the 3,000 generated reviews (~5 s)
def test_a_named_input_run_of_the_reviews_is_evaluated_and_served_per_target(tmp_path):
    """Named inputs (a text, numbers) with two heads: evaluate on the run's test rows gives
    report.json's figures; serve's `inputs` form answers as predict."""
    from fastapi.testclient import TestClient

    from specdl.sources.base import split_indices

    from .conftest import ROOT
    from .test_heads import REVIEWS, spec_of

    spec = specdl.load(spec_of(REVIEWS, train__epochs=1))
    test, run_dir = specdl.train(spec, out=tmp_path / "run")
    with open(ROOT / "data" / "reviews.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    idx = split_indices(np.array([int(r["label"]) for r in rows]), spec.data.split, spec.seed,
                        spec.data.split.stratify)["test"]
    path = write_rows(tmp_path / "test.csv", [rows[i] for i in idx], list(rows[0]))
    assert specdl.evaluate(run_dir, path) == pytest.approx(test, abs=1e-6)
    want = json.loads(predict_file(path, fmt="json", run_dir=run_dir)[1])[:4]
    assert list(want[0]) == ["sentiment", "sentiment.p_0", "sentiment.p_1", "stars"]
    body = {"inputs": {"review": [rows[i]["text"] for i in idx[:4]],
                       "stats": [[float(rows[i][c]) if rows[i][c] else None for c in ("runtime", "year")]
                                 for i in idx[:4]]}}
    with TestClient(specdl.serve_app(run_dir)) as client:
        assert same(client.post("/predict", json=body).json()["rows"], want)
