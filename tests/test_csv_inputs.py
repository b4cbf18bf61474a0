"""Named inputs of a CSV (issue 29 part B, spec 12.1-12.6): `text`, `categorical` and
`numeric` inputs through check (a table per input: kind, column, shape, dtype, the
vocabulary, the `auto` length and the share of train texts it truncates; located data
errors), build (each input fitted on the train split by runtime/csv_inputs.py) and the
generated script (the same functions, copied: the same token ids under any hash seed, the
same metrics)."""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

import specdl
from specdl.errors import SpecError
from specdl.runtime import text

from .conftest import run_cli

WORDS = ["good", "bad", "film", "plot", "great", "dull", "acting", "the", "a", "was", "Été", "!"]


def write_reviews(path, rows: int = 120, seed: int = 0) -> None:
    """A small seeded CSV: a text (whose sentiment word tells the label), a movie, two numbers."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "movie", "runtime", "year", "label"])
        for i in range(rows):
            label = int(rng.integers(0, 2))
            words = [WORDS[j] for j in rng.integers(2, len(WORDS), rng.integers(0, 30))]
            words.insert(int(rng.integers(0, len(words) + 1)), ("great", "dull")[label])
            w.writerow([" ".join(words) if i % 17 else "", f"m{rng.integers(0, 6)}",
                        "" if i == 5 else int(rng.integers(80, 180)), int(rng.integers(1950, 2020)), label])


SPEC = {"name": "reviews", "seed": 2,
        "data": {"source": "csv", "path": "reviews.csv", "target": "label", "task": "classification",
                 "inputs": {"review": {"text": "text", "min_freq": 2},
                            "movie": {"categorical": "movie"},
                            "stats": {"numeric": ["runtime", "year"], "transforms": [{"fill": "median"}, "standardize"]}}},
        "model": {"layers": [{"embedding": {"embedding_dim": 6, "inputs": ["review"], "num_embeddings": 64}},
                             {"flatten": {"name": "rev"}},
                             {"embedding": {"embedding_dim": 3, "num_embeddings": 8, "inputs": ["movie"], "name": "mov"}},
                             {"concat": {"inputs": ["rev", "mov", "stats"]}}, {"linear": 2}]},
        "train": {"epochs": 2, "batch_size": 16, "device": "cpu"}}


@pytest.fixture
def reviews(tmp_path, monkeypatch):
    write_reviews(tmp_path / "reviews.csv")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def spec_with(**inputs) -> dict:
    spec = copy.deepcopy(SPEC)
    spec["data"]["inputs"].update(inputs)
    return spec


def train_texts(spec) -> list[str]:
    """The train split's texts, read apart from the source (csv module, the split's own function)."""
    from specdl.runtime.splits import split_rows

    with open("reviews.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    y = np.array([int(r["label"]) for r in rows])
    train = split_rows(y, val=0.1, test=0.2, seed=spec["seed"], stratify=True)["train"]
    return [rows[i]["text"] for i in train]


def test_check_gives_each_input_its_type_and_bound(reviews):
    a = specdl.check(SPEC)
    vocab = text.fit_vocabulary(train_texts(SPEC), min_freq=2)
    length = text.auto_length(text.token_counts(train_texts(SPEC)))
    assert {k: (t.shape, t.dtype) for k, t in a.graph.sources.items()} == {
        "review": (("N", length), "int64"), "movie": (("N",), "int64"), "stats": (("N", 2), "float32")}
    info = {i.name: i for i in a.data.inputs}
    assert info["review"].max_token == len(vocab) - 1 and info["movie"].max_token == 6
    assert (info["stats"].kind, info["stats"].column) == ("numeric", "runtime,year")


def test_check_prints_a_table_per_input(reviews):
    (reviews / "s.yaml").write_text(yaml.safe_dump(SPEC, sort_keys=False))
    r = run_cli("check", "s.yaml", cwd=reviews)
    assert r.returncode == 0, r.stderr
    texts = train_texts(SPEC)
    counts = text.token_counts(texts)
    length = text.auto_length(counts)
    rows = {}
    for ln in r.stdout.splitlines():  # the input table's row (the layer table's comes after)
        if ln.strip():
            rows.setdefault(ln.split()[0], ln.split())
    assert rows["input"][:6] == ["input", "kind", "column", "shape", "dtype", "notes"]
    assert rows["review"][:6] == ["review", "text", "text", "[N,", f"{length}]", "int64"]
    note = " ".join(rows["review"][6:])
    share = sum(c > length for c in counts) / len(counts)
    assert note == (f"vocabulary {len(text.fit_vocabulary(texts, min_freq=2))} (train, min_freq 2); "
                    f"length auto = {length} (p95); {share:.1%} of train texts truncated")
    assert rows["movie"] == ["movie", "categorical", "movie", "[N]", "int64", "6", "categories", "+", "unseen", "(train)"]
    assert rows["stats"] == ["stats", "numeric", "runtime,year", "[N,", "2]", "float32"]


def test_a_spec_without_inputs_prints_no_input_table(reviews):
    spec = copy.deepcopy(SPEC)
    del spec["data"]["inputs"]
    spec["data"].update(features=["year"], categorical=[])
    spec["model"] = {"layers": [{"linear": 2}]}
    (reviews / "s.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    r = run_cli("check", "s.yaml", cwd=reviews)
    assert r.returncode == 0, r.stderr
    assert "kind" not in r.stdout and r.stdout.splitlines()[0].startswith("reviews: 1 layers")


def test_build_fits_each_input_on_the_train_split(reviews):
    """The fitted inputs: text ids from the train vocabulary (unknown 1, padding 0), the
    categories' index from 1 (0 unseen; an empty text all padding), numbers filled and standardized."""
    data = specdl.check(SPEC).spec.data
    raw, xs, fitted, rows = data.fitted_inputs(SPEC["seed"])
    vocab = fitted["review"]["vocabulary"]
    assert vocab == text.fit_vocabulary(train_texts(SPEC), min_freq=2)
    want = text.encode_texts(list(raw["review"][rows["test"]]), vocab, fitted["review"]["length"])
    assert np.array_equal(xs["test"]["review"], want)
    empty = [i for i, t in enumerate(raw["review"][rows["train"]]) if t == ""]
    assert empty and (xs["train"]["review"][empty] == 0).all()
    cats = fitted["movie"]["categories"]
    assert cats == sorted(set(raw["movie"][rows["train"]]))
    assert [cats[i - 1] for i in xs["val"]["movie"]] == list(raw["movie"][rows["val"]])
    train = xs["train"]["stats"]
    assert train.dtype == np.float32 and np.isfinite(train).all()
    assert np.allclose(train.mean(axis=0), 0, atol=1e-5)


def test_one_hot_categories_and_an_unseen_one_are_zeros(reviews):
    from specdl.runtime.csv_inputs import fit_categorical

    out, fitted = fit_categorical({"train": np.array(["b", "a", "b"]), "test": np.array(["a", "zz", ""])},
                                  {"encoding": "one_hot"})
    assert fitted == {"categories": ["a", "b"]}
    assert out["test"].tolist() == [[1, 0], [0, 0], [0, 0]] and out["test"].dtype == np.float32
    spec = spec_with(movie={"categorical": "movie", "encoding": "one_hot"})
    spec["model"]["layers"][2] = {"linear": {"out_features": 3, "inputs": ["movie"], "name": "mov"}}
    assert specdl.check(spec).graph.sources["movie"].shape == ("N", 6)


def test_a_text_column_of_numbers_is_warned_of(reviews):
    spec = spec_with(stats={"numeric": "runtime", "transforms": [{"fill": "median"}]}, when={"text": "year"})
    spec["model"]["layers"][3]["concat"]["inputs"].append("w")
    spec["model"]["layers"].insert(3, {"embedding": {"embedding_dim": 2, "num_embeddings": 99, "inputs": ["when"]}})
    spec["model"]["layers"].insert(4, {"flatten": {"name": "w"}})
    (reviews / "s.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    r = run_cli("check", "s.yaml", cwd=reviews)
    assert r.returncode == 0, r.stderr
    assert "data.inputs.when.text" in r.stderr and "holds only numbers; did you mean numeric?" in r.stderr


def test_an_embedding_smaller_than_the_vocabulary_is_caught_statically(reviews):
    spec = copy.deepcopy(SPEC)
    spec["model"]["layers"][0]["embedding"]["num_embeddings"] = 4
    with pytest.raises(SpecError) as e:
        specdl.check(spec)
    assert "the input review holds token ids up to" in str(e.value)


def test_a_huge_text_cell_is_read(reviews):
    """The csv module's field limit (128 KiB) is raised for text inputs (spec 12.5)."""
    with open("reviews.csv", "a", newline="") as f:
        csv.writer(f).writerow(["good " * 60_000, "m1", 100, 2000, 1])
    spec = spec_with(review={"text": "text", "length": 16})
    assert specdl.check(spec).graph.sources["review"].shape == ("N", 16)


def test_the_script_holds_the_text_functions_and_no_specdl(reviews):
    script = specdl.codegen(SPEC)
    for name in ("def tokenize(", "def fit_vocabulary(", "def encode_texts(", "def fit_inputs(", "def read_inputs("):
        assert name in script
    assert "import specdl" not in script and "tokenizers" not in script
    compile(script, "s.py", "exec")


# ---------------------------------------------------------------- build == script
HASHES = """
import hashlib, json, runpy, sys
g = runpy.run_path(sys.argv[1], run_name="__main__")
print(json.dumps({s: {k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in d.items()} for s, d in g["x"].items()}))
"""


@pytest.mark.slow
def test_build_equals_the_script_and_its_ids_under_any_hash_seed(reviews):
    from .test_runtime import build_and_script

    (reviews / "s.yaml").write_text(yaml.safe_dump(SPEC, sort_keys=False))
    built, script = build_and_script(reviews / "s.yaml", [], reviews)
    assert list(script) == list(built)
    for k in built:
        assert script[k] == pytest.approx(built[k], abs=1e-6), k
    _, xs, _, _ = specdl.check(SPEC).spec.data.fitted_inputs(SPEC["seed"])
    want = {s: {k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in d.items()} for s, d in xs.items()}
    (reviews / "s.py").write_text(specdl.codegen(SPEC))
    for seed in ("0", "random"):
        out = subprocess.run([sys.executable, "-c", HASHES, "s.py"], cwd=reviews, capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": ""}, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert json.loads(out.stdout.strip().splitlines()[-1]) == want, seed


def test_a_numeric_input_takes_the_transforms_of_each_spec_in_turn(reviews):
    """The input models nested in the CSV source are rebuilt with each spec's component
    union (schema.spec_class): a transform the first spec did not use is known to the next."""
    assert specdl.check(SPEC).graph.sources["stats"].shape == ("N", 2)
    spec = spec_with(stats={"numeric": ["runtime", "year"], "transforms": [{"fill": 0}, "minmax"]})
    assert specdl.check(spec).graph.sources["stats"].shape == ("N", 2)
