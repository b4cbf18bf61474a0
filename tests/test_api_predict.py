"""The API takes what the CLI takes: ``specdl.predict`` and ``load_run(...).predict``
read a path as `specdl predict --input` does (one reading path) and rows, arrays and
images in memory; every bad input is one RunError naming its real cause. In process,
on three tiny runs trained once (a CSV run with a categorical column and `fill: mean`,
an npz run, an image run)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

import specdl
from specdl.cli import main
from specdl.errors import RunError

from .test_data_hardening import image_folder

MODEL = "model: {layers: [flatten, {linear: 2}]}\n"
TRAIN = "train: {epochs: 1, device: cpu, batch_size: 16}\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("api-runs")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4))
    np.savez(root / "d.npz", feats=x, labels=(x[:, 0] > 0).astype(np.int64))
    (root / "d.csv").write_text("a,b,city,y\n" + "".join(
        f"{x[i, 0]:.3f},{'' if i % 7 == 0 else f'{x[i, 1]:.3f}'},{'pq'[i % 2]},{'yes' if x[i, 0] > 0 else 'no'}\n"
        for i in range(40)))
    image_folder(root / "img", n=6)
    specs = {"csv": f"data: {{source: csv, path: {root}/d.csv, target: y, categorical: [city], "
                    "transforms: [{fill: mean}, standardize]}\n",
             "npz": f"data: {{source: npz, path: {root}/d.npz, x: feats, y: labels}}\n",
             "img": f"data: {{source: image_folder, root: {root}/img}}\n",
             "tok": "data: {source: synthetic, shape: [6], dtype: int64, high: 20, classes: 2, size: 40, "
                    "split: {stratify: false}}\n"}
    out = {"root": root}
    for name, data in specs.items():
        model = "model: {layers: [{embedding: {num_embeddings: 20, embedding_dim: 4}}, flatten, {linear: 2}]}\n" if name == "tok" else MODEL
        (root / f"{name}.yaml").write_text(f"name: {name}\n" + data + model + TRAIN)
        out[name] = specdl.train(root / f"{name}.yaml", out=root / f"{name}-run").run_dir
    return out


def same(a: dict, b: dict) -> bool:
    key = "probabilities" if "probabilities" in a else "prediction"
    return list(a["prediction"]) == list(b["prediction"]) and np.allclose(a[key], b[key], atol=1e-6)


def cli_rows(capsys, *args) -> list[dict]:
    capsys.readouterr()
    assert main(["predict", *map(str, args)]) == 0
    return list(csv.DictReader(capsys.readouterr().out.splitlines()))


def test_csv_run_takes_a_path_rows_and_a_dict(runs, tmp_path, capsys):
    (tmp_path / "in.csv").write_text("id,a,b,city\n7,1.5,0.2,p\n8,-0.3,,q\n")
    rows = [{"id": 7, "a": 1.5, "b": 0.2, "city": "p"}, {"id": 8, "a": -0.3, "b": None, "city": "q"}]
    by_path = specdl.predict(runs["csv"], tmp_path / "in.csv")
    assert by_path["prediction"] and len(by_path["prediction"]) == 2
    assert same(specdl.predict(runs["csv"], rows), by_path)
    assert same(specdl.load_run(runs["csv"]).predict(str(tmp_path / "in.csv")), by_path)
    one = specdl.predict(specdl.load_run(runs["csv"]), rows[0])
    assert one["prediction"] == by_path["prediction"][:1]
    cli = cli_rows(capsys, runs["csv"], "--input", tmp_path / "in.csv")
    assert [r["prediction"] for r in cli] == by_path["prediction"]
    assert np.allclose([float(r["p_yes"]) for r in cli], by_path["probabilities"][:, 1], atol=1e-6)


def test_array_run_takes_every_form(runs, tmp_path, capsys):
    x = np.random.default_rng(1).normal(size=(3, 4))
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "x.npz", feats=x)
    (tmp_path / "x.csv").write_text("p,q,r,s\n" + "".join(",".join(map(repr, r)) + "\n" for r in x.tolist()))
    want = specdl.predict(runs["npz"], x)
    forms = [tmp_path / "x.npy", str(tmp_path / "x.npz"), tmp_path / "x.csv", x.tolist(), torch.as_tensor(x),
             [dict(zip("pqrs", r)) for r in x.tolist()], x.astype(np.float32).astype(np.float64)]
    for form in forms:
        assert same(specdl.predict(runs["npz"], form), want), type(form)
    cli = cli_rows(capsys, runs["npz"], "--input", tmp_path / "x.npy")
    assert [r["prediction"] for r in cli] == want["prediction"]


def test_reading_returns_raw_inputs_and_sets_nothing_on_the_run(runs, tmp_path):
    """read_inputs and LoadedRun.read return a RawInputs (the features, where each sample
    came from, the image files); the run holds no state of the last read."""
    from specdl.runs.inputs import RawInputs, read_inputs

    (tmp_path / "in.csv").write_text("a,b,city\n1.5,0.2,p\n-0.3,,q\n")
    run = specdl.load_run(runs["csv"])
    raw = read_inputs(run, tmp_path / "in.csv")
    assert isinstance(raw, RawInputs) and raw.rows == [f"{tmp_path / 'in.csv'} line {n}" for n in (2, 3)]
    assert raw.files is None and raw.source == "the given inputs"
    assert run.read(tmp_path / "in.csv").source == str(tmp_path / "in.csv")
    assert run.read([{"a": 1.5, "b": 0.2, "city": "p"}]).rows == ["row 0"]
    assert same(run.predict(raw), run.predict(tmp_path / "in.csv"))
    images = specdl.load_run(runs["img"]).read(runs["root"] / "img" / "a")
    assert images.files == images.rows and len(images.files) == 6
    assert not any(hasattr(run, name) for name in ("rows", "files", "source"))


def test_image_run_takes_files_folders_and_pil_images(runs):
    files = sorted((runs["root"] / "img").rglob("*.png"))[:3]
    run = specdl.load_run(runs["img"])
    want = [run.predict(f) for f in files]
    pil = [Image.open(f) for f in files]
    assert same(specdl.predict(run, pil[0]), want[0])
    together = specdl.predict(run, pil)
    assert together["prediction"] == [w["prediction"][0] for w in want]
    folder = specdl.predict(runs["img"], runs["root"] / "img" / "a")
    assert len(folder["prediction"]) == 6


BAD = [  # (run, input, words of the one-line message)
    ("csv", np.zeros((2, 2)), ["reads named CSV columns", "categorical `city`", "give a .csv"]),
    ("csv", [{"a": 1, "city": "p"}], ["row 0 has no `b`", "a, b, city"]),
    ("csv", [{"a": 1, "b": 2, "city": "p"}, {"a": "x", "b": 2, "city": "p"}], ["row 1, column `a` holds 'x'"]),
    ("csv", [{"a": 1, "b": float("inf"), "city": "p"}], ["row 0, column `b` holds an infinite value"]),
    ("csv", [{"a": [1], "b": 2, "city": "p"}], ["row 0, `a` holds list"]),
    ("csv", (np.zeros((2, 3)), np.zeros((2, 1))), ["[N, 2] numbers and [N, 1] texts"]),
    ("npz", np.zeros(4), ["the array is [4] (1-D)", "[1, 4]"]),
    ("npz", np.array([[0, np.nan, 0, 0]]), ["row 0 (feature 1) has a NaN", "without a `fill`"]),
    ("npz", np.array([["a"] * 4]), ["holds <U1 values"]),
    ("npz", [[1, 2], [1]], ["not all of one length"]),
    ("npz", [], ["the list is empty"]),
    ("npz", None, ["not NoneType"]),
    ("npz", [{"p": 1, "q": 2}], ["the list of rows holds samples of shape [2]", "takes [4]"]),
    ("npz", [{"p": 1, "q": 2, "r": 3, "s": 4}, {"p": 1, "q": 2, "r": 3, "t": 4}], ["row 1 has the keys p, q, r, t"]),
    ("npz", Image.new("RGB", (4, 4)), ["takes rows of numbers, not images"]),
    ("img", np.zeros((16, 16, 3), np.uint8), ["takes images", "PIL.Image.fromarray"]),
    ("img", Image.new("RGB", (20, 12)), ["image 0 is [3, 12, 20]", "takes [3, 16, 16]"]),
    ("img", [{"a": 1}], ["takes images"]),
    ("tok", np.array([[0, 1, 2, 3, 4, 25]]), ["row 0 holds the token id 25 (position 5)", "takes ids 0..19"]),
    ("tok", [[0, -1, 2, 3, 4, 5]], ["token id -1 (position 1)"]),
    ("tok", np.full((1, 6), 1.5), ["fractional", "integer token ids"]),
]


@pytest.mark.parametrize("name, given, words", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_inputs_are_one_line_naming_the_cause(runs, name, given, words):
    with pytest.raises(RunError) as e:
        specdl.predict(runs[name], given)
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


FILES = [  # (run, file name, content, words): Class 4's messages through the CLI's own path
    ("csv", "x.npy", np.zeros((2, 2)), ["x.npy: this run reads named CSV columns", "categorical `city`"]),
    ("csv", "a.csv", "a,b,city\n1,2,p\n0.5,inf,q\n", ["a.csv line 3, column `b` holds an infinite value (inf)"]),
    ("npz", "a.csv", "p,q,r,s\n1,2,3,4\n1,nan,3,4\n", ["a.csv line 3 (feature 1) has a NaN", "without a `fill`"]),
    ("npz", "a.npy", np.array([[1, 2, 3, 4], [1, 1, -np.inf, 1.0]]), ["a.npy row 1 (feature 2) holds an infinite"]),
]


@pytest.mark.parametrize("name, file, content, words", FILES, ids=[str(i) for i in range(len(FILES))])
def test_predict_messages_name_the_real_cause(runs, tmp_path, capsys, name, file, content, words):
    path = tmp_path / file
    np.save(path, content) if isinstance(content, np.ndarray) else path.write_text(content)
    capsys.readouterr()
    code = main(["predict", str(runs[name]), "--input", str(path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and all(w in err for w in words), err


def test_a_scripts_outputs_stand_for_a_run_directory(runs, tmp_path, capsys):
    """--spec/--checkpoint/--preprocess (and the API's spec=, checkpoint=, preprocess=)
    instead of a run folder; the files are the run's own here (the script's are compared
    with the run's in tests/test_runtime.py)."""
    run, spec = runs["csv"], runs["root"] / "csv.yaml"
    rows = [{"a": 0.1, "b": None, "city": "q"}]
    want = specdl.predict(run, rows)
    given = dict(spec=spec, checkpoint=run / "best.pt", preprocess=run / "preprocess.json")
    assert same(specdl.predict(None, rows, **given), want)
    assert same(specdl.load_run(**given).predict(rows), want)
    (tmp_path / "in.csv").write_text("a,b,city\n0.1,,q\n")
    flags = [f"--{k}={v}" for k, v in given.items()]
    assert [r["prediction"] for r in cli_rows(capsys, *flags, "--input", tmp_path / "in.csv")] == want["prediction"]
    for argv, words in [(flags[:1], "--spec SPEC --checkpoint C --preprocess P together"),
                        ([str(run), *flags[1:]], "not both"),
                        ([*flags[:2], "--preprocess=nope.json"], "the preprocessing file nope.json does not exist")]:
        capsys.readouterr()
        assert main(["predict", *argv, "--input", str(tmp_path / "in.csv")]) == 2
        assert words in capsys.readouterr().err
    labelled = tmp_path / "l.csv"
    labelled.write_text("a,b,city,y\n0.1,,q,no\n1.2,0.3,p,yes\n")
    assert specdl.evaluate(None, labelled, **given) == specdl.evaluate(run, labelled)
    with pytest.raises(RunError, match="give checkpoint, spec and preprocess to load_run"):
        specdl.predict(specdl.load_run(run), rows, checkpoint=run / "best.pt")
    assert json.loads((run / "preprocess.json").read_text())["categories"] == [["p", "q"]]


def test_bundled_class_names_are_scikit_learns():
    """Codegen writes them into a script without loading the data set (or importing
    scikit-learn); they are the data set's own target names, as build saves them."""
    from sklearn import datasets

    from specdl.sources.info import SKLEARN, SKLEARN_CLASSES

    for name, (loader, _, task, _) in SKLEARN.items():
        if task == "classification":
            assert list(SKLEARN_CLASSES[name]) == [str(n) for n in getattr(datasets, loader)().target_names], name
