"""Attacks on `specdl serve` beyond tests/test_serve.py: a run of named inputs (a text, a
category, two numbers) and two outputs (a class and a value), trained once on a small
CSV. Cells that break a CSV (a lone "\\r", a lone surrogate), a text that a CSV reads as
missing ("NA"), numbers past float32 after the input's transforms, the inputs form's
422s naming row and input, requests generated from the app's own /openapi.json, good and
bad requests in one batch, an edited preprocess.json and another run's model.raw.onnx.
The real server over real HTTP (mixed concurrent requests, SIGTERM with a batch queued)
is in the slow set."""

from __future__ import annotations

import csv
import json
import re
import signal
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import specdl
from specdl.runs.predict import predict_file, prediction_rows

from .test_serve import batched, one_line, runs, same_rows, start_server  # noqa: F401 - runs: a fixture

pytest.importorskip("fastapi")
with __import__("warnings").catch_warnings():  # starlette's note on its httpx client
    __import__("warnings").simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

COLUMNS = ["text", "movie", "runtime", "year"]
WORDS = "great fine dull awful plot cast music pace the a film".split()
SPEC = """name: attack
seed: 0
data:
  source: csv
  path: {root}/d.csv
  targets:
    label: {{column: label}}
    rating: {{column: rating, task: regression}}
  inputs:
    review: {{text: text}}
    movie: {{categorical: movie}}
    stats: {{numeric: [runtime, year], transforms: [{{fill: median}}, standardize]}}
model:
  layers:
    - embedding: {{embedding_dim: 4, padding_idx: 0, inputs: [review]}}
    - sequence_pool: {{mode: mean, inputs: [embedding_0, review]}}
    - embedding: {{embedding_dim: 2, inputs: [movie], name: movie_enc}}
    - concat: {{inputs: [sequence_pool_1, movie_enc, stats]}}
    - linear: 8
    - relu: {{name: trunk}}
    - linear: {{out_features: 2, inputs: [trunk], name: label_head}}
    - linear: {{out_features: 1, inputs: [trunk], name: rating_head}}
  outputs: {{label: label_head, rating: rating_head}}
loss: {{label: cross_entropy, rating: mse}}
optimizer: {{adam: {{lr: 1.0e-2}}}}
train: {{epochs: 1, batch_size: 16}}
"""
OUTPUTS = ["label", "label.p_0", "label.p_1", "rating"]


def data_rows(n: int, seed: int = 0) -> list[dict]:
    """``n`` rows of the run's columns as CSV text cells (a blank number now and then)."""
    rng = np.random.default_rng(seed)
    return [{"text": " ".join(rng.choice(WORDS, 5)), "movie": f"m{rng.integers(4)}",
             "runtime": "" if i % 9 == 4 else str(int(rng.integers(80, 150))), "year": str(int(rng.integers(1950, 2020)))}
            for i in range(n)]


def write_csv(path, rows, extra=()) -> None:
    """``rows`` as a CSV (every cell quoted: a "\\r" in a cell stays in it)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=[*COLUMNS, *extra], quoting=csv.QUOTE_ALL)
        w.writeheader()
        w.writerows(rows)


def as_request(rows) -> list[dict]:
    """CSV rows as the request's rows: numbers as numbers, a blank one null."""
    return [{c: (float(r[c]) if r[c] else None) if c in ("runtime", "year") else r[c] for c in COLUMNS} for r in rows]


def as_inputs(rows) -> dict:
    """Request rows as the inputs form: one list per input."""
    return {"review": [r["text"] for r in rows], "movie": [r["movie"] for r in rows],
            "stats": [[r["runtime"], r["year"]] for r in rows]}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-attack")
    rows = data_rows(48)
    for i, r in enumerate(rows):
        r.update(label=str(int("great" in r["text"] or i % 5 == 0)), rating=str(len(r["text"]) % 5))
    write_csv(root / "d.csv", rows, ["label", "rating"])
    (root / "s.yaml").write_text(SPEC.format(root=root))
    return specdl.train(root / "s.yaml", out=root / "run").run_dir


@pytest.fixture(scope="module")
def client(run):
    with TestClient(specdl.serve_app(run), raise_server_exceptions=False) as c:
        yield c


def predicted(run, path, rows) -> list[dict]:
    write_csv(path, rows)
    return json.loads(predict_file(path, fmt="json", run_dir=run)[1])


def test_cells_that_break_a_csv_line_answer_as_predict(run, client, tmp_path):
    """A lone "\\r" (a line end to the csv reader), "\\r\\n", quotes and commas in a text
    or a category: the rows form (written to a CSV inside predict's reading) answers as
    `specdl predict` of a CSV holding those cells, and a later row's error keeps its row."""
    rows = data_rows(6, seed=3)
    for r, cell in zip(rows, ["a\rb", "\r", 'say "great", then\r\nfine', "x\ny", ",", "\r\r"]):
        r["text"] = cell
    rows[1]["movie"], rows[4]["movie"] = "m1\r", "\rm2"
    r = client.post("/predict", json={"rows": as_request(rows)})
    assert r.status_code == 200, r.text
    assert same_rows(r.json()["rows"], predicted(run, tmp_path / "in.csv", rows))
    bad = [*as_request(rows), {**as_request(rows)[0], "runtime": float("inf")}]
    r = client.post("/predict", content=json.dumps({"rows": bad}), headers={"content-type": "application/json"})
    assert r.status_code == 422 and one_line(r).startswith("row 6, column `runtime`"), r.text


def test_a_lone_surrogate_is_a_422_naming_row_and_column(run, client):
    """JSON may escape half of a UTF-16 pair ("\\ud800"): no text a CSV holds; the rows
    form refuses it at its row and column (it was a 500), as ``specdl.predict`` does."""
    rows = as_request(data_rows(3))
    rows[2]["movie"] = "m\ud800"  # json.dumps escapes it: "m\\ud800"
    r = client.post("/predict", content=json.dumps({"rows": rows}), headers={"content-type": "application/json"})
    assert r.status_code == 422 and "row 2, `movie`" in one_line(r) and "UTF-8" in one_line(r), r.text
    with pytest.raises(specdl.RunError, match=r"row 2, `movie` holds '\\ud800'"):
        specdl.predict(run, rows)


def test_a_text_a_csv_reads_as_missing_reads_so_in_every_form(run, client, tmp_path):
    """"NA", "null", "?" in a text or category cell are missing in a CSV (training's and
    predict's reading); the inputs form read them as words. Now both forms answer as
    `specdl predict` of the CSV."""
    rows = data_rows(5, seed=4)
    for r, cell in zip(rows, ["NA", "null", " ? ", "None", "n/a"]):
        r["text"] = cell
    rows[0]["movie"] = "NA"
    want = predicted(run, tmp_path / "in.csv", rows)
    for body in ({"rows": as_request(rows)}, {"inputs": as_inputs(as_request(rows))}):
        r = client.post("/predict", json=body)
        assert r.status_code == 200 and same_rows(r.json()["rows"], want), (body, r.text)
    assert same_rows(prediction_rows(specdl.predict(run, as_inputs(as_request(rows)))), want)  # the API's reading


def test_a_number_past_float32_after_the_transforms_is_a_422(run, client, tmp_path):
    """1e308 is a float64, and standardized still is one, but not a float32: predict
    answered NaN and serve a 500 (a non-finite output). Now each form, predict and the
    ONNX graph's feed refuse it at its row and column."""
    from specdl.runs.loaded import SavedRun
    from specdl.runs.named import from_mapping, graph_feed

    rows = as_request(data_rows(3))
    rows[1]["year"] = 1e308
    for body in ({"rows": rows}, {"inputs": as_inputs(rows)}):
        r = client.post("/predict", json=body)
        assert r.status_code == 422 and one_line(r).startswith("row 1, column `year` holds 1e+308"), r.text
        assert "float32" in one_line(r)
    write_csv(tmp_path / "in.csv", [{**r, "runtime": r["runtime"] or "", "year": repr(r["year"])} for r in rows])
    with pytest.raises(specdl.RunError, match="line 3, column `year` holds 1e.308"):
        predict_file(tmp_path / "in.csv", fmt="json", run_dir=run)
    rows[1]["year"] = 1e39  # fine for torch (standardized: ~1e37), not as the graph's raw float32 input
    assert client.post("/predict", json={"rows": rows}).status_code == 200
    saved = SavedRun(run)
    with pytest.raises(specdl.RunError, match="row 1, column `year` holds 1e.39: the ONNX graph"):
        graph_feed(saved, from_mapping(saved, as_inputs(rows)))


def test_the_onnx_backend_refuses_a_number_past_float32_before_the_graph(runs):  # noqa: F811
    """A CSV or array run's raw numbers go to the graph as float32: 1e39 was infinity
    there and a 500 (a non-finite output) where the torch backend answers; now a 422 at
    its row and column, before the graph (``prepare``, the backend's reading)."""
    from specdl.runs.inputs import RawInputs
    from specdl.runs.loaded import SavedRun
    from specdl.serving.onnx_backend import OnnxBackend

    for kind, x, says in [("csv", (np.array([[0.5, 1e39, 0.1, 0.2]]), np.array([["p", "u"]], dtype=object)),
                           "row 0, column `json` holds 1e+39"),
                          ("npz", np.array([[0.5, 0.1, -1e39, 0.2]]), "row 0 (feature 2) holds -1e+39")]:
        backend = object.__new__(OnnxBackend)  # its reading, without a graph
        backend.saved, backend.inputs = SavedRun(runs[kind]), ["numeric", "categorical"]
        with pytest.raises(specdl.RunError, match=re.escape(says) + ", past float32's range"):
            backend.prepare(RawInputs(x, ["row 0"]))
        fine = (x[0] * 0 + 1e38, x[1]) if kind == "csv" else x * 0 + 1e38
        assert backend.prepare(RawInputs(fine, ["row 0"]))["numeric"].dtype == np.float32


INPUTS_422 = [  # (a change to the inputs form of 3 good rows, what the 422's line starts with)
    ({"stats": [[100.0, 1990.0], None, [90.0, 2000.0]]}, "row 1, input `stats`"),
    ({"stats": [[100.0, 1990.0], [100.0], [90.0, 2000.0]]}, "row 1, input `stats`"),
    ({"stats": [[100.0, 1990.0], [100.0, 1990.0], [90.0, "x"]]}, "row 2, input `stats` at [1]: must be a number"),
    ({"review": ["fine", 5, "dull"]}, "row 1, input `review`: must be a string"),
    ({"movie": ["m1", "m2", ["m3"]]}, "row 2, input `movie`: must be a string"),
    ({"stats": [[100.0, True], [100.0, 1.0], [1.0, 2.0]]}, "row 0, input `stats` at [1]: must be a number"),
    ({"review": ["a", "b"]}, "the given inputs: the inputs hold different numbers of samples"),
    ({"zz": [1, 2, 3]}, "`inputs.zz`: unknown key"),
]


@pytest.mark.parametrize("change, says", INPUTS_422, ids=range(len(INPUTS_422)))
def test_the_inputs_form_refuses_naming_row_and_input(client, change, says):
    r = client.post("/predict", json={"inputs": {**as_inputs(as_request(data_rows(3))), **change}})
    assert r.status_code == 422 and one_line(r).startswith(says), r.text


def test_info_and_openapi_of_several_outputs(run, client):
    validator = pytest.importorskip("openapi_spec_validator")
    info = client.get("/info").json()
    assert info["task"] == "several" and info["outputs"] == OUTPUTS
    assert info["classes"] == {"label": ["0", "1"], "rating": None}
    assert [i["name"] for i in info["inputs"]["inputs"]] == ["review", "movie", "stats"]
    doc = client.get("/openapi.json").json()
    validator.validate(doc)
    assert list(doc["components"]["schemas"]["AnswerRow"]["properties"]) == OUTPUTS
    r = client.post("/predict", json={"inputs": as_inputs(as_request(data_rows(2)))})
    assert r.status_code == 200 and list(r.json()["rows"][0]) == OUTPUTS


def from_schema(doc: dict, schema: dict, top: bool = False, depth: int = 0) -> st.SearchStrategy:
    """JSON that fits ``schema`` (a part of the OpenAPI document ``doc``) or nearly:
    objects of their required properties, some others, now and then one missing or one
    more; lists (a field's lists of one length: ``top``), unions, numbers (NaN, infinities
    and 1e308 among them), texts (NA, "\\r", NUL among them), null."""
    if "$ref" in schema:  # a recursive one (nested lists of numbers) a few deep
        name = schema["$ref"].rsplit("/", 1)[1]
        return from_schema(doc, doc["components"]["schemas"][name], depth=depth + 1) if depth < 4 else st.floats(-9, 9)
    if "anyOf" in schema:
        return st.one_of([from_schema(doc, s, top, depth) for s in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "object":
        props = {k: from_schema(doc, v, True, depth) for k, v in schema.get("properties", {}).items()}
        needed = set(schema.get("required", []))
        whole = st.fixed_dictionaries({k: v for k, v in props.items() if k in needed},
                                      optional={k: v for k, v in props.items() if k not in needed})
        change = st.sampled_from([None, None, None, "drop", "zz"])
        return st.tuples(whole, change).map(lambda t: {k: v for k, v in t[0].items() if k != next(iter(t[0]), None)}
                                            if t[1] == "drop" else {**t[0], "zz": 1} if t[1] else t[0])
    if kind == "array":
        items = from_schema(doc, schema.get("items", {}), depth=depth)
        if top:  # the samples of one request: as many in each list
            return st.shared(st.integers(1, 3), key="n").flatmap(
                lambda n: st.lists(items, min_size=n, max_size=n))
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=3)
    return {"number": st.floats(-1e4, 1e4) | st.integers(-100, 3000) | st.sampled_from([1e308, -1e39, 1e-320])
            | st.floats(width=64),
            "string": st.sampled_from(["NA", "m1", "great film", "", "\r", "a\x00b", "é\u2028"]) | st.text(max_size=6),
            "null": st.none()}.get(kind, st.none() | st.floats(-10, 10) | st.text(max_size=4)
                                   | st.lists(st.floats(-10, 10), min_size=2, max_size=2))


@pytest.fixture(scope="module")
def generated(client):
    doc = client.get("/openapi.json").json()
    return from_schema(doc, doc["components"]["schemas"]["PredictRequest"])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_requests_generated_from_the_openapi_document_never_fail_the_server(client, generated, data):
    """Requests drawn from the app's own /openapi.json (either form, each input's values,
    keys left out or added): an answer with every output column, or one line; never a 500."""
    body = data.draw(generated)
    r = client.post("/predict", content=json.dumps(body).encode(), headers={"content-type": "application/json"})
    assert r.status_code in (200, 422), (body, r.text)
    if r.status_code == 200:
        assert all(list(row) == OUTPUTS for row in r.json()["rows"])
    else:
        one_line(r)


def test_good_and_bad_requests_in_one_batch(run):
    """Requests taken into one batch, each bad one in its own way: the good ones answer
    as alone, each bad one its own line naming its row and field."""
    served = specdl.serve_app(run, max_batch=64).state.served
    good = [{"rows": as_request(data_rows(2, seed=s))} for s in range(3)]
    inf_row = {**good[0]["rows"][1], "runtime": float("inf")}
    big = as_inputs(as_request(data_rows(2)))
    big["stats"][1][0] = 1e308
    bodies = [good[0], {"rows": [good[1]["rows"][0], inf_row]}, good[1], {"inputs": big}, good[2],
              {"rows": [{**good[0]["rows"][0], "movie": "m\ud800"}]}]
    answers = batched(served, bodies)
    assert served.batcher.batches[-1] == 11  # one batch of every row
    for i, says in ((1, "row 1, column `runtime`"), (3, "row 1, column `runtime` holds 1e+308"), (5, "row 0, `movie`")):
        assert isinstance(answers[i], specdl.RunError) and str(answers[i]).startswith(says), answers[i]
    from specdl.serving.schema import request_model

    model = request_model(served.saved)
    for i in (0, 2, 4):
        assert same_rows(answers[i], served.predict(model.model_validate(bodies[i])))


def test_a_key_of_other_than_ascii_matches_sent_as_utf8(run, monkeypatch):
    """SPECDL_API_KEY "clé-ß": the header's bytes arrive decoded as latin-1, so the right
    key sent as UTF-8 was a 401 every time."""
    monkeypatch.setenv("SPECDL_API_KEY", "clé-ß")
    with TestClient(specdl.serve_app(run)) as c:
        assert c.get("/info", headers={"X-API-Key": "clé-ß".encode()}).status_code == 200
        for wrong in ("clé-s".encode(), b"cle-ss", "clé-ß".encode() + b"x"):
            assert c.get("/info", headers={"X-API-Key": wrong}).status_code == 401, wrong
        assert c.get("/info").status_code == 401


@pytest.fixture
def no_uvicorn(monkeypatch):
    """`specdl serve` returns at once where it would serve (a run it should refuse fails
    its test, never hangs it)."""
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)


def test_an_edited_preprocess_json_is_one_line_exit_2(run, tmp_path, capsys, no_uvicorn):
    """An input's fitted transforms edited (a key renamed, a text for a number, a list
    cut short): it was a 500 (KeyError, UFuncTypeError) on every request, or a silent
    broadcast; now `specdl serve` refuses it in one line before the port opens."""
    import shutil

    from specdl.cli import main

    edits = [lambda t: t.__setitem__(0, {"x": 1}), lambda t: t[1].update(mean="abc"),
             lambda t: t[1].update(mean=[1.0]), lambda t: t.pop()]
    for n, edit in enumerate(edits):
        copy = shutil.copytree(run, tmp_path / f"r{n}")
        pre = json.loads((copy / "preprocess.json").read_text())
        edit(pre["inputs"]["stats"]["transforms"])
        (copy / "preprocess.json").write_text(json.dumps(pre))
        assert main(["serve", str(copy)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "preprocess.json does not fit the run's spec" in err and "Traceback" not in err


def test_another_runs_or_a_truncated_model_raw_onnx_is_one_line_exit_2(run, tmp_path, capsys, no_uvicorn):
    """--backend onnx with a model.raw.onnx of another run (other inputs, a text of
    another length) loaded, said it was ready, and failed every request (500); now it is
    one line naming the export command. A truncated file: one line too."""
    import shutil

    import onnx
    from onnx import TensorProto, helper

    from specdl.cli import main
    from specdl.runs.loaded import SavedRun

    def graph(inputs) -> bytes:
        ins = [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs]
        out = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])
        nodes = [helper.make_node("ConstantOfShape", ["shape"], ["probabilities"])]
        shape = helper.make_tensor("shape", TensorProto.INT64, [2], [1, 2])
        model = helper.make_model(helper.make_graph(nodes, "g", ins, [out], [shape]))
        model.metadata_props.add(key="specdl.with_preprocessing", value="1")
        return model.SerializeToString()

    length = SavedRun(run).pre["inputs"]["review"]["length"]
    cases = [(graph([("review", TensorProto.INT64, ["N", length])]), "it takes `review`; this run's inputs are"),
             (graph([("review", TensorProto.INT64, ["N", length + 3]), ("movie", TensorProto.STRING, ["N"]),
                     ("stats", TensorProto.FLOAT, ["N", 2])]), f"its `review` is [{length + 3}] per sample"),
             (graph([("review", TensorProto.INT64, ["N", length])])[:40], "onnxruntime cannot load")]
    for n, (data, says) in enumerate(cases):
        copy = shutil.copytree(run, tmp_path / f"r{n}")
        (copy / "model.raw.onnx").write_bytes(data)
        assert main(["serve", str(copy), "--backend", "onnx"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err and "Traceback" not in err, err
    assert onnx  # the graphs above are onnx's own


@pytest.mark.slow  # exports the run with its preprocessing (torch.onnx)
def test_the_onnx_backend_answers_hostile_texts_as_predict(run, tmp_path):
    """Texts a CSV reads as missing, line ends, quotes, unicode, a 1 MB text, an unseen
    category, blank numbers: the onnx backend (its own tokenizing, without torch) answers
    both forms within the export's tolerance of `specdl predict`, and as the torch backend."""
    import shutil

    from .test_serve import within_export_tolerance

    copy = shutil.copytree(run, tmp_path / "run")
    specdl.export(copy, with_preprocessing=True)
    rows = data_rows(8, seed=5)
    for r, cell in zip(rows, ["NA", "a\rb", 'say "great", fine', "café GREAT! 😀", "great " * 170_000, "", " ? "]):
        r["text"] = cell
    rows[2]["movie"], rows[3]["movie"], rows[4]["runtime"] = "never seen", "", ""
    want = predicted(copy, tmp_path / "in.csv", rows)
    with TestClient(specdl.serve_app(copy, backend="onnx", max_body=20_000_000)) as onnx, \
            TestClient(specdl.serve_app(copy, max_body=20_000_000)) as torch_:
        for body in ({"rows": as_request(rows)}, {"inputs": as_inputs(as_request(rows))}):
            got = onnx.post("/predict", json=body)
            assert got.status_code == 200, got.text
            assert within_export_tolerance(got.json()["rows"], want, thresholds={"label": 0.5})
            assert within_export_tolerance(got.json()["rows"], torch_.post("/predict", json=body).json()["rows"],
                                           thresholds={"label": 0.5})


# -- the real server, over real HTTP on 127.0.0.1 (slow: a process that imports torch)

def mixed(url: str) -> tuple[list, list]:
    """Good and bad requests sent at once from 16 threads: (good answers, bad answers)."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    good = [{"rows": as_request(data_rows(1, seed=s))} for s in range(24)]
    bad = [({"rows": [*good[0]["rows"], {**good[1]["rows"][0], "runtime": "x"}]}, "row 1, `runtime`"),
           ({"inputs": {**as_inputs(good[0]["rows"] * 2), "stats": [[1.0, 2.0], None]}}, "row 1, input `stats`"),
           ({"rows": [{**good[2]["rows"][0], "zz": 1}]}, "row 0, `zz`"),
           ({"rows": [{**good[2]["rows"][0], "year": 1e308}]}, "row 0, column `year`")]
    jobs = [("good", b) for b in good] + [("bad", b) for b, _ in bad] * 3
    order = np.random.default_rng(0).permutation(len(jobs))
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: (i, httpx.post(f"{url}/predict", json=jobs[i][1], timeout=60)), order))
    answers = dict(answers)
    goods = [answers[i] for i in range(len(good))]
    bads = [(answers[len(good) + j], bad[j % len(bad)][1]) for j in range(3 * len(bad))]
    return goods, bads


@pytest.mark.slow  # starts server processes
@pytest.mark.parametrize("options", [["--max-batch", "1"], ["--max-batch", "1000", "--max-wait-ms", "0"],
                                     ["--max-batch", "4", "--max-wait-ms", "30"]], ids=["1", "large-0ms", "4-30ms"])
def test_a_real_server_answers_mixed_concurrent_requests(run, tmp_path, options):
    """Good and bad requests at once over real HTTP: each good one as `specdl predict`
    of its row (to 1e-6), each bad one its own 422 naming its row and field."""
    import httpx

    proc, url = start_server(run, *options)
    try:
        goods, bads = mixed(url)
        want = predicted(run, tmp_path / "in.csv", [data_rows(1, seed=s)[0] for s in range(24)])
        assert all(r.status_code == 200 for r in goods)
        assert same_rows([r.json()["rows"][0] for r in goods], want)
        for r, says in bads:
            assert r.status_code == 422 and one_line(r).startswith(says), (says, r.text)
        assert httpx.get(f"{url}/health").status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


@pytest.mark.slow  # starts a server process
def test_sigterm_with_requests_queued_in_a_batch_answers_them(run):
    """SIGTERM while requests wait in the batcher's queue (a wait of 2 s for more, held
    open by a client still sending): every request already sent is answered, then exit 0."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from .test_serve import half_sent

    proc, url = start_server(run, "--max-batch", "64", "--max-wait-ms", "2000")
    try:
        body = json.dumps({"rows": as_request(data_rows(2))}).encode()
        slow = half_sent(url, body)  # on its way: the batch waits for it
        time.sleep(0.3)
        with ThreadPoolExecutor(6) as pool:
            sent = [pool.submit(httpx.post, f"{url}/predict", json={"rows": as_request(data_rows(1, seed=s))},
                                timeout=60) for s in range(6)]
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            slow.send(body[len(body) // 2:])
            answers = [f.result() for f in sent]
        assert all(r.status_code == 200 and list(r.json()["rows"][0]) == OUTPUTS for r in answers)
        assert slow.getresponse().status == 200
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert "Traceback" not in err and "stopped (SIGTERM)" in err, err
