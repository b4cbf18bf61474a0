"""The bundled text specs (issue 29 acceptance, "identical ids"; spec 12.6): for every
bundled spec with a text input, the generated script's token-id arrays (every split, every
input) have the same SHA-256 as build's, under PYTHONHASHSEED=0 and a random one; the
script's test metrics equal build's; it imports neither specdl nor `tokenizers`. The
default suite compares the ids in process (the golden script's own data statements run
beside build's `prepare`); the script runs whole, in subprocesses, in the slow set."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import runpy
import subprocess
import sys

import pytest

import specdl
from specdl.build.data import prepare

from .conftest import ROOT, SPECS


def text_inputs(spec) -> list[str]:
    data = specdl.load(spec).data
    settings = data.input_settings() if hasattr(data, "input_settings") else {}
    return [k for k, v in settings.items() if v["kind"] == "text"]


TEXT_SPECS = [p for p in SPECS if text_inputs(p)]


def digests(xs) -> dict:
    """split -> input -> the SHA-256 of its array's bytes (an image input's paths: of their
    text), dtype and shape beside them."""
    def sha(v):
        return hashlib.sha256("\n".join(map(str, v)).encode() if v.dtype == object else v.tobytes()).hexdigest()

    return {s: {k: [sha(v), str(v.dtype), list(v.shape)] for k, v in d.items()} for s, d in xs.items()}


def built_ids(spec) -> dict:
    """The splits' input arrays as build trains on them (build/data.py's `prepare`; a split
    of image inputs is a data set over them)."""
    a = specdl.check(spec)
    return {k: getattr(v, "arrays", v) for k, v in prepare(a.spec, a).x.items()}


def script_ids(path) -> dict:
    """The golden script's inputs: its functions loaded (its main not run), then its own
    data statements, from `read_inputs` to `fit_inputs`, run on them."""
    ns = runpy.run_path(str(path), run_name="script")
    tree = ast.parse(path.read_text())
    main = next(n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))
    lines = [ast.unparse(n) for n in main.body]
    # several outputs: each further target's load comes first
    start = next(i for i, s in enumerate(lines) if "read_inputs(" in s or s.startswith("other_ys = "))
    end = next(i for i, s in enumerate(lines) if "fit_inputs(" in s)
    exec(compile(ast.Module(body=main.body[start:end + 1], type_ignores=[]), str(path), "exec"), ns)
    return ns["x"]


def test_the_bundled_text_specs_are_found():
    assert {p.stem for p in TEXT_SPECS} >= {"reviews_text", "reviews_multi"}
    assert text_inputs(ROOT / "specs" / "reviews_multi.yaml") == ["review"]


@pytest.mark.parametrize("spec", TEXT_SPECS, ids=lambda p: p.stem)
def test_the_scripts_ids_are_builds(spec):
    """Every split, every input: the same bytes (the text inputs' token ids among them)."""
    built = digests(built_ids(spec))
    assert sorted(built) == ["test", "train", "val"]
    assert all(set(text_inputs(spec)) <= set(d) for d in built.values())
    assert all(d[k][1] == "int64" for d in built.values() for k in text_inputs(spec))
    assert digests(script_ids(ROOT / "generated" / f"{spec.stem}.py")) == built


# The script run whole under a hash seed: specdl and tokenizers unimportable, its ids and the
# modules it loaded printed after its own last line (the test metrics)
RUN = """
import hashlib, json, runpy, sys
sys.modules["specdl"] = sys.modules["tokenizers"] = None  # importing either raises
g = runpy.run_path(sys.argv[1], run_name="__main__")
def sha(v):  # an image input's paths: the SHA-256 of their text
    return hashlib.sha256(chr(10).join(map(str, v)).encode() if v.dtype == object else v.tobytes()).hexdigest()
ids = {s: {k: [sha(v), str(v.dtype), list(v.shape)] for k, v in d.items()} for s, d in g["x"].items()}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("specdl", "tokenizers") and sys.modules[m])
print(json.dumps({"ids": ids, "loaded": loaded}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("spec", TEXT_SPECS, ids=lambda p: p.stem)
def test_the_script_run_whole_equals_build_under_any_hash_seed(spec, tmp_path):
    built, _ = specdl.train(spec, out=tmp_path / "run")
    want = digests(built_ids(spec))
    script = tmp_path / "script.py"
    script.write_text(specdl.codegen(spec))
    for seed in ("0", "random"):
        r = subprocess.run([sys.executable, "-c", RUN, str(script)], cwd=os.getcwd(), capture_output=True,
                           text=True, timeout=300, env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": ""})
        assert r.returncode == 0, r.stderr[-2000:]
        *_, metrics, found = r.stdout.strip().splitlines()
        found, metrics = json.loads(found), json.loads(metrics)
        assert found["ids"] == want, seed
        assert found["loaded"] == [], seed
        assert list(metrics) == list(built)
        for k in built:
            assert metrics[k] == pytest.approx(built[k], abs=1e-6), (seed, k)


# ---------------------------------------------------------------- the canonical form (spec 12.1)
def test_check_print_shows_each_input_in_its_canonical_form(capsys):
    from specdl.cli import main

    assert main(["check", str(ROOT / "specs" / "reviews_multi.yaml"), "--print"]) == 0
    out = capsys.readouterr().out
    assert "    review: {kind: text, column: text, min_freq: 2}\n" in out
    assert "    movie: {kind: categorical, column: movie}\n" in out
    assert "    stats:\n      kind: numeric\n      column: [runtime, year]\n      transforms:\n" in out
    short = specdl.load(ROOT / "specs" / "reviews_multi.yaml")
    assert specdl.load(short.to_yaml()) == short  # the canonical form reads back to the same spec


def reviews_with(review) -> dict:
    import yaml

    spec = yaml.safe_load((ROOT / "specs" / "reviews_text.yaml").read_text())
    spec["data"]["inputs"]["review"] = review
    return spec


def test_the_canonical_form_is_read_and_its_mistakes_are_one_line_each():
    short = specdl.load(reviews_with({"text": "text", "min_freq": 2}))
    assert specdl.load(reviews_with({"kind": "text", "column": "text", "min_freq": 2})) == short
    for review, says in [({"kind": "text", "min_freq": 2}, "names the column once, as `column`"),
                         ({"kind": "text", "column": "text", "text": "text"}, "names the column once, as `column`"),
                         ({"kind": "txt", "column": "text"}, "give one of text, categorical, numeric"),
                         ({"column": "text"}, "give one of text, categorical, numeric")]:
        with pytest.raises(specdl.SpecError) as e:
            specdl.load(reviews_with(review))
        assert len(e.value.issues) == 1 and says in str(e.value) and "data.inputs.review" in str(e.value), review
    with pytest.raises(specdl.SpecError,
                       match=r"data.inputs.review.text \(csv\): no column `txt` in data/reviews.csv; did you mean `text`"):
        specdl.check(reviews_with({"kind": "text", "column": "txt"}))


def test_the_editor_schema_takes_both_forms_and_no_other():
    import jsonschema

    from specdl.front.editor_schema import spec_json_schema

    validator = jsonschema.Draft202012Validator(spec_json_schema())
    assert not list(validator.iter_errors(reviews_with({"kind": "text", "column": "text", "length": 16})))
    assert not list(validator.iter_errors(reviews_with({"text": "text", "tokenizer": "chars"})))
    for bad in ({"kind": "text", "column": "text", "text": "text"}, {"kind": "txt", "column": "text"},
                {"kind": "text"}, {"kind": "text", "column": "text", "encoding": "index"}, {"text": "text", "x": 1}):
        assert list(validator.iter_errors(reviews_with(bad))), bad
