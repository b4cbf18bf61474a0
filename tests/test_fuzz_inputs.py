"""Fuzz (``pytest -m fuzz -n 0 tests/test_fuzz_inputs.py``): garbled predict inputs
(CSV, .npy, .npz, images) and hostile image folders through the real CLI. Every run
exits 0 or 2 (out of memory: 1) in bounded time, an error is one line, never a
traceback, and a success never prints NaN."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from .conftest import run_cli
from .test_predict_inputs import runs  # noqa: F401 - the module's trained runs

pytestmark = pytest.mark.fuzz

CELLS = ["1", "-2.5", "", " ", "nan", "NaN", "inf", "-inf", "1e309", "-1e400", "x", "p", "q", "?", "null",
         '"a,b"', '"multi\nline"', "caf\u00e9", "\u202e1", "0x10", "1_000", "9" * 5000, "'", '"', "\t", "None"]


def garbled_csv(rng: random.Random) -> bytes:
    cols = ["a", "b", "city", "y", "p", "q", "a", "", "\u00e9"]
    header = rng.sample(cols, rng.randint(0, 5))
    if rng.random() < 0.6:
        header = ["a", "b", "city"] + header[:1]
    lines = [",".join(header)]
    for _ in range(rng.randint(0, 6)):
        lines.append(",".join(rng.choice(CELLS) for _ in range(max(0, len(header) + rng.randint(-2, 2)))))
    text = rng.choice(["\n", "\r\n", "\r"]).join(lines) + rng.choice(["", "\n"])
    data = text.encode("utf-8")
    if rng.random() < 0.15:
        data = b"\xef\xbb\xbf" + data
    if rng.random() < 0.15:
        data = text.encode("latin-1", "replace")
    if rng.random() < 0.1:
        data = data[: rng.randint(0, len(data))] + bytes([rng.randint(0, 255)])
    return data


def garbled_array(rng: random.Random, path):
    shape = tuple(rng.choice([0, 1, 2, 3, 4, 5]) for _ in range(rng.randint(0, 3)))
    dtype = rng.choice([np.float64, np.float32, np.int64, np.bool_, np.complex64, "U3", "S2", "datetime64[s]"])
    arr = np.zeros(shape, dtype=dtype)
    if arr.dtype.kind == "f" and arr.size:
        arr.flat[rng.randrange(arr.size)] = rng.choice([np.nan, np.inf, 1e30, -0.0])
    if path.suffix == ".npz":
        keys = rng.sample(["feats", "x", "labels", "y", "z"], rng.randint(0, 3))
        np.savez(path, **{k: arr for k in keys})
    else:
        np.save(path, arr)
    if rng.random() < 0.25:  # truncated, or a byte flipped
        data = bytearray(path.read_bytes())
        cut = rng.randint(0, len(data))
        if rng.random() < 0.5:
            data = data[:cut]
        elif data:
            data[min(cut, len(data) - 1)] ^= 0xFF
        path.write_bytes(bytes(data))


def garbled_image(rng: random.Random, path):
    kind = rng.choice(["ok", "ok", "size", "mode", "empty", "truncated", "bytes", "text"])
    if kind in ("ok", "size", "mode", "truncated"):
        size = (16, 16) if kind != "size" else (rng.randint(1, 40), rng.randint(1, 40))
        mode = rng.choice(["L", "RGBA", "P", "I;16", "1", "CMYK"]) if kind == "mode" else "RGB"
        fmt = {".png": "PNG", ".jpg": "JPEG", ".bmp": "BMP"}[path.suffix]
        try:
            Image.new(mode, size, color=rng.randint(0, 255) if mode in ("L", "P", "1") else None).save(path, fmt)
        except (OSError, ValueError, KeyError):  # a mode the format cannot hold
            Image.new("RGB", size).save(path, fmt)
        if kind == "truncated":
            data = path.read_bytes()
            path.write_bytes(data[: rng.randint(0, len(data) - 1)])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "bytes":
        path.write_bytes(bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 200))))
    else:
        path.write_text("not an image\n")


def assert_clean(r, verb="predict"):
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode in (0, 2), (r.returncode, r.stderr)
    if r.returncode == 2:
        lines = r.stderr.strip().splitlines()
        if verb == "predict":
            assert len(lines) == 1 and lines[0].startswith("specdl: error: "), r.stderr
        else:
            assert lines[-1].endswith(("1 error", "errors")) and all(": error: " in x for x in lines[:-1]), r.stderr
    elif verb == "predict":
        assert "nan" not in r.stdout.lower(), r.stdout


@pytest.mark.parametrize("seed", range(40))
def test_garbled_csv_inputs(runs, tmp_path, seed):  # noqa: F811
    rng = random.Random(seed)
    (tmp_path / "in.csv").write_bytes(garbled_csv(rng))
    run = runs["csv"] if seed % 2 else runs["npz"]
    assert_clean(run_cli("predict", run, "--input", "in.csv", cwd=tmp_path, timeout=120))


@pytest.mark.parametrize("seed", range(40))
def test_garbled_array_inputs(runs, tmp_path, seed):  # noqa: F811
    rng = random.Random(1000 + seed)
    path = tmp_path / rng.choice(["in.npy", "in.npz"])
    garbled_array(rng, path)
    assert_clean(run_cli("predict", runs["npz"], "--input", path.name, cwd=tmp_path, timeout=120))


@pytest.mark.parametrize("seed", range(25))
def test_garbled_image_inputs(runs, tmp_path, seed):  # noqa: F811
    rng = random.Random(2000 + seed)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(rng.randint(1, 4)):
        garbled_image(rng, folder / f"{i}{rng.choice(['.png', '.jpg', '.bmp'])}")
    target = folder if rng.random() < 0.7 else next(folder.iterdir())
    assert_clean(run_cli("predict", runs["img"], "--input", target, cwd=tmp_path, timeout=120))


IMG_SPEC = """
name: fz
data: {source: image_folder, root: img, split: {val: 0.25, test: 0.25}%s}
model: {layers: [flatten, {linear: 2}]}
train: {epochs: 1, device: cpu}
"""


@pytest.mark.parametrize("seed", range(20))
def test_hostile_image_folders(tmp_path, seed):
    rng = random.Random(3000 + seed)
    for c in ("a", "b"):
        (tmp_path / "img" / c).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (16, 16), color=(i * 40, 0, 0)).save(tmp_path / "img" / c / f"{i}.png")
    for i in range(rng.randint(1, 3)):
        garbled_image(rng, tmp_path / "img" / rng.choice("ab") / f"z{i}{rng.choice(['.png', '.jpg', '.bmp'])}")
    resize = ", transforms: [{resize: [16, 16]}]" if rng.random() < 0.3 else ""
    (tmp_path / "s.yaml").write_text(IMG_SPEC % resize)
    r = run_cli("check", "s.yaml", cwd=tmp_path, timeout=120)
    assert_clean(r, "check")
    if r.returncode == 0 and seed % 4 == 0:  # a few are trained: anything check missed fails before training
        b = run_cli("build", "s.yaml", "--out", "r", "-q", cwd=tmp_path, timeout=300)
        assert_clean(b)
