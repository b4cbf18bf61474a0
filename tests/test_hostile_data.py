"""Hostile data, second round: what a data set's labels and shapes cannot be (one class,
labels outside 0..K-1, a [N, 1] label column, samples of no values, a CSV of a header
alone) and a grid search too large to hold. Each is found by `specdl check` (no torch):
exit 2, exactly one located error line, no traceback."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import specdl

from .conftest import run_cli


def one_spec_error(r, *words):
    """Exit 2; one located `file:line:col: error:` line (then the count) naming ``words``."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1] == "1 error" and len(lines) == 2, r.stderr
    assert ": error: " in lines[0] and ":" in lines[0].split(": error: ")[0], lines[0]
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


SPEC = """
name: t
data: %s
model: {layers: [flatten, {linear: 2}]}
loss: cross_entropy
train: {epochs: 1, device: cpu}
"""


def _one_class(source, tmp_path):
    """A data section of ``source`` whose labels are all one class."""
    if source == "csv":
        (tmp_path / "d.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 3},yes\n" for i in range(20)))
        return "{source: csv, path: d.csv, target: y, task: classification}"
    if source == "npz":
        np.savez(tmp_path / "d.npz", x=np.random.rand(20, 3).astype("float32"), y=np.zeros(20, dtype=np.int64))
        return "{source: npz, path: d.npz}"
    if source == "image_folder":
        (tmp_path / "img" / "only").mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (8, 8), color=(i, i, i)).save(tmp_path / "img" / "only" / f"{i}.png")
        return "{source: image_folder, root: img}"
    return "{source: sklearn, dataset: make_blobs, params: {centers: 1}}"


@pytest.mark.parametrize("source, key", [("csv", "data.target"), ("npz", "data.y"),
                                         ("image_folder", "data.root"), ("sklearn", "data.params")])
def test_a_single_class_is_refused_by_every_source(source, key, tmp_path):
    (tmp_path / "s.yaml").write_text(SPEC % _one_class(source, tmp_path))
    line = one_spec_error(run_cli("check", "s.yaml", cwd=tmp_path), key, "one class", "two or more")
    assert line.startswith("s.yaml:3:"), line


X = np.random.default_rng(0).random((20, 3)).astype("float32")
Y = np.arange(20) % 2


@pytest.mark.parametrize("arrays, task, key, words", [
    ({"y": Y - 1}, None, "data.y", ["label -1", "0..K-1"]),
    ({"y": -np.ones(20, dtype=np.int64)}, None, "data.y", ["label -1"]),
    ({"y": Y + 0.5}, "classification", "data.y", ["label 0.5", "whole numbers"]),
    ({"y": np.where(Y == 1, np.nan, 0.0)}, "classification", "data.y", ["label nan"]),
    ({"y": Y * 2**40}, None, "data.y", ["label 1099511627776", "only 20 samples"]),
    ({"y": Y.astype(np.uint64) * np.uint64(2**63 + 5)}, None, "data.y", ["only 20 samples"]),
    ({"y": Y.reshape(20, 1)}, None, "data.y", ["[20, 1]", "[N]", "multilabel"]),
    ({"x": np.zeros((20, 0), np.float32)}, None, "data.x", ["[20, 0]", "no values"]),
    ({"x": np.zeros((20, 4, 0), np.float32)}, None, "data.x", ["[20, 4, 0]"]),
], ids=["negative", "all-negative", "fraction", "nan", "huge", "uint64", "column", "no-width", "no-width-3d"])
def test_npz_labels_and_shapes_that_cannot_be(arrays, task, key, words, tmp_path):
    np.savez(tmp_path / "d.npz", **{"x": X, "y": Y, **arrays})
    extra = f", task: {task}" if task else ""
    (tmp_path / "s.yaml").write_text(SPEC % f"{{source: npz, path: d.npz{extra}}}")
    one_spec_error(run_cli("check", "s.yaml", cwd=tmp_path), key, *words)


def test_whole_float_labels_are_classes(tmp_path):
    np.savez(tmp_path / "d.npz", x=X, y=Y.astype(float))
    (tmp_path / "s.yaml").write_text(SPEC % "{source: npz, path: d.npz, task: classification}")
    r = run_cli("check", "s.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("text", ["a,b,y\n\n\n", "\ufeffa,b,y\r\n"])
def test_a_csv_of_a_header_alone(text, tmp_path):
    (tmp_path / "d.csv").write_text(text, newline="")
    (tmp_path / "s.yaml").write_text(SPEC % "{source: csv, path: d.csv, target: y, task: classification}")
    one_spec_error(run_cli("check", "s.yaml", cwd=tmp_path), "data.path", "no rows under its header")


GRID = """
name: t
data: {source: sklearn, dataset: iris}
model: {layers: [{linear: 3}]}
loss: cross_entropy
train: {epochs: 1, device: cpu}
search: {sampler: grid, space: %s}
"""


@pytest.mark.parametrize("space, points", [
    ("{train.batch_size: {int: [1, 1000000000]}}", "1000000000"),
    ("{train.batch_size: {int: [0, 4000000], step: 2}, train.epochs: {choice: [1, 2]}}", "4000002"),
])
def test_a_grid_too_large_to_hold_is_refused(space, points, tmp_path):
    (tmp_path / "s.yaml").write_text(GRID % space)
    one_spec_error(run_cli("check", "s.yaml", cwd=tmp_path), "search", f"grid holds {points} points")


def test_a_grid_at_the_limit_checks(tmp_path):
    (tmp_path / "s.yaml").write_text(GRID % "{train.batch_size: {int: [1, 400]}, train.epochs: {int: [1, 250]}}")
    r = run_cli("check", "s.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


RUNS = {"iris": ("iris", "{linear: 3}", "cross_entropy", "accuracy"),
        "diabetes": ("diabetes", "{linear: 1}", "mse", "mse")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("evalruns")
    for name, (dataset, last, loss, metric) in RUNS.items():
        (d / f"{name}.yaml").write_text(
            f"name: {name}\ndata: {{source: sklearn, dataset: {dataset}, transforms: [standardize]}}\n"
            f"model: {{layers: [{last}]}}\nloss: {loss}\nmetrics: [{metric}]\ntrain: {{epochs: 1, device: cpu}}\n")
        r = run_cli("build", d / f"{name}.yaml", "--out", d / name, "-q", cwd=d)
        assert r.returncode == 0, r.stderr
    return d


@pytest.mark.slow
@pytest.mark.parametrize("y, words", [(np.zeros((10, 1), np.int64), ["[10, 1]", "one class index"]),
                                      (np.zeros((10, 3, 1), np.int64), ["[10, 3, 1]"])])
def test_evaluate_labels_of_another_shape(runs, tmp_path, y, words):
    np.savez(tmp_path / "e.npz", x=np.zeros((10, 4), np.float32), y=y)
    r = run_cli("evaluate", runs / "iris", "--input", "e.npz", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("specdl: error:"), r.stderr
    assert all(w in lines[0] for w in words), lines[0]


@pytest.mark.slow
def test_evaluate_targets_near_the_float_limit_score_inf_quietly(runs, tmp_path):
    np.savez(tmp_path / "e.npz", x=np.zeros((10, 10), np.float32), y=np.full(10, 1e308))
    r = run_cli("evaluate", runs / "diabetes", "--input", "e.npz", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "mse inf" in r.stdout, r.stdout


def _image_folder(root):
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), color=(i, 0, 0)).save(root / c / f"{i}.png")
    return root


@pytest.mark.parametrize("link, to, words", [
    ("img/a/loop", "img", ["img/a/loop is a link back to", "a loop"]),
    ("img/a/up", ".", ["img/a/up is a link back to", "a loop"]),
    ("img/b/deep/self", "img/b", ["img/b/deep/self is a link back to"]),
    ("img/b/other", "img/a", ["img/b/other leads to", "read already"]),
    ("img/a/twice", "shared", ["read already"]),
], ids=["to-root", "to-ancestor", "to-own-class", "across-classes", "twice"])
def test_an_image_folder_link_loop_or_repeat_is_refused(tmp_path, link, to, words):
    """ImageFolder follows links to folders: a loop would be read until the path is too
    long (every image many times, under one label), a repeat twice."""
    _image_folder(tmp_path / "img")
    (tmp_path / "shared").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "shared" / "s.png")
    (tmp_path / "img" / "a" / "link1").symlink_to(tmp_path / "shared")
    (tmp_path / link).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / link).symlink_to(tmp_path / to)
    (tmp_path / "s.yaml").write_text(SPEC % "{source: image_folder, root: img}")
    one_spec_error(run_cli("check", "s.yaml", cwd=tmp_path), "data.root", *words)


def test_an_image_folder_link_to_another_folder_is_read(tmp_path):
    _image_folder(tmp_path / "img")
    (tmp_path / "more").mkdir()
    Image.new("RGB", (8, 9)).save(tmp_path / "more" / "odd.png")  # another size: proof that it was read
    (tmp_path / "img" / "b" / "more").symlink_to(tmp_path / "more")
    (tmp_path / "s.yaml").write_text(SPEC % "{source: image_folder, root: img}")
    one_spec_error(run_cli("check", "s.yaml", cwd=tmp_path), "img/b/more/odd.png")


@pytest.mark.slow  # five real CLI processes: `pytest -m slow` (CI)
def test_predict_and_evaluate_read_a_folder_as_training_does(tmp_path):
    """Links to folders followed (every image scored), a loop refused in one line."""
    _image_folder(tmp_path / "img")
    (tmp_path / "s.yaml").write_text(SPEC % "{source: image_folder, train: img, test: img}")
    specdl.train(tmp_path / "s.yaml", out=tmp_path / "run")
    _image_folder(tmp_path / "new")
    (tmp_path / "more").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "more" / "linked.png")
    (tmp_path / "new" / "b" / "more").symlink_to(tmp_path / "more")
    r = run_cli("predict", "run", "--input", "new", cwd=tmp_path)
    assert r.returncode == 0 and "new/b/more/linked.png" in r.stdout and len(r.stdout.splitlines()) == 8, r.stderr
    r = run_cli("evaluate", "run", "--input", "new", cwd=tmp_path)
    assert r.returncode == 0 and "7 samples" in r.stdout, r.stdout + r.stderr
    (tmp_path / "new" / "a" / "loop").symlink_to(tmp_path / "new")
    r = run_cli("predict", "run", "--input", "new", cwd=tmp_path)  # evaluate reads the folder the same way
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "a loop" in r.stderr, r.stderr


@pytest.mark.parametrize("params, words", [("{centers: 0}", "`make_blobs` argument `centers`: input should be greater"),
                                           ("{centers: 2.5}", "`make_blobs` argument `centers`:")])
def test_a_generator_argument_is_named_without_pydantic_tags(tmp_path, params, words):
    (tmp_path / "s.yaml").write_text(SPEC % f"{{source: sklearn, dataset: make_blobs, params: {params}}}")
    line = one_spec_error(run_cli("check", "s.yaml", cwd=tmp_path), words)
    assert "constrained" not in line and "list[" not in line, line
