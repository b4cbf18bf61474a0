"""`specdl export RUN --with-preprocessing`: the ONNX graph takes raw rows (numbers with
blanks as NaN, categories as strings) or uint8 images, and gives what `specdl predict`
gives for the same raw inputs."""

from __future__ import annotations

import csv

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

import specdl

from .conftest import ROOT, run_cli
from .test_data import CSV_CLS, write_csv
from .test_data_hardening import image_folder, one_line

REG = (CSV_CLS.replace("target: churn", "target: spend").replace("{linear: 2}", "{linear: 1}")
       .replace("[accuracy, f1]", "[r2, mae]")
       .replace("[{fill: median}, standardize]", "[{fill: 0.5}, minmax]\n  target_transforms: [standardize]"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    write_csv(root / "churn.csv", n=150, missing=True)
    out = {"root": root}
    for name, text in (("cls", CSV_CLS), ("reg", REG)):
        (root / f"{name}.yaml").write_text(text.replace("path: churn.csv", f"path: {root}/churn.csv")
                                           .replace("epochs: 15", "epochs: 2, device: cpu"))
        out[name] = specdl.train(specdl.load(root / f"{name}.yaml"), out=root / name).run_dir
    return out


def raw_csv(path, unseen=False):
    """The churn CSV as the graph's inputs: float32 numbers (NaN for blanks), string cells."""
    rows = list(csv.DictReader(open(path)))
    if unseen:
        rows[0]["city"] = "berlin"  # a category no training row held
    num = np.array([[float(r[c]) if r[c] else np.nan for c in ("age", "income")] for r in rows], dtype=np.float32)
    cats = np.array([[r["city"], r["plan"]] for r in rows], dtype=object)
    return rows, num, cats


def predicted(run, input_path, tmp_path):
    r = run_cli("predict", run, "--input", input_path, "--out", tmp_path / "p.npy", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return np.load(tmp_path / "p.npy")


def export(run, tmp_path, name="m.onnx"):
    r = run_cli("export", run, "--with-preprocessing", "--out", tmp_path / name, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "onnxruntime vs specdl predict on" in r.stdout and "max |difference|" in r.stdout
    return ort.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"]), r.stdout


# slow (CI): tests/test_export_heads.py exports raw rows of every head kind in the default run
@pytest.mark.parametrize("name", [pytest.param("cls", marks=pytest.mark.slow), pytest.param("reg", marks=pytest.mark.slow)])
def test_raw_csv_rows_give_predicts_outputs(runs, name, tmp_path):
    session, out = export(runs[name], tmp_path)
    assert "`numeric` float32 [N, 2] (columns age, income; NaN where missing)" in out
    assert "`categorical` string [N, 2] (columns city, plan)" in out
    rows, num, cats = raw_csv(runs["root"] / "churn.csv", unseen=True)
    assert np.isnan(num).any()
    with open(tmp_path / "new.csv", "w", newline="") as f:  # the same rows, for specdl predict
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    got = session.run(None, {"numeric": num, "categorical": cats})[0]
    want = predicted(runs[name], tmp_path / "new.csv", tmp_path)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())
    outputs = [o.name for o in session.get_outputs()]
    assert outputs == (["probabilities"] if name == "cls" else ["prediction"])


@pytest.mark.slow  # many CLI processes; CI runs it (pytest -m slow)
def test_plain_export_says_what_the_model_expects(runs, tmp_path):
    r = run_cli("export", runs["cls"], "--out", tmp_path / "m.onnx", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert ("the model expects float32 [N, 7] (columns age, income, one-hot city, one-hot plan) after the run's "
            "fill, standardize; pass --with-preprocessing for raw rows") in r.stdout
    _, run = specdl.train(ROOT / "specs" / "text_cnn.yaml", out=tmp_path / "t", overrides=[
        "train.epochs=1", "train.device=cpu"])
    r = run_cli("export", run, "--out", tmp_path / "t.onnx", cwd=tmp_path)
    assert "the model expects int64 token ids [N, 40] as the data holds them" in r.stdout, r.stdout


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_reshaped_sklearn_rows_and_metadata(tmp_path):
    from sklearn.datasets import load_digits

    _, run = specdl.train(ROOT / "specs" / "digits_cnn.yaml", out=tmp_path / "r",
                          overrides=["train.epochs=1", "train.device=cpu"])
    session, out = export(run, tmp_path)
    assert "`numeric` float32 [N, 64]" in out and "gives `probabilities` [N, 10]" in out
    x = load_digits().data[:9]
    got = session.run(None, {"numeric": x.astype(np.float32)})[0]
    assert np.abs(got - specdl.load_run(run).predict(x)["probabilities"]).max() <= 1e-5
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert meta["specdl.classes"] == '["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]'
    assert meta["specdl.inputs"].startswith("`numeric` float32 [N, 64]")


@pytest.mark.slow  # subprocesses: seconds (the default suite stays under 5 minutes)
def test_uint8_images_give_predicts_probabilities(tmp_path):
    _, run = specdl.train(ROOT / "specs" / "cifar_cnn.yaml", out=tmp_path / "r",
                          overrides=["train.epochs=1", "train.device=cpu"])
    session, out = export(run, tmp_path)
    assert "`image` uint8 [N, 3, 32, 32]" in out
    files = sorted((tmp_path / "data" / "shapes").rglob("*.png"))[::20]
    (tmp_path / "few").mkdir()
    for i, f in enumerate(files):
        (tmp_path / "few" / f"{i:02d}.png").write_bytes(f.read_bytes())
    images = np.stack([np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1) for f in files])
    got = session.run(None, {"image": images})[0]
    want = predicted(run, tmp_path / "few", tmp_path)
    assert got.shape == want.shape == (len(files), 3) and np.abs(got - want).max() <= 1e-5


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_with_preprocessing_refusals_are_one_line(tmp_path):
    line = one_line(run_cli("export", ROOT / "specs" / "iris_mlp.yaml", "--with-preprocessing", cwd=tmp_path))
    assert "--with-preprocessing needs a run directory (its fitted preprocessing)" in line
    image_folder(tmp_path / "img")
    (tmp_path / "s.yaml").write_text("data: {source: image_folder, root: img, transforms: [to_tensor, {resize: 8}]}\n"
                                     "model: {layers: [flatten, {linear: 2}]}\ntrain: {epochs: 1, device: cpu}\n")
    _, run = specdl.train(specdl.load(tmp_path / "s.yaml"), out=tmp_path / "r")
    line = one_line(run_cli("export", run, "--with-preprocessing", cwd=tmp_path))
    assert "`resize` comes after to_tensor in data.transforms: move it before to_tensor" in line
