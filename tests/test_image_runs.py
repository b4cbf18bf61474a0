"""Runs of a CSV with an `image` input (spec 12.1, 12.5) after build: `specdl predict`
and `evaluate` read the image paths from the input CSV's folder through the input's eval
pipeline (no augmentation) and give build's own test-split predictions; the Python API
takes paths or PIL images; `specdl serve` takes paths under --files (the path guard) or
base64; `specdl export` writes the plain graph (the image as float32 [N, C, H, W]), and
with --with-preprocessing one taking uint8 images that `serve --backend onnx` serves; a missing or unreadable image is one line
naming the row and the input, exit 2. One tiny run (tests/test_image_inputs.py's posters,
an augmented image input) is trained once for the module."""

from __future__ import annotations

import base64
import csv
import json
import os

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import specdl
from specdl.cli import main

from .test_image_inputs import spec_with, write_posters

with __import__("warnings").catch_warnings():  # starlette's note on its httpx client
    __import__("warnings").simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run of the posters spec (its CSV in d/, pictures in d/pics/), the image input
    augmented in training (a horizontal flip) so that predict must leave it out."""
    root = tmp_path_factory.mktemp("posters")
    write_posters(root / "d")
    spec = spec_with(augment=["random_horizontal_flip"])
    spec["data"]["path"] = str(root / "d" / "t.csv")
    (root / "s.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    _, run_dir = specdl.train(root / "s.yaml", out=root / "run")
    return run_dir


def data_rows(run_dir) -> list[dict]:
    with open(run_dir.parent / "d" / "t.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_rows(run_dir, folder, label: bool = False):
    """build's test split of t.csv as ``folder``/rows.csv (its image paths rewritten
    relative to that folder: ../../posters0/d/pics/...), and its row indices."""
    spec = specdl.load(run_dir / "spec.yaml")
    _, _, _, split = spec.data.fitted_inputs(spec.seed)
    rows = [data_rows(run_dir)[i] for i in split["test"]]
    folder.mkdir(exist_ok=True)
    up = os.path.relpath(run_dir.parent / "d", folder)
    with open(folder / "rows.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "poster", *(["label"] * label)])
        for r in rows:
            w.writerow([r["text"], f"{up}/{r['poster']}", *([r["label"]] * label)])
    return folder / "rows.csv", split["test"]


test_rows.__test__ = False  # a helper, not a test


def build_test_probabilities(run_dir) -> np.ndarray:
    """The run's model on build's own test split (its ImageRows, the eval pipeline)."""
    from specdl.build.data import prepare
    from specdl.runs.loaded import LoadedRun

    loaded = LoadedRun(run_dir)
    arrays = prepare(loaded.spec, loaded.analysis)
    out = []
    with torch.no_grad():
        for xb, _ in torch.utils.data.DataLoader(arrays.x["test"], batch_size=4):
            out.append(torch.softmax(loaded.model(xb.to("cpu")), 1))
    return torch.cat(out).numpy()


def test_predict_and_evaluate_equal_build_on_its_test_split(run, tmp_path, capsys):
    path, _ = test_rows(run, tmp_path / "in")
    got = specdl.predict(run, path)["probabilities"]
    np.testing.assert_allclose(got, build_test_probabilities(run), atol=1e-6)
    labelled, _ = test_rows(run, tmp_path / "lab", label=True)
    assert main(["evaluate", str(run), "--input", str(labelled), "--out", str(tmp_path / "m.json")]) == 0
    report = json.loads((run / "report.json").read_text())["test"]
    metrics = json.loads((tmp_path / "m.json").read_text())["test"]
    assert metrics["loss"] == pytest.approx(report["loss"], abs=1e-6)
    assert metrics["accuracy"] == pytest.approx(report["accuracy"])


def test_the_api_takes_paths_and_pil_images(run, tmp_path):
    path, _ = test_rows(run, tmp_path / "in")
    want = specdl.predict(run, path)["probabilities"]
    rows = list(csv.DictReader(open(path)))
    pictures = [Image.open(tmp_path / "in" / r["poster"]) for r in rows]
    got = specdl.predict(run, {"review": [r["text"] for r in rows], "poster": pictures})["probabilities"]
    np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("cell, says", [
    ("pics/9.png", "no image file"),
    ("note.txt", "is not a readable image"),
    ("", "no image path"),
])
def test_a_missing_or_unreadable_image_is_one_line_naming_row_and_input(run, tmp_path, capsys, cell, says):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "note.txt").write_text("not a picture\n")
    good = run.parent / "d" / "pics" / "0.png"
    (tmp_path / "in" / "bad.csv").write_text(f"text,poster\ngreat film,{good}\ndull plot,{cell}\n")
    assert main(["predict", str(run), "--input", str(tmp_path / "in" / "bad.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "line 3, input `poster`" in err and says in err, err


def test_serve_answers_as_predict_with_paths_under_files_and_base64(run, tmp_path):
    path, _ = test_rows(run, tmp_path / "in")
    want = specdl.predict(run, path)["probabilities"]
    rows = [{"text": r["text"], "poster": "pics/" + os.path.basename(r["poster"])} for r in csv.DictReader(open(path))]
    sent = [{**r, "poster": {"base64": base64.b64encode((run.parent / "d" / r["poster"]).read_bytes()).decode()}}
            for r in rows]
    with TestClient(specdl.serve_app(run, files=run.parent / "d")) as client:
        for body in ({"rows": rows}, {"rows": sent},
                     {"inputs": {"review": [r["text"] for r in rows], "poster": [r["poster"] for r in rows]}}):
            answer = client.post("/predict", json=body)
            assert answer.status_code == 200, answer.json()
            np.testing.assert_allclose([[r["p_0"], r["p_1"]] for r in answer.json()["rows"]], want, atol=1e-6)


@pytest.mark.parametrize("cell, says", [
    ("../t.csv", "without `..`"),
    ("/etc/passwd", "without `..`"),
    ("t.csv", "is not a readable image"),
    ("pics/9.png", "no file 'pics/9.png' under the server's --files folder"),
    ({"base64": "AAAA"}, "`base64` does not hold a readable image"),
])
def test_serve_refuses_paths_out_of_files_and_bad_images_422(run, cell, says):
    with TestClient(specdl.serve_app(run, files=run.parent / "d")) as client:
        answer = client.post("/predict", json={"rows": [{"text": "great film", "poster": "pics/0.png"},
                                                        {"text": "great film", "poster": cell}]})
    assert answer.status_code == 422 and answer.json()["error"].startswith("row 1, input `poster`: ")
    assert says in answer.json()["error"]


def test_serve_without_files_takes_no_paths(run):
    with TestClient(specdl.serve_app(run)) as client:
        answer = client.post("/predict", json={"rows": [{"text": "great film", "poster": "pics/0.png"}]})
    assert answer.status_code == 422 and "start it with --files DIR" in answer.json()["error"]


@pytest.mark.slow  # torch.onnx's export: seconds
def test_export_with_preprocessing_takes_uint8_images_and_serves_without_torch_as_predict(run, tmp_path):
    """The raw graph's `poster` is uint8 [N, 3, 8, 8] (the image after its resize; the
    graph scales it); `serve --backend onnx` decodes and resizes a row's picture without
    torch (PIL's resize: within the export's tolerance of predict's here)."""
    out = specdl.export(run, with_preprocessing=True)
    assert "`poster` uint8 [N, 3, 8, 8] (the image of `poster` after the transforms before to_tensor)" in out["inputs"]
    path, _ = test_rows(run, tmp_path / "in")
    want = specdl.predict(run, path)["probabilities"]
    rows = [{"text": r["text"], "poster": "pics/" + os.path.basename(r["poster"])} for r in csv.DictReader(open(path))]
    with TestClient(specdl.serve_app(run, files=run.parent / "d", backend="onnx")) as client:
        answer = client.post("/predict", json={"rows": rows})
        assert answer.status_code == 200, answer.json()
        np.testing.assert_allclose([[r["p_0"], r["p_1"]] for r in answer.json()["rows"]], want, atol=1e-4)
        refused = client.post("/predict", json={"rows": [{"text": "great film", "poster": "pics/9.png"}]})
    assert refused.status_code == 422 and "row 0, input `poster`: no file 'pics/9.png'" in refused.json()["error"]


@pytest.mark.slow  # torch.onnx's export: seconds
def test_export_is_the_plain_graph_equal_to_torch(run, tmp_path):
    import onnxruntime as ort

    from specdl.runs.loaded import LoadedRun
    from specdl.runs.named import encode

    out = specdl.export(run, output=tmp_path / "m.onnx")
    session = ort.InferenceSession(str(out["path"]))
    assert [(i.name, i.type, i.shape[1:]) for i in session.get_inputs()] == [
        ("review", "tensor(int64)", [4]), ("poster", "tensor(float)", [3, 8, 8])]
    loaded = LoadedRun(run)
    path, _ = test_rows(run, tmp_path / "in")
    raw = loaded.read(path)
    arrays, _ = encode(loaded, raw)
    got = session.run(None, arrays)[0]
    with torch.no_grad():
        want = loaded.model(loaded.model_inputs(raw)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
