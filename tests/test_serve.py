"""`specdl serve` (spec-language.md 12.8, issue 31 part A): a finished run as an HTTP
service whose answers are `specdl predict --format json`'s rows for the same inputs. In
process through FastAPI's TestClient (httpx) on three tiny runs trained once (a CSV run
whose headers are Python's and pydantic's own names, an npz run, an image run); the real
`specdl serve` on 127.0.0.1 over real HTTP in the slow set."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import specdl
from specdl.cli import main
from specdl.runs.predict import predict_file
from specdl.serving.schema import request_model

from .conftest import ROOT
from .test_api_predict import MODEL, TRAIN
from .test_data_hardening import image_folder

pytest.importorskip("fastapi")
with __import__("warnings").catch_warnings():  # starlette's note on its httpx client
    __import__("warnings").simplefilter("ignore")
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HEADERS = ["class", "json", "_id", "model_config", "a b", "2020"]  # a keyword, BaseModel's own names, ...


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three tiny runs (~0.3 s each): a CSV run with the HEADERS (categorical `_id`, `a b`;
    a blank cell filled), an npz run, an image run."""
    root = tmp_path_factory.mktemp("serve-runs")
    x = np.random.default_rng(0).normal(size=(40, 4))
    (root / "d.csv").write_text(",".join(HEADERS) + ",y\n" + "".join(
        f"{x[i, 0]:.3f},{'' if i % 7 == 0 else f'{x[i, 1]:.3f}'},{'pq'[i % 2]},{x[i, 2]:.3f},{'uv'[i % 3 == 0]},"
        f"{x[i, 3]:.3f},{'yes' if x[i, 0] > 0 else 'no'}\n" for i in range(40)))
    np.savez(root / "d.npz", feats=x, labels=(x[:, 0] > 0).astype(np.int64))
    image_folder(root / "img", n=6)
    specs = {"csv": f"data: {{source: csv, path: {root}/d.csv, target: y, categorical: [_id, a b], "
                    "transforms: [{fill: mean}, standardize]}\n",
             "npz": f"data: {{source: npz, path: {root}/d.npz, x: feats, y: labels}}\n",
             "img": f"data: {{source: image_folder, root: {root}/img}}\n"}
    out = {"root": root}
    for name, data in specs.items():
        (root / f"{name}.yaml").write_text(f"name: {name}\n" + data + MODEL + TRAIN)
        out[name] = specdl.train(root / f"{name}.yaml", out=root / f"{name}-run").run_dir
    return out


def rows_csv(path, n=5, seed=1):
    """``n`` rows in the CSV run's columns (a missing cell, an unseen category among them),
    written to ``path``; returns them as the request's dicts."""
    rng = np.random.default_rng(seed)
    rows = [{"class": float(rng.normal()), "json": None if i == 1 else float(rng.normal()), "_id": "pq"[i % 2],
             "model_config": float(rng.normal()), "a b": "w" if i == 2 else "uv"[i % 2], "2020": float(rng.normal())}
            for i in range(n)]
    path.write_text(",".join(HEADERS) + "\n" + "".join(
        ",".join("" if r[h] is None else repr(r[h]) if isinstance(r[h], float) else r[h] for h in HEADERS) + "\n"
        for r in rows))
    return rows


def predicted(run, path) -> list[dict]:
    """`specdl predict RUN --input PATH --format json`'s rows."""
    return json.loads(predict_file(path, fmt="json", run_dir=run)[1])


def same_rows(a: list[dict], b: list[dict], keys=None) -> bool:
    """The same predictions, the probabilities within 1e-6 (``keys``: those compared)."""
    assert len(a) == len(b) and a
    for r, s in zip(a, b):
        keys_r = [k for k in r if keys is None or k in keys]
        assert keys_r == [k for k in s if keys is None or k in keys], (r, s)
        for k in keys_r:
            assert r[k] == pytest.approx(s[k], abs=1e-6) if isinstance(r[k], float) else r[k] == s[k], (k, r, s)
    return True


@pytest.fixture(scope="module")
def csv_client(runs):
    with TestClient(specdl.serve_app(runs["csv"])) as client:
        yield client


def test_csv_run_answers_as_predict(runs, csv_client, tmp_path):
    rows = rows_csv(tmp_path / "in.csv")
    want = predicted(runs["csv"], tmp_path / "in.csv")
    r = csv_client.post("/predict", json={"rows": rows})
    assert r.status_code == 200, r.text
    assert same_rows(r.json()["rows"], want)
    assert [k for k in want[0]] == ["prediction", "p_no", "p_yes"]
    by_columns = csv_client.post("/predict", json={"columns": HEADERS, "data": [[r[h] for h in HEADERS] for r in rows]})
    assert by_columns.json() == r.json()


def test_fields_are_safe_names_aliased_by_column(runs, csv_client):
    schemas = csv_client.get("/openapi.json").json()["components"]["schemas"]
    assert sorted(schemas["Row"]["properties"]) == sorted(HEADERS)  # the document speaks the columns' names
    assert schemas["Row"]["properties"]["_id"]["anyOf"][0]["type"] == "string"
    assert "p_yes" in schemas["AnswerRow"]["properties"]
    from specdl.serving.schema import safe_names

    names = safe_names(HEADERS)
    assert all(n.isidentifier() and not n.startswith("_") for n in names.values()), names
    assert names["a b"] != names["class"] and len(set(names.values())) == len(HEADERS)
    assert safe_names(["a b", "a_b", "x"]) == {"a b": "a_b", "a_b": "a_b_", "x": "x"}


@pytest.mark.parametrize("kind", ["csv", "npz", "img"])
def test_the_openapi_document_validates(runs, kind):
    validator = pytest.importorskip("openapi_spec_validator")
    with TestClient(specdl.serve_app(runs[kind])) as client:
        doc = client.get("/openapi.json").json()
    validator.validate(doc)
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/PredictRequest"}
    forms = {"csv": {"rows", "columns", "data"}}.get(kind, {"instances"})
    assert set(doc["components"]["schemas"]["PredictRequest"]["properties"]) == forms


def test_the_openapi_document_describes_both_forms_of_a_csv_request(runs, csv_client, tmp_path):
    """/openapi.json's request: `rows`, or `columns` and `data` (one of the two); a body of
    either form that the document takes is answered alike, one with neither is refused by both."""
    import jsonschema

    doc = csv_client.get("/openapi.json").json()
    schema = {**doc["components"]["schemas"]["PredictRequest"], "components": doc["components"]}  # its $refs resolve
    rows = rows_csv(tmp_path / "in.csv", 3)
    columns = list(rows[0])
    bodies = [{"rows": rows}, {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}]
    answers = []
    for body in bodies:
        jsonschema.validate(body, schema)
        r = csv_client.post("/predict", json=body)
        assert r.status_code == 200, r.text
        answers.append(r.json())
    assert answers[0] == answers[1]
    for bad in ({"columns": columns}, {}, {"rows": rows, "columns": columns, "data": []}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
        assert csv_client.post("/predict", json=bad).status_code == 422


def test_health_ready_info(runs, csv_client):
    from specdl.front import load, spec_fingerprint

    assert csv_client.get("/health").json() == {"status": "ok"}
    assert csv_client.get("/ready").json() == {"ready": True}
    info = csv_client.get("/info").json()
    assert info["name"] == "csv" and info["backend"] == "torch" and info["specdl"] == specdl.__version__
    assert info["fingerprint"] == spec_fingerprint(load(runs["root"] / "csv.yaml"))  # tune's, of the spec trained
    assert info["fingerprint"] == spec_fingerprint(load(runs["csv"] / "spec.yaml"))
    assert info["classes"] == ["no", "yes"] and info["outputs"] == ["prediction", "p_no", "p_yes"]
    cats = {c["name"]: c.get("categories") for c in info["inputs"]["columns"]}
    assert cats == {"class": None, "json": None, "model_config": None, "2020": None, "_id": ["p", "q"],
                    "a b": ["u", "v"]}


GOOD = {**dict.fromkeys(["class", "json", "model_config", "2020"], 0.5), "_id": "p", "a b": "u"}
HOSTILE = [  # (body, what the 422's line says)
    ({"rows": [{**GOOD, "class": "1.5"}]}, "row 0, `class`: must be a number, got '1.5'"),
    ({"rows": [{h: 1.0 for h in HEADERS}]}, "row 0, `_id`: must be a string, got 1.0"),
    ({"rows": [{k: v for k, v in GOOD.items() if k != "2020"}]}, "row 0, `2020`: missing"),
    ({"rows": [GOOD, {**GOOD, "a_b": 1}]}, "row 1, `a_b`: not a column the run reads; did you mean `a b`?"),
    ({"rows": [{**GOOD, "class": True}]}, "row 0, `class`: must be a number, got True"),
    ({"rows": [GOOD], "row": 1}, "`row`: unknown key; did you mean `rows`?"),
    ({"rows": []}, "`rows`: needs at least 1 item(s), got 0"),
    ({"rows": "all of them"}, "`rows`: must be a list"),
    ({"columns": HEADERS, "data": [[1.0]]}, "data row 0 has 1 cells for 6 columns"),
    ({"instances": [[1, 2]]}, "`instances`: unknown key"),
    ({"\n": None}, "`\\n`: unknown key"),  # a name with a newline, escaped: the line stays one line
    ([1, 2, 3], "the body is a JSON list; send an object with `rows` or `columns`"),
]
@pytest.mark.parametrize("body, says", HOSTILE, ids=range(len(HOSTILE)))
def test_bad_requests_are_422_naming_row_and_field(csv_client, body, says):
    r = csv_client.post("/predict", json=body)
    assert r.status_code == 422, r.text
    assert says in r.json()["error"] and "Traceback" not in r.text


def one_line(r) -> str:
    """An error answer's ``error``: one line, no traceback."""
    line = r.json()["error"]
    assert "\n" not in line and "Traceback" not in line, line
    return line


@pytest.mark.parametrize("text, says", [
    ('{"rows": [', "the body is not JSON"),
    ('{"rows": [{"class": Infinity, "json": 1, "_id": "p", "model_config": 1, "a b": "u", "2020": 1}]}',
     "row 0, column `class` holds an infinite value"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_bad_json_and_values_are_refused_and_the_server_answers_on(runs, csv_client, tmp_path, text, says):
    r = csv_client.post("/predict", content=text.encode(), headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert says in one_line(r)
    good = csv_client.post("/predict", json={"rows": rows_csv(tmp_path / "in.csv", 2)})
    assert good.status_code == 200


SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=3), max_leaves=12)
ROWS = st.lists(st.dictionaries(st.sampled_from([*HEADERS, "y", "a_b", ""]), SCALARS | JSON, max_size=8), max_size=4)
BODIES = JSON | st.fixed_dictionaries({"rows": ROWS}) | st.fixed_dictionaries(
    {"columns": st.lists(st.sampled_from(HEADERS), max_size=7), "data": st.lists(st.lists(SCALARS, max_size=7), max_size=3)})


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=BODIES)
def test_generated_requests_never_fail_the_server(csv_client, body):
    """Any JSON, rows of any keys and values, columns and data of any cells: an answer or
    one line (NaN and infinities among the floats), never a 500."""
    r = csv_client.post("/predict", content=json.dumps(body).encode(), headers={"content-type": "application/json"})
    assert r.status_code in (200, 400, 422), r.text
    if r.status_code != 200:
        one_line(r)


def test_a_body_not_sent_as_json_says_so(csv_client, tmp_path):
    body = json.dumps({"rows": rows_csv(tmp_path / "in.csv", 2)}).encode()
    r = csv_client.post("/predict", content=body, headers={"content-type": "text/plain"})
    assert r.status_code == 422 and "Content-Type: application/json" in one_line(r)
    assert csv_client.post("/predict", content=body, headers={"content-type": "application/json"}).status_code == 200


@pytest.mark.parametrize("text", ['{"rows": [{"a": NaN, "b": -Infinity, "c": 12345678901234567890123}]}',
                                  '{"s": "caf\u00e9 \\ud83d\\ude00 \\ud800"}', "[" * 300 + "]" * 300, '[1e400, 0.1]'])
def test_the_fast_json_parser_reads_as_the_json_module(text):
    """The body's parser (pydantic-core's, else the json module's: a lone surrogate,
    nesting past its limit) gives what json.loads gives."""
    import asyncio

    from specdl.serving.guards import JSONBody

    async def receive():
        return {"type": "http.request", "body": text.encode(), "more_body": False}

    got = asyncio.run(JSONBody({"type": "http", "method": "POST", "headers": []}, receive).json())
    assert json.dumps(got) == json.dumps(json.loads(text))


def test_a_nan_is_a_missing_value_filled_as_in_predict(runs, csv_client, tmp_path):
    rows = rows_csv(tmp_path / "in.csv", 3)  # row 1's `json` is blank there
    text = json.dumps({"rows": rows}).replace('"json": null', '"json": NaN')
    r = csv_client.post("/predict", content=text.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert same_rows(r.json()["rows"], predicted(runs["csv"], tmp_path / "in.csv"))


def test_array_run_takes_instances(runs, tmp_path):
    x = np.random.default_rng(3).normal(size=(4, 4))
    np.save(tmp_path / "x.npy", x)
    with TestClient(specdl.serve_app(runs["npz"])) as client:
        r = client.post("/predict", json={"instances": x.tolist()})
        assert r.status_code == 200, r.text
        assert same_rows(r.json()["rows"], predicted(runs["npz"], tmp_path / "x.npy"))
        for bad, says in [([[1.0, 2.0]], "the model takes [4]"), ([[1.0, [2.0]], [1.0]], "not all of one length"),
                          ([[1.0, 2.0, "a", 3.0]], "instance 0 at [2]: must be a number, got 'a'"), ([], "`instances`")]:
            r = client.post("/predict", json={"instances": bad})
            assert r.status_code == 422 and says in json.dumps(r.json()), (bad, r.text)


def batched(served, bodies, cancel=()):
    """Each body's answer when all are submitted while the batcher is held (so that it
    takes them together); ``cancel``: the indices whose futures are cancelled before the
    batch starts (as at a 504)."""
    from specdl.serving.requests import request_rows

    model = request_model(served.saved)
    with served.batcher.held():
        futures = [served.batcher.submit(b, request_rows(b)) for b in map(model.model_validate, bodies)]
        assert all(futures[i].cancel() for i in cancel)
    return [None if f.cancelled() else f.result(timeout=60) for f in futures]


def test_micro_batches_combine_rows_and_answer_as_one_at_a_time(runs, tmp_path):
    """Requests of 3, 2, 4 and 20 rows with --max-batch 8: [3+2], [4], [20 alone, in
    chunks of 8]; every answer as the request run alone (to 1e-6, docs/serving.md) and
    as `specdl predict`. A request that cannot be read fails alone (422's RunError)."""
    x = np.random.default_rng(7).normal(size=(29, 4))
    np.save(tmp_path / "x.npy", x)
    want = predicted(runs["npz"], tmp_path / "x.npy")
    served = specdl.serve_app(runs["npz"], max_batch=8, max_wait_ms=50).state.served
    cuts = [0, 3, 5, 9, 29]
    bodies = [{"instances": x[a:b].tolist()} for a, b in zip(cuts, cuts[1:])]
    answers = batched(served, bodies)
    assert served.batcher.batches == [5, 4, 20]
    for body, answer, a, b in zip(bodies, answers, cuts, cuts[1:]):
        alone = served.predict(request_model(served.saved).model_validate(body))
        assert same_rows(answer, alone) and same_rows(answer, want[a:b])
    bodies = [{"instances": x[a:b].tolist()} for a, b in [(0, 3), (3, 5), (5, 7)]]
    answers = batched(served, bodies, cancel=[1])  # a 504: not yet started, it leaves its batch
    assert served.batcher.batches[-1] == 5 and answers[1] is None and same_rows(answers[2], want[5:7])
    answers = batched(served, [bodies[0], {"instances": [[1.0, 2.0]]}, bodies[2]])
    assert isinstance(answers[1], specdl.RunError) and "the model takes [4]" in str(answers[1])
    assert same_rows(answers[0], want[0:3]) and same_rows(answers[2], want[5:7])


def test_a_batch_that_fails_runs_again_one_request_at_a_time():
    """A combined forward that fails (a real torch module given a width it cannot take)
    runs again one request at a time: only the request that breaks it fails."""
    import torch

    from specdl.serving.batcher import Batcher

    model = torch.nn.Linear(4, 2)
    run = lambda xs: list(torch.split(model(torch.cat(xs)), [len(x) for x in xs]))  # noqa: E731
    batcher = Batcher(run, max_batch=32, max_wait=0.05)
    good, bad = torch.ones(2, 4), torch.ones(2, 3)
    with batcher.held():
        futures = [batcher.submit(x, 2) for x in (good, bad, good)]
    assert isinstance(futures[1].exception(timeout=60), RuntimeError)
    assert torch.equal(futures[0].result(), model(good)) and torch.equal(futures[2].result(), model(good))
    assert batcher.batches == [6, 2, 2, 2]


def test_a_batch_waits_at_most_max_wait_and_only_for_requests_on_their_way():
    """A request arrived and still being read: a batch waits for it, at most
    --max-wait-ms, and takes it when it comes; with nothing on its way, no wait."""
    import contextvars
    import threading

    from specdl.serving.batcher import Batcher

    batcher = Batcher(lambda xs: [x.upper() for x in xs], max_batch=32, max_wait=0.5)
    with batcher.handling():  # on its way, never submitted
        start = time.monotonic()
        other = contextvars.Context().run(batcher.submit, "a", 1)  # another request's (no handling of its own)
        assert other.result(timeout=10) == "A"
        assert 0.45 <= time.monotonic() - start < 5 and batcher.batches == [1]
    reading, futures = threading.Event(), {}

    def second():
        with batcher.handling():
            reading.set()
            time.sleep(0.1)  # its body being read
            futures["c"] = batcher.submit("c", 1)

    thread = threading.Thread(target=second)
    thread.start()
    reading.wait(5)
    start = time.monotonic()
    assert batcher.submit("b", 1).result(timeout=10) == "B"
    thread.join()
    assert futures["c"].result(timeout=10) == "C" and batcher.batches[-1] == 2  # it came within the wait
    assert time.monotonic() - start < 0.45  # and nothing else was on its way: no more waiting
    start = time.monotonic()
    assert batcher.submit("d", 1).result(timeout=10) == "D" and time.monotonic() - start < 0.3


def test_a_request_past_its_timeout_is_a_timeout_and_a_cancelled_one_stays_cancelled():
    """app._batched: past --timeout the request is a TimeoutError (the 504) and its row,
    not yet started, leaves its batch; a request cancelled from outside (the client went
    away, the server stops) is a CancelledError, never taken for a timeout."""
    import asyncio
    import threading
    from types import SimpleNamespace

    from specdl.serving.app import _batched
    from specdl.serving.batcher import Batcher

    release, ran = threading.Event(), []
    batcher = Batcher(lambda xs: ran.extend(xs) or (release.wait(10), xs)[1], max_batch=1, max_wait=0)
    served = SimpleNamespace(batcher=batcher)
    body = SimpleNamespace(instances=[[1.0]])

    async def scenario():
        first = asyncio.ensure_future(_batched(served, body, 30))  # runs, holding the worker
        while not ran:
            await asyncio.sleep(0.01)
        with pytest.raises(asyncio.TimeoutError):  # queued behind it, past its timeout
            await _batched(served, SimpleNamespace(instances=[[2.0]]), 0.05)
        third = asyncio.ensure_future(_batched(served, SimpleNamespace(instances=[[3.0]]), 30))
        await asyncio.sleep(0.05)
        third.cancel()
        with pytest.raises(asyncio.CancelledError):
            await third
        release.set()
        return await first

    assert asyncio.run(scenario()) is body
    time.sleep(0.1)
    assert ran == [body] and batcher.batches == [1]  # the timed-out and the cancelled never ran


def test_a_lone_request_does_not_wait_for_a_batch(runs):
    with TestClient(specdl.serve_app(runs["npz"], max_wait_ms=20_000)) as client:
        start = time.monotonic()
        assert client.post("/predict", json={"instances": [[0.1, 0.2, 0.3, 0.4]]}).status_code == 200
        assert time.monotonic() - start < 5  # not the 20 s --max-wait-ms: nothing else was queued


def big_png() -> str:
    """A 100 kB PNG of 8000x8000 pixels (one colour), in base64."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8000, 8000)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_image_run_takes_base64_and_paths_under_files_only(runs, tmp_path):
    folder = runs["root"] / "img" / "a"
    files = sorted(folder.glob("*.png"))[:3]
    want = predicted(runs["img"], folder)[:3]
    (tmp_path / "outside.png").write_bytes(files[0].read_bytes())
    (folder.parent / "link.png").unlink(missing_ok=True)
    (folder.parent / "link.png").symlink_to(tmp_path / "outside.png")
    items = [{"base64": base64.b64encode(f.read_bytes()).decode()} for f in files]
    with TestClient(specdl.serve_app(runs["img"], files=folder.parent)) as client:
        r = client.post("/predict", json={"instances": items})
        assert r.status_code == 200, r.text
        assert same_rows(r.json()["rows"], want, keys={"prediction", "p_a", "p_b"})
        assert [row["file"] for row in r.json()["rows"]] == ["instance 0", "instance 1", "instance 2"]
        by_path = client.post("/predict", json={"instances": [{"path": f"a/{f.name}"} for f in files]})
        assert same_rows(by_path.json()["rows"], want, keys={"prediction", "p_a", "p_b"})
        for item, says in [({"path": "../outside.png"}, "without `..`"), ({"path": str(files[0])}, "relative"),
                           ({"path": "link.png"}, "leads out"), ({"path": "a/none.png"}, "no file"),
                           ({"base64": "bm90IGFuIGltYWdl"}, "does not hold a readable image"),
                           ({"base64": "***"}, "not base64"), ({"base64": big_png()}, "the server decodes at most"), ({"base64": "eA==", "path": "a/0.png"}, "one of them")]:
            r = client.post("/predict", json={"instances": [item]})
            assert r.status_code == 422 and says in json.dumps(r.json()), (item, r.text)
        assert client.post("/predict", json={"instances": items[:1]}).status_code == 200
    with TestClient(specdl.serve_app(runs["img"])) as client:  # no --files: no paths at all
        r = client.post("/predict", json={"instances": [{"path": f"a/{files[0].name}"}]})
        assert r.status_code == 422 and "--files" in r.json()["detail"]


def test_body_limit_and_timeout(runs, tmp_path):
    rows = rows_csv(tmp_path / "in.csv", 50)
    with TestClient(specdl.serve_app(runs["csv"], max_body="2KB")) as client:
        assert client.post("/predict", json={"rows": rows}).status_code == 413
        chunked = client.post("/predict", content=iter([json.dumps({"rows": rows}).encode()[i:i + 500]
                                                        for i in range(0, 8000, 500)]),
                              headers={"content-type": "application/json"})
        assert chunked.status_code == 413 and "--max-body" in one_line(chunked)
        both = client.post("/predict", content=iter([json.dumps({"rows": rows}).encode()[i:i + 500]
                                                     for i in range(0, 8000, 500)]),
                           headers={"content-type": "application/json", "content-length": "20", "transfer-encoding": "chunked"})
        assert both.status_code == 413, both.text  # a short Content-Length beside Transfer-Encoding: chunked
        assert client.post("/predict", json={"rows": rows[:2]}).status_code == 200
    with TestClient(specdl.serve_app(runs["csv"], timeout=1e-6)) as client:
        r = client.post("/predict", json={"rows": rows})
        assert r.status_code == 504 and "--timeout" in one_line(r)


def test_api_key(runs, monkeypatch, tmp_path):
    monkeypatch.setenv("SPECDL_API_KEY", "s3cret")
    body = {"rows": rows_csv(tmp_path / "in.csv", 2)}
    with TestClient(specdl.serve_app(runs["csv"])) as client:
        assert client.post("/predict", json=body).status_code == 401
        assert "X-API-Key" in one_line(client.post("/predict", json=body))
        assert client.post("/predict", json=body, headers={"X-API-Key": "s3cres"}).status_code == 401
        assert client.get("/info").status_code == 401
        assert client.post("/predict", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert client.get("/health").status_code == client.get("/ready").status_code == 200
        assert client.get("/openapi.json").status_code == 200 and client.get("/docs").status_code == 200
    with TestClient(specdl.serve_app(runs["csv"], protect_docs=True)) as client:
        assert client.get("/openapi.json").status_code == client.get("/docs").status_code == 401
        assert client.get("/openapi.json", headers={"X-API-Key": "s3cret"}).json()["paths"]["/predict"]
        assert client.get("/docs", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert client.get("/health").status_code == 200


def test_docs_assets_are_served_by_the_server_itself(runs):
    """/docs's Swagger UI from the fastapi-offline package's files: no address off the
    server, mounted or not; the assets answer."""
    import re

    parent = FastAPI()
    parent.mount("/model", specdl.serve_app(runs["csv"]))
    with TestClient(specdl.serve_app(runs["csv"])) as client, TestClient(parent) as mounted:
        for c, root in ((client, ""), (mounted, "/model")):
            page = c.get(f"{root}/docs").text
            refs = re.findall(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""", page)
            assert f"{root}/docs-assets/swagger-ui-bundle.js" in refs and f"{root}/openapi.json" in refs, refs
            assert all(r.startswith(f"{root}/") for r in refs) and "//" not in " ".join(refs), refs
            for ref in refs:
                r = c.get(ref)
                assert r.status_code == 200 and len(r.content) > 300, ref
        assert "SwaggerUIBundle" in client.get("/docs-assets/swagger-ui-bundle.js").text


def test_mounted_in_another_app_loads_on_first_use(runs, tmp_path):
    model = specdl.serve_app(runs["csv"])
    parent = FastAPI()
    parent.mount("/model", model)
    rows = rows_csv(tmp_path / "in.csv", 3)
    with TestClient(parent) as client:
        assert not model.state.served.ready  # a mounted app gets no lifespan events
        r = client.post("/model/predict", json={"rows": rows})
        assert r.status_code == 200 and model.state.served.ready
        assert same_rows(r.json()["rows"], predicted(runs["csv"], tmp_path / "in.csv"))


def test_a_model_that_fails_is_a_500_with_one_line(runs, tmp_path, caplog):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with TestClient(specdl.serve_app(runs["csv"], checkpoint=tmp_path / "bad.pt"), raise_server_exceptions=False) as c:
        r = c.post("/predict", json={"rows": rows_csv(tmp_path / "in.csv", 2)})
        assert r.status_code == 500 and "Traceback" not in r.text and "\n" not in one_line(r)
        assert "did not load" in r.json()["detail"] and "did not load" in caplog.text
        assert c.get("/ready").status_code == 503 and c.get("/health").status_code == 200


def test_serve_refuses_in_one_line(runs, capsys):
    assert main(["serve", str(runs["npz"]), "--backend", "onnx"]) == 2  # not exported with its preprocessing
    err = capsys.readouterr().err
    assert f"has no model.raw.onnx: write it with `specdl export {runs['npz']} --with-preprocessing`" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["serve", str(runs["img"]), "--backend", "onnx"]) == 2  # an image run too: its raw graph first
    assert f"has no model.raw.onnx: write it with `specdl export {runs['img']} --with-preprocessing`" in \
        capsys.readouterr().err
    assert main(["serve", str(runs["root"] / "nothing")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert main(["serve", str(runs["csv"]), "--max-body", "lots"]) == 2
    assert "--max-body lots" in capsys.readouterr().err
    assert main(["serve", str(runs["csv"]), "--timeout", "0"]) == 2
    assert "--timeout 0: give a number of seconds above 0" in capsys.readouterr().err
    assert main(["serve", str(runs["csv"]), "--files", str(runs["root"] / "nothing")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_without_the_serve_extra_serve_is_one_line(runs):
    code = ("import sys; sys.modules['fastapi'] = None; import specdl; from specdl.cli import main\n"
            f"assert main(['serve', {str(runs['csv'])!r}]) == 2\n"
            f"try:\n    specdl.serve_app({str(runs['csv'])!r})\nexcept specdl.RunError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install 'specdl[serve]'" in out.stdout and "specdl: error: specdl serve needs FastAPI" in out.stderr
    assert "Traceback" not in out.stderr


def test_import_and_check_do_not_import_fastapi():
    code = ("import sys, specdl; specdl.check('specs/iris_mlp.yaml'); "
            "from specdl.cli import main; main(['check', 'specs/iris_mlp.yaml']); "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_reading_requests_and_writing_answers_need_no_torch(runs):
    """The app, its OpenAPI document and /info, a request read into raw inputs and
    predictions turned into answer rows: no torch imported (only the forward is the
    backend's; an ONNX backend serves without torch)."""
    code = f"""if True:
        import sys, warnings
        warnings.simplefilter("ignore")
        import numpy as np, specdl
        from fastapi.testclient import TestClient
        from specdl.runs.predict import prediction_rows
        from specdl.serving.requests import request_inputs
        from specdl.serving.schema import request_model
        app = specdl.serve_app({str(runs["csv"])!r})
        client = TestClient(app)
        assert client.get("/info").status_code == client.get("/openapi.json").status_code == 200
        saved = app.state.served.saved
        row = {{"class": 1.0, "json": None, "_id": "p", "model_config": 0.3, "a b": "w", "2020": 1.0}}
        raw = request_inputs(saved, request_model(saved).model_validate({{"rows": [row]}}), None)
        assert np.isnan(raw.x[0][0, 1]) and raw.x[1].tolist() == [["p", "w"]]
        pred = {{"prediction": ["no"], "probabilities": np.array([[0.25, 0.75]]), "classes": ["no", "yes"]}}
        assert prediction_rows(pred) == [{{"prediction": "no", "p_no": 0.25, "p_yes": 0.75}}]
        print("torch" in sys.modules)
    """
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stdout + out.stderr


BUNDLED = sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))  # every bundled spec, as the specs folder grows


def bundled_request(spec, run, tmp_path):
    """(a request of a few samples of a bundled spec's data, predict's rows for them, the
    keys compared: None for all, the server's --files folder)."""
    if spec.data.file_backed:  # image folders: paths under --files
        folder = tmp_path / "data" / "shapes"
        files = sorted((folder / "circles").glob("*.png"))[:6]
        want = predicted(run, folder / "circles")[:6]
        return {"instances": [{"path": f"circles/{f.name}"} for f in files]}, want, set(want[0]) - {"file"}, folder
    if spec.data.source == "csv" and spec.data.inputs:  # named inputs (reviews): rows keyed by column
        return named_rows_request(spec, run, tmp_path / "rows")
    np.save(tmp_path / "x.npy", spec.data.load(spec.seed).x[:8])
    return {"instances": np.load(tmp_path / "x.npy").tolist()}, predicted(run, tmp_path / "x.npy"), None, tmp_path


def named_rows_request(spec, run_dir, folder):
    """The first 6 rows of a named-input CSV run's data without its target, written to
    ``folder``/rows.csv with its images copied beside it (their paths relative to it, and
    to ``folder`` as the server's --files): ``{"rows": [...]}`` and predict's rows of it."""
    import csv
    import shutil
    from pathlib import Path

    from specdl.runs.loaded import LoadedRun
    from specdl.runs.named import csv_columns

    kinds = {c: kind for kind, cols in csv_columns(LoadedRun(run_dir)).values() for c in cols}
    source = Path(spec.data.path)
    with open(source, newline="", encoding="utf-8") as f:
        rows = [{c: row[c] for c in kinds} for row, _ in zip(csv.DictReader(f), range(6))]
    folder.mkdir()
    for c in (c for c, kind in kinds.items() if kind == "image"):
        for row in rows:
            (folder / row[c]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source.parent / row[c], folder / row[c])
    with open(folder / "rows.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(kinds))
        w.writeheader()
        w.writerows(rows)
    body = {"rows": [{c: (float(v) if v else None) if kinds[c] == "numeric" else v for c, v in row.items()}
                     for row in rows]}
    return body, predicted(run_dir, folder / "rows.csv"), None, folder


@pytest.mark.slow  # trains a bundled spec (an epoch, shortened as tests/test_codegen.py's) and starts servers
@pytest.mark.parametrize("name", BUNDLED)
def test_runs_of_bundled_specs_answer_as_predict_over_http(name, tmp_path):
    """`specdl serve` of a run of each bundled spec, a real process on 127.0.0.1: one
    request of several samples, the samples one at a time (unbatched: nothing else is
    queued) and all at once from threads (combined into micro-batches) answer as `specdl
    predict` to 1e-6; the onnx backend (its images decoded and resized without torch: a
    process where `import torch` fails) within the export's tolerance."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from .test_codegen import SHORT

    spec = specdl.load(ROOT / "specs" / f"{name}.yaml", SHORT.get(name, ["train.epochs=1"]))
    run = specdl.train(spec, out=tmp_path / "run").run_dir
    body, want, keys, files = bundled_request(spec, run, tmp_path)
    form = next(iter(body))  # instances, or a named-input CSV run's rows
    singles = [{form: [item]} for item in body[form]]
    proc, url = start_server(run, "--files", files, "--max-wait-ms", "50")
    try:
        assert same_rows(httpx.post(f"{url}/predict", json=body, timeout=60).json()["rows"], want, keys)
        alone = [httpx.post(f"{url}/predict", json=b, timeout=60).json()["rows"][0] for b in singles]
        assert same_rows(alone, want, keys)
        with ThreadPoolExecutor(len(singles)) as pool:
            together = list(pool.map(lambda b: httpx.post(f"{url}/predict", json=b, timeout=60), singles))
        assert same_rows([r.json()["rows"][0] for r in together], want, keys)
        info = httpx.get(f"{url}/info").json()
        assert info["outputs"] == [k for k in want[0] if keys is None or k in keys or k == "file"]
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    assert specdl.export(run, with_preprocessing=True)["path"] == str(run / "model.raw.onnx")
    proc, url = start_server(run, "--backend", "onnx", "--files", files, code=NO_TORCH)
    try:
        assert httpx.get(f"{url}/info").json()["backend"] == "onnx"
        assert within_export_tolerance(httpx.post(f"{url}/predict", json=body, timeout=60).json()["rows"], want, keys,
                                       thresholds_of(spec))
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def within_export_tolerance(got: list[dict], want: list[dict], keys=None, thresholds=None) -> bool:
    """The onnx backend's rows against predict's: values within the export's tolerance
    (times the values' size), the same class unless predict's top two are within it, or
    a binary output's probability is within it of its threshold (``thresholds``: {the
    class column: train.threshold}, 0.5 where not given) (``keys``: those compared, None
    for all). Several outputs: each target's class against its `<target>.p_` columns."""
    from specdl.build.onnx import TOLERANCE

    got, want = ([{k: v for k, v in r.items() if keys is None or k in keys} for r in rows] for rows in (got, want))

    assert len(got) == len(want) and [list(r) for r in got] == [list(w) for w in want]
    for r, w in zip(got, want):
        numbers = {k: v for k, v in w.items() if isinstance(v, float)}
        tol = TOLERANCE * max([1.0, *map(abs, numbers.values())])
        assert all(abs(r[k] - v) <= tol for k, v in numbers.items()), (r, w)
        for k in (k for k, v in w.items() if k not in numbers and r[k] != v):  # a class (or the file) differs
            probs = [v for c, v in numbers.items() if c.startswith("p_" if k == "prediction" else f"{k}.p_")]
            top = sorted(probs, reverse=True)
            near = len(probs) == 2 and abs(probs[1] - (thresholds or {}).get(k, 0.5)) <= tol
            assert near or (len(top) > 1 and top[0] - top[1] <= tol), (k, r, w)
    return True


def thresholds_of(spec) -> dict:
    """{a class column of predict's rows: the train.threshold that decides it}."""
    targets = getattr(spec.data, "targets", None)
    return {t: spec.train.threshold_of(t) for t in targets} if targets else {"prediction": spec.train.threshold}


# -- the real server, over real HTTP on 127.0.0.1 (slow: a process that imports torch and trains)

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run, *args, env=None, code=None):
    """`specdl serve RUN --port P ARGS` (``code``: Python run first, in the server's process)."""
    port = free_port()
    run_cli = f"{code or ''}\nimport sys; from specdl.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", run_cli, "serve", str(run), "--port", str(port), *map(str, args)],
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    import httpx

    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the server did not become ready")


def half_sent(url, body: bytes):
    """A slow client: a POST /predict with half its body sent (http.client's connection;
    ``send`` the rest, then ``getresponse``)."""
    import http.client

    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=60)
    conn.putrequest("POST", "/predict")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body[:len(body) // 2])
    return conn


def in_flight_at_sigterm(proc, url, body: bytes):
    """A request whose body is half sent when the server gets SIGTERM, then finished:
    the server's answer to it (http.client's response)."""
    conn = half_sent(url, body)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert proc.poll() is None  # waiting for the request in flight
    conn.send(body[len(body) // 2:])
    return conn.getresponse()


def chunked_over(url: str, size: int) -> int:
    """The status of a POST /predict whose body of ``size`` bytes is sent chunked, with a
    `Content-Length: 20` beside `Transfer-Encoding: chunked` (the server frames it chunked)."""
    import http.client

    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.putrequest("POST", "/predict")
    for name, value in (("Content-Type", "application/json"), ("Content-Length", "20"),
                        ("Transfer-Encoding", "chunked")):
        conn.putheader(name, value)
    conn.endheaders()
    piece = b"[" * 65536
    with contextlib.suppress(OSError):  # the server may answer and close before the whole body is sent
        for _ in range(size // len(piece)):
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
    return conn.getresponse().status


@pytest.mark.slow  # starts a server process
def test_real_server_answers_as_predict_and_stops_on_sigterm(runs, tmp_path):
    import httpx

    rows = rows_csv(tmp_path / "in.csv", 20)
    cli = subprocess.run([sys.executable, "-m", "specdl", "predict", str(runs["csv"]), "--input", "in.csv",
                          "--format", "json"], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    proc, url = start_server(runs["csv"], "--max-body", "4MB")
    try:
        r = httpx.post(f"{url}/predict", json={"rows": rows}, timeout=30)
        assert r.status_code == 200 and same_rows(r.json()["rows"], json.loads(cli.stdout))
        hostile = [b"{", b'{"rows": [{"class": NaN}]}', b"[" * 50_000, b'{"rows": ' + b"1" * (5 << 20) + b"}",
                   json.dumps({"rows": [{**rows[0], "_id": "never seen"}]}).encode()]
        for body in hostile:
            h = httpx.post(f"{url}/predict", content=body, headers={"content-type": "application/json"}, timeout=30)
            assert h.status_code in (200, 400, 413, 422) and "Traceback" not in h.text, (body[:40], h.text)
        assert chunked_over(url, 5 << 20) == 413  # a short Content-Length does not let a chunked body past --max-body
        text = json.dumps({"rows": rows}).encode()
        slow = half_sent(url, text)  # a slow client holds a request open; the others are answered
        assert httpx.post(f"{url}/predict", json={"rows": rows}, timeout=30).json() == r.json()
        slow.send(text[len(text) // 2:])
        assert json.loads(slow.getresponse().read()) == r.json()
        taken = subprocess.run([sys.executable, "-m", "specdl", "serve", str(runs["csv"]), "--port", url.rsplit(":", 1)[1]],
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
        assert taken.returncode == 1 and "specdl: error: the server did not start" in taken.stderr, taken.stderr
        assert "Traceback" not in taken.stderr
        answer = in_flight_at_sigterm(proc, url, json.dumps({"rows": rows}).encode())
        assert answer.status == 200 and json.loads(answer.read())["rows"] == r.json()["rows"]
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert "Traceback" not in err and "Shutting down" in err and "Waiting for connections to close" in err, err
    assert "stopped (SIGTERM)" in err


@pytest.mark.slow  # starts a server process
def test_real_server_images_and_arrays(runs, tmp_path):
    import httpx

    x = np.random.default_rng(5).normal(size=(6, 4))
    np.save(tmp_path / "x.npy", x)
    proc, url = start_server(runs["npz"], env={"SPECDL_API_KEY": "k"})
    try:
        assert httpx.post(f"{url}/predict", json={"instances": x.tolist()}).status_code == 401
        r = httpx.post(f"{url}/predict", json={"instances": x.tolist()}, headers={"X-API-Key": "k"})
        assert same_rows(r.json()["rows"], predicted(runs["npz"], tmp_path / "x.npy"))
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    folder = runs["root"] / "img"
    proc, url = start_server(runs["img"], "--files", folder)
    try:
        files = sorted((folder / "b").glob("*.png"))
        r = httpx.post(f"{url}/predict", json={"instances": [{"path": f"b/{f.name}"} for f in files]})
        assert same_rows(r.json()["rows"], predicted(runs["img"], folder / "b"), keys={"prediction", "p_a", "p_b"})
        assert httpx.post(f"{url}/predict", json={"instances": [{"path": "../d.csv"}]}).status_code == 422
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def chromium() -> str | None:
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow  # starts a server process and a browser
@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_docs_render_in_a_headless_browser_offline(runs):
    """Swagger UI renders the run's `POST /predict` in a real browser whose every address
    but the server's fails (no DNS, a dead proxy): its assets come from the server."""
    import re

    proc, url = start_server(runs["csv"])
    try:
        dom = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                              "--virtual-time-budget=5000", "--proxy-server=http://127.0.0.1:9",
                              "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", f"{url}/docs"],
                             capture_output=True, text=True, timeout=120).stdout
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    ops = re.findall(r'opblock-summary-method">(\w+)<.*?data-path="([^"]+)"', dom)
    assert ("POST", "/predict") in ops and ("GET", "/info") in ops, dom[:2000]
    assert "Failed to load API definition" not in dom


NO_TORCH = "import sys; sys.modules['torch'] = None  # `import torch` fails in this process"


def onnx_request(runs, kind, tmp_path):
    """(a request of 12 samples of a tiny run, a request with a bad value, the words of
    its refusal): CSV rows (a text in a number column), arrays (a NaN the run cannot
    fill), images in base64 (not base64)."""
    if kind == "img":
        files = sorted((runs["root"] / "img").glob("*/*.png"))  # the class folders' (another test links img/link.png)
        return ({"instances": [{"base64": base64.b64encode(f.read_bytes()).decode()} for f in files]},
                '{"instances": [{"base64": "not base64!"}]}', "instance 0: `base64` is not base64 text")
    if kind == "csv":
        rows = rows_csv(tmp_path / "in.csv", 12)
        return {"rows": rows}, json.dumps({"rows": [{**rows[0], "class": "x"}]}), "row 0, `class`"
    x = np.random.default_rng(9).normal(size=(12, 4))
    return {"instances": x.tolist()}, '{"instances": [[NaN, 0.1, 0.2, 0.3]]}', "`fill`"


@pytest.mark.slow  # exports three runs (torch.onnx) and starts servers
@pytest.mark.parametrize("kind", ["csv", "npz", "img"])
def test_onnx_backend_serves_model_raw_onnx_without_torch(runs, kind, tmp_path):
    """`export --with-preprocessing` writes RUN/model.raw.onnx (its metadata flag);
    `serve --backend onnx` serves it in a process where `import torch` fails (an image
    run's images decoded without it): answers within the export's tolerance of the torch
    backend's, the same classes (none of these rows is a near tie), bad values refused in
    the same words."""
    import httpx
    import onnx

    from specdl.build.onnx import TOLERANCE

    run = runs[kind]
    assert main(["export", str(run), "--with-preprocessing"]) == 0
    meta = {p.key: p.value for p in onnx.load(str(run / "model.raw.onnx"), load_external_data=False).metadata_props}
    assert meta["specdl.with_preprocessing"] == "1"
    body, bad, says = onnx_request(runs, kind, tmp_path)
    send = {"content": bad.encode(), "headers": {"content-type": "application/json"}}
    with TestClient(specdl.serve_app(run)) as client:
        want, refused = client.post("/predict", json=body).json()["rows"], client.post("/predict", **send).json()
    assert says in refused["error"]
    proc, url = start_server(run, "--backend", "onnx", "--max-batch", "4", code=NO_TORCH)
    try:
        got = httpx.post(f"{url}/predict", json=body, timeout=30).json()["rows"]  # 12 rows: chunks of 4
        assert httpx.get(f"{url}/info").json()["backend"] == "onnx"
        assert httpx.post(f"{url}/predict", **send).json()["error"] == refused["error"]
        with __import__("concurrent.futures").futures.ThreadPoolExecutor(8) as pool:  # batched by the server
            alone = list(pool.map(lambda i: httpx.post(f"{url}/predict", timeout=30, json={
                k: v[i:i + 1] for k, v in body.items()}).json()["rows"][0], range(len(want))))
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    for rows in (got, alone):
        assert [r["prediction"] for r in rows] == [r["prediction"] for r in want]
        assert all(abs(r[k] - w[k]) <= TOLERANCE for r, w in zip(rows, want) for k in w if k.startswith("p_"))
    err = proc.stderr.read()
    assert "Traceback" not in err and "(backend onnx)" in err
