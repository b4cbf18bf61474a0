"""Issue 12, the data classes: spec reading limits, CSV and npz files, image folders,
predict inputs, synthetic labels' memory and out-of-memory. Each bad input is exit 2
(out of memory: 1) with one located line and no traceback."""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest
from PIL import Image

import specdl

from .conftest import run_cli


def one_line(r, code=2, spec_error=False):
    """The CLI failed with `code`, one error line (plus the count for a spec), no traceback."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    if spec_error:
        assert lines[-1] == "1 error", r.stderr
        lines = lines[:-1]
    assert len(lines) == 1, r.stderr
    return lines[0]


# -- reading limits of a spec file

def _deep_block(n):
    return "".join("  " * i + f"k{i}:\n" for i in range(n)) + "  " * n + "x: 1\n"


@pytest.mark.parametrize("text, where, words", [
    ("a: " + "[" * 1000 + "]" * 1000 + "\n", ":1:", "nesting deeper than 100"),
    ("a: " + "{b: " * 600 + "1" + "}" * 600 + "\n", ":1:", "nesting deeper than 100"),
    (_deep_block(700), ":101:", "nesting deeper than 100"),
    ("name: x\nseed: " + "9" * 5000 + "\n", ":2:7:", "too long to read"),
    ("name: x\ndata: [" + "7" * 4400 + "]\n", ":2:8:", "too long to read"),
], ids=["flow-seq", "flow-map", "block", "long-int", "long-int-in-list"])
def test_spec_text_past_the_parsers_limits(tmp_path, text, where, words):
    (tmp_path / "s.yaml").write_text(text)
    line = one_line(run_cli("check", tmp_path / "s.yaml", cwd=tmp_path), spec_error=True)
    assert f"s.yaml{where}" in line and words in line


def test_spec_not_utf8_is_located(tmp_path):
    (tmp_path / "s.yaml").write_bytes(b"name: x\nmodel:\n  layers: [caf\xe9]\n")
    line = one_line(run_cli("check", tmp_path / "s.yaml", cwd=tmp_path), spec_error=True)
    assert "s.yaml:3:15: error:" in line and "0xe9" in line and "UTF-8" in line


def test_spec_size_cap(tmp_path):
    with open(tmp_path / "s.yaml", "w") as f:
        f.write("name: x\n")
        f.write(("#" * 1023 + "\n") * (17 * 1024))
    line = one_line(run_cli("check", tmp_path / "s.yaml", cwd=tmp_path), spec_error=True)
    assert "17.0 MiB" in line and "at most 16 MiB" in line


@pytest.mark.parametrize("kind", ["device", "fifo", "folder"])
def test_spec_that_is_not_a_file(tmp_path, kind):
    path = {"device": "/dev/zero", "fifo": tmp_path / "f.yaml", "folder": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    line = one_line(run_cli("check", path, cwd=tmp_path, timeout=60), spec_error=True)
    assert "is a folder" in line if kind == "folder" else "not a regular file" in line


# -- CSV files

CSV_SPEC = """
name: t
data: {source: csv, path: d.csv, target: y%s}
model: {layers: [{linear: 8}, relu, {linear: %d}]}
train: {epochs: 1, device: cpu}
"""


def csv_case(tmp_path, text, extra="", outputs=2):
    (tmp_path / "d.csv").write_bytes(text if isinstance(text, bytes) else text.encode())
    (tmp_path / "s.yaml").write_text(CSV_SPEC % (extra, outputs))
    return tmp_path / "s.yaml"


@pytest.mark.parametrize("text, extra, words", [
    ("a,b,y\n1,2,cat\n3,4\n5,6,dog\n", "", ["d.csv line 3 has 2 cells", "header has 3"]),
    ("a,b,y\n1,2,cat\n3,4,dog,9\n", "", ["d.csv line 3 has 4 cells"]),
    ("a,a,y\n1,2,cat\n3,4,dog\n", "", ["two columns named `a`"]),
    ("y\ncat\ndog\n", "", ["no feature columns besides the target `y`"]),
    ("a,y\n1,cat\n", ", features: []", ["no feature columns"]),
    ("a,b,y\n1,2,cat\n3,4,dog\n5,6,\n7,8,  \n", "", ["target `y` has no value", "d.csv line(s) 4, 5"]),
    ("a,b,y\n1,2,cat\n3,4,caf\xe9\n".encode("latin-1"), "", ["d.csv line 3, column 8", "0xe9", "UTF-8"]),
    ("a,b,y\n1,2,0\n3,4,1\n5,6,1\n", "", ["data.task: classification", "integers 0, 1"]),
    ("a,b,y\n1,x y,cat\n3,4,dog\n", "", ["d.csv line 2, column `b`", "'x y'", "categorical"]),
    ("a,b,y\n1,2,cat\n3," + "4" * 200_000 + ",dog\n", "", ["d.csv line 3: field larger than field limit"]),
    ("a," + "b" * 200_000 + ",y\n1,2,cat\n", "", ["d.csv line 1: field larger than field limit"]),
], ids=[f"csv{i}" for i in range(11)])
def test_bad_csv_is_one_line_at_check(tmp_path, text, extra, words):
    line = one_line(run_cli("check", csv_case(tmp_path, text, extra), cwd=tmp_path), spec_error=True)
    assert all(w in line for w in words), line


def test_blank_targets_are_not_a_class(tmp_path):
    rows = "".join(f"{i},{i % 3},{'cat' if i % 2 else 'dog'}\n" for i in range(40))
    spec = csv_case(tmp_path, "a,b,y\n" + rows + "7,7,\n")
    line = one_line(run_cli("build", spec, "--out", "r", cwd=tmp_path), spec_error=True)
    assert "line(s) 42" in line and "fill them in or delete those rows" in line


def test_nan_regression_target_is_a_data_error(tmp_path):
    rows = "".join(f"{i},{i % 3},{i * 0.5}\n" for i in range(40))
    spec = csv_case(tmp_path, "a,b,y\n" + rows.replace(",2.5\n", ",nan\n").replace(",4.0\n", ",inf\n"),
                    outputs=1)
    line = one_line(run_cli("build", spec, "--out", "r", cwd=tmp_path), spec_error=True)  # found by check
    assert "d.csv line(s) 7, 10" in line and "learning rate" not in line


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_nan_feature_names_the_file_line_and_column(tmp_path):
    rows = "".join(f"{i},{'nan' if i == 13 else i % 3},{'cat' if i % 2 else 'dog'}\n" for i in range(40))
    line = one_line(run_cli("build", csv_case(tmp_path, "a,b,y\n\n" + rows), "--out", "r", cwd=tmp_path),
                    spec_error=True)  # check reads the cells
    assert "blank cells in `b` (e.g. d.csv line 16)" in line and "fill: mean" in line


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_a_missing_class_is_named_by_its_label(tmp_path):
    rows = "".join(f"{i},{i % 3},{'cat' if i % 2 else 'dog'}\n" for i in range(40)) + "1,1,emu\n"
    spec = csv_case(tmp_path, "a,b,y\n" + rows, outputs=3)
    line = one_line(run_cli("build", spec, "-o", "data.split.stratify=false", "--out", "r", cwd=tmp_path))
    assert "no sample of class emu" in line


def test_header_only_csv(tmp_path):
    line = one_line(run_cli("build", csv_case(tmp_path, "a,b,y\n", outputs=1), "--out", "r", cwd=tmp_path),
                    spec_error=True)  # check reads the rows
    assert "d.csv holds no rows under its header" in line


# -- npz files

NPZ_SPEC = """
name: t
data: {source: npz, path: d.npz%s}
model: {layers: [flatten, {linear: %d}]}
train: {epochs: 1, device: cpu}
"""


@pytest.mark.parametrize("arrays, extra, outputs, verb, words", [
    ({"x": np.zeros((20, 3)), "y": np.where(np.arange(20) % 7 == 3, np.nan, 1.0)}, "", 1, "build",
     ["NaN or infinite values in row(s) 3, 10, 17"]),
    ({"x": np.zeros((20, 3)), "y": np.array(["a"] * 20)}, "", 1, "check", ["`y` in d.npz holds <U1 values"]),
    ({"x": np.zeros(20), "y": np.zeros(20)}, "", 1, "check", ["`x` in d.npz is [20]", "one row per sample"]),
    ({"x": np.zeros((0, 3)), "y": np.zeros(0)}, "", 1, "check", ["holds no samples"]),
    ({"x": np.zeros((20, 3)), "y": np.float64(1)}, "", 1, "check", ["`y` in d.npz is a single number"]),
    ({"feats": np.zeros((20, 3)), "y": np.zeros(20)}, "", 1, "check", ["no array `x`", "feats"]),
    ({"x": np.zeros((20, 3)), "y": np.arange(20) % 2 * 1.0}, "", 2, "check", ["data.task: classification"]),
])
def test_bad_npz(tmp_path, arrays, extra, outputs, verb, words):
    np.savez(tmp_path / "d.npz", **arrays)
    (tmp_path / "s.yaml").write_text(NPZ_SPEC % (extra, outputs))
    args = ("--out", "r") if verb == "build" else ()
    line = one_line(run_cli(verb, tmp_path / "s.yaml", *args, cwd=tmp_path), spec_error=verb == "check")
    assert all(w in line for w in words), line


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04garbage", b"\x93NUMPY\x01\x00junk", b"hello"])
def test_corrupt_npz_data(tmp_path, content):
    (tmp_path / "d.npz").write_bytes(content)
    (tmp_path / "s.yaml").write_text(NPZ_SPEC % ("", 1))
    line = one_line(run_cli("check", tmp_path / "s.yaml", cwd=tmp_path), spec_error=True)
    assert "cannot read d.npz as .npz" in line


# -- synthetic labels: memory apart from input size x classes

@pytest.mark.parametrize("source", [
    {"shape": [20000], "dtype": "int64", "high": 5000, "classes": 3, "size": 32},   # one-hot: 25 GB
    {"shape": [200000], "classes": 50, "size": 8},                                # W: 80 MB
])
def test_synthetic_labels_memory(tmp_path, source):
    (tmp_path / "s.yaml").write_text("data: " + str({"source": "synthetic", **source}).replace("'", "") +
                                     "\nmodel: {layers: [flatten, {linear: 2}]}\n")
    spec = specdl.load(tmp_path / "s.yaml")
    tracemalloc.start()
    loaded = spec.data.load(0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    x_bytes = loaded.x.nbytes
    assert peak < 2 * x_bytes + 20e6, (peak, x_bytes)
    assert len(np.unique(loaded.y)) > 1


# -- image folders

def image_folder(root, n=8, size=(16, 16)):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype("uint8")).save(root / c / f"{i}.png")
    return root


IMG_SPEC = """
name: img
data: {source: image_folder, root: img, split: {val: 0.25, test: 0.25}%s}
model: {layers: [flatten, {linear: 2}]}
train: {epochs: 1, device: cpu}
"""


def damage(root, kind):
    if kind == "zero-byte":
        (root / "a" / "0.png").write_bytes(b"")
        return "img/a/0.png is an empty (zero-byte) file"
    if kind == "not an image":
        (root / "b" / "notes.jpg").write_text("hello")
        return "img/b/notes.jpg is not a readable image"
    if kind == "other size":
        Image.new("RGB", (20, 12)).save(root / "b" / "wide.png")
        return "img/b/wide.png is 20x12 pixels but img/a/0.png is 16x16"
    if kind == "empty class":
        (root / "c").mkdir()
        return "the class folder img/c holds no images"
    if kind == "pipe":
        os.mkfifo(root / "a" / "p.png")
        return "img/a/p.png is not a regular file"
    data = (root / "a" / "3.png").read_bytes()
    (root / "a" / "3.png").write_bytes(data[: len(data) // 2])
    return "img/a/3.png is not a readable image"


@pytest.mark.parametrize("kind", ["zero-byte", "not an image", "other size", "pipe", "empty class"])
def test_image_folder_checked_in_check(tmp_path, kind):
    words = damage(image_folder(tmp_path / "img"), kind)
    (tmp_path / "s.yaml").write_text(IMG_SPEC % "")
    line = one_line(run_cli("check", tmp_path / "s.yaml", cwd=tmp_path), spec_error=True)
    assert words in line and "data.root" in line


def test_sizes_brought_together_by_resize_pass(tmp_path):
    damage(image_folder(tmp_path / "img"), "other size")
    (tmp_path / "s.yaml").write_text(IMG_SPEC % ", transforms: [{resize: [16, 16]}]")
    assert run_cli("check", tmp_path / "s.yaml", cwd=tmp_path).returncode == 0


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_truncated_image_fails_before_training(tmp_path):
    words = damage(image_folder(tmp_path / "img"), "truncated")
    (tmp_path / "s.yaml").write_text(IMG_SPEC % "")
    line = one_line(run_cli("build", tmp_path / "s.yaml", "--out", "r", "-q", cwd=tmp_path))
    assert words in line
    assert not (tmp_path / "r" / "metrics.jsonl").exists() or not (tmp_path / "r" / "metrics.jsonl").read_text()


# -- out of memory on the CPU, and the warning before it

HUGE = """
name: huge
data: {source: synthetic, shape: [300000], classes: 2, size: 16}
model: {layers: [{linear: 300000}, relu, {linear: 2}]}
train: {epochs: 1, device: cpu}
"""


@pytest.mark.slow  # subprocesses: seconds (the default suite stays under 5 minutes)
def test_memory_warning_and_cpu_out_of_memory(tmp_path):
    (tmp_path / "s.yaml").write_text(HUGE)
    for verb in ("check", "summary"):
        r = run_cli(verb, tmp_path / "s.yaml", cwd=tmp_path)
        assert r.returncode == 0 and "Traceback" not in r.stderr
        assert "warning: train.batch_size: training needs about 1.44TB" in r.stderr
    r = run_cli("build", tmp_path / "s.yaml", "--out", "r", cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    line = r.stderr.strip().splitlines()[-1]  # after the same warning
    assert len(r.stderr.strip().splitlines()) == 2
    assert line.startswith("specdl: error: out of memory on the CPU")


def test_no_memory_warning_for_a_small_model(tmp_path):
    (tmp_path / "s.yaml").write_text(HUGE.replace("300000", "30"))
    r = run_cli("summary", tmp_path / "s.yaml", "--batch", "64", cwd=tmp_path)
    assert r.returncode == 0 and "warning" not in r.stderr
