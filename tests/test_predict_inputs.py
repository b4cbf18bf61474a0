"""`specdl predict --input`: each bad input file is exit 2 with one `specdl: error:` line
naming the file (and its line, column, key or image), never a traceback or NaN output."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import specdl

from .conftest import run_cli
from .test_data_hardening import image_folder, one_line

pytestmark = pytest.mark.slow  # many real CLI processes (about 3 s each): `pytest -m slow` (CI)


def _train(root, spec_text, name):
    (root / f"{name}.yaml").write_text(spec_text)
    return specdl.train(specdl.load(root / f"{name}.yaml"), out=root / f"{name}-run").run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An npz run (keys feats/labels), a CSV run without `fill` and an image run."""
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    np.savez(root / "d.npz", feats=x, labels=(x[:, 0] > 0).astype(np.int64))
    (root / "d.csv").write_text("a,b,city,y\n" + "".join(
        f"{x[i, 0]:.3f},{x[i, 1]:.3f},{'pq'[i % 2]},{'yes' if x[i, 0] > 0 else 'no'}\n" for i in range(60)))
    image_folder(root / "img")
    tail = "model: {layers: [flatten, {linear: 2}]}\ntrain: {epochs: 1, device: cpu}\n"
    return {
        "npz": _train(root, f"data: {{source: npz, path: {root}/d.npz, x: feats, y: labels}}\n" + tail, "npz"),
        "csv": _train(root, f"data: {{source: csv, path: {root}/d.csv, target: y, categorical: [city], "
                      "transforms: [standardize]}\n" + tail, "csv"),
        "img": _train(root, f"data: {{source: image_folder, root: {root}/img}}\n" + tail, "img"),
    }


def write(path, content):
    if isinstance(content, np.ndarray):
        np.save(path, content)
    elif isinstance(content, dict):
        np.savez(path, **content)
    else:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


ARRAYS = [  # (file name, content, words in the message)
    ("a.npy", np.zeros(4), ["a.npy is [4] (1-D)", "[1, 4]"]),
    ("a.npy", np.zeros((3, 5)), ["a.npy holds samples of shape [5]", "takes [4]"]),
    ("a.npy", np.zeros((3, 2, 2)), ["shape [2, 2]"]),
    ("a.npy", np.array([["a"] * 4] * 2), ["a.npy holds <U1 values"]),
    ("a.npy", np.zeros((2, 4), complex), ["complex128"]),
    ("a.npy", np.zeros((0, 4)), ["a.npy holds no samples"]),
    ("a.npy", np.array([[1, 2, 3, 4], [1, np.nan, 1, 1.0]]), ["a.npy row 1 (feature 1) has a NaN", "without a `fill`"]),
    ("a.npy", np.array([[1, 2, 3, 4], [1, 1, np.inf, 1.0]]), ["a.npy row 1 (feature 2) holds an infinite value (inf)"]),
    ("a.npy", b"\x93NUMPY\x01\x00garbage", ["cannot read a.npy as .npy"]),
    ("a.npy", b"", ["cannot read a.npy as .npy"]),
    ("a.npy", b"hello", ["a.npy", "not a NumPy file"]),
    ("a.npz", {"x": np.zeros((2, 4))}, ["a.npz has no array `feats`", "x"]),
    ("a.npz", b"PK\x03\x04junk", ["cannot read a.npz as .npz"]),
    ("a.txt", "1,2,3,4\n", ["give a .csv, .npy or .npz"]),
]


@pytest.mark.parametrize("name, content, words", ARRAYS, ids=[f"{i}" for i in range(len(ARRAYS))])
def test_bad_array_inputs(runs, tmp_path, name, content, words):
    path = write(tmp_path / name, content)
    line = one_line(run_cli("predict", runs["npz"], "--input", path.name, cwd=tmp_path))
    assert line.startswith("specdl: error:") and all(w in line for w in words), line


def test_npz_input_uses_the_specs_key(runs, tmp_path):
    write(tmp_path / "a.npz", {"feats": np.zeros((3, 4))})
    r = run_cli("predict", runs["npz"], "--input", "a.npz", cwd=tmp_path)
    assert r.returncode == 0 and len(r.stdout.strip().splitlines()) == 4, r.stderr


CSVS = [
    ("", ["a.csv is empty"]),
    ("a,b,city\n", ["a.csv holds no rows"]),
    ("a,b,city\n1,2,p\n3,4\n", ["a.csv line 3 has 2 cells", "header has 3"]),
    ("a,city\n1,p\n", ["a.csv has no column `b`"]),
    ("a,b,city\n1,zz,p\n", ["a.csv line 2, column `b` holds 'zz'", "reads this column as numbers"]),
    ("a,b,city\n1,2,p\n1,,q\n", ["a.csv line 3, column `b` has a NaN"]),
    ("a,b,city\n1,2,p\n1,nan,q\n", ["a.csv line 3, column `b` has a NaN"]),
    (b"a,b,city\n1,2,\xff\n", ["a.csv line 2, column 5", "0xff", "UTF-8"]),
    ("a,a,b,city\n1,2,3,p\n", ["two columns named `a`"]),
]


@pytest.mark.parametrize("content, words", CSVS, ids=[f"{i}" for i in range(len(CSVS))])
def test_bad_csv_inputs(runs, tmp_path, content, words):
    write(tmp_path / "a.csv", content)
    line = one_line(run_cli("predict", runs["csv"], "--input", "a.csv", cwd=tmp_path))
    assert line.startswith("specdl: error:") and all(w in line for w in words), line


def test_plain_csv_into_an_array_run(runs, tmp_path):
    write(tmp_path / "a.csv", "p,q,r,s\n1,2,3,4\n5,x,7,8\n")
    line = one_line(run_cli("predict", runs["npz"], "--input", "a.csv", cwd=tmp_path))
    assert "a.csv line 3, column `q` holds 'x'" in line
    write(tmp_path / "b.csv", "p,q\n1,2\n")
    assert "shape [2]" in one_line(run_cli("predict", runs["npz"], "--input", "b.csv", cwd=tmp_path))


@pytest.mark.parametrize("kind", ["not an image", "empty", "other size", "no images", "a csv"])
def test_bad_image_inputs(runs, tmp_path, kind):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (16, 16)).save(folder / "ok.png")
    target, words = folder, None
    if kind == "not an image":
        write(folder / "x.jpg", "hello")
        words = "in/x.jpg is not a readable image"
    elif kind == "empty":
        write(folder / "x.png", b"")
        words = "in/x.png is an empty (zero-byte) file"
    elif kind == "other size":
        Image.new("RGB", (20, 12)).save(folder / "x.png")
        words = "in/x.png is [3, 12, 20] after the run's transforms; the model takes [3, 16, 16]"
    elif kind == "no images":
        (folder / "ok.png").unlink()
        words = "no images under in"
    else:
        target, words = write(tmp_path / "a.csv", "a\n1\n"), "a.csv is not a readable image"
    line = one_line(run_cli("predict", runs["img"], "--input", target.relative_to(tmp_path), cwd=tmp_path))
    assert words in line, line


@pytest.mark.parametrize("path", ["/dev/zero", "fifo", "missing.npy"])
def test_input_that_is_not_a_file(runs, tmp_path, path):
    if path == "fifo":
        import os

        os.mkfifo(tmp_path / "fifo")
    line = one_line(run_cli("predict", runs["npz"], "--input", path, cwd=tmp_path, timeout=60))
    assert "not a regular file" in line or "does not exist" in line
