"""Third round of hostile input: override paths with empty segments given to the Python
API (the CLI refuses them in its argument parser), and `overrides` given as one string."""
from __future__ import annotations

import pytest

import specdl
from specdl.errors import SpecError

SPEC = """data: {source: sklearn, dataset: iris}
model: {layers: [linear: 3]}
train: {epochs: 1, device: cpu}
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


@pytest.mark.parametrize("dotted", ["..", "model..layers", ".train", "train.", "train. .epochs"])
def test_the_api_refuses_an_empty_segment_with_its_own_error(dotted, spec):
    with pytest.raises(SpecError) as e:
        specdl.check(spec, overrides=[f"{dotted}=1"])
    assert "empty segment" in str(e.value)
    assert str(spec) not in str(e.value)        # located at the override, not the spec


@pytest.mark.parametrize("overrides, epochs", [("train.epochs=2", 2), (["train.epochs=4"], 4),
                                               (("train.epochs=5",), 5),
                                               (iter(["train.epochs=6"]), 6)])
def test_one_override_string_is_one_override_not_one_per_character(overrides, epochs, spec):
    analysis = specdl.check(spec, overrides=overrides)
    assert analysis.spec.train.epochs == epochs


@pytest.mark.parametrize("overrides, needle", [
    ([b"train.epochs=2"], "not bytes"), ([None], "not NoneType"), ([3], "not int"),
    ({"train.epochs": 2}, "not dict"), (5, "not int"), (b"train.epochs=2", "not bytes")])
def test_overrides_that_are_not_strings_are_one_specdl_error(overrides, needle, spec):
    with pytest.raises(SpecError) as e:
        specdl.check(spec, overrides=overrides)
    assert len(e.value.issues) == 1
    assert needle in str(e.value) and "dotted.path=value" in str(e.value)


@pytest.mark.parametrize("verb", ["schema", "init"])
def test_an_empty_o_on_a_verb_without_a_spec_names_a_real_option(verb, tmp_path):
    from .conftest import run_cli

    where = tmp_path / "empty"
    where.mkdir()
    r = run_cli(verb, "-o", "", cwd=where)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().endswith("--out PATH"), r.stderr
    assert not list(where.iterdir())


@pytest.mark.parametrize("words", [["layers"], ["check", "{spec}"], ["schema"], ["codegen", "{spec}"],
                                   ["build", "{spec}", "--out", "{tmp}/run"]])
def test_a_closed_stdout_is_one_line_not_a_traceback(words, spec, tmp_path):
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    args = [w.format(spec=spec, tmp=tmp_path) for w in words]
    r = subprocess.run([sys.executable, "-m", "specdl", *args], env={**os.environ, "PYTHONPATH": str(ROOT)},
                       preexec_fn=lambda: os.close(1), stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip() == "specdl: error: standard output is closed; redirect it (> FILE or > /dev/null)"
    assert not (tmp_path / "run").exists()


DATA = "data: {source: sklearn, dataset: iris}\n"
MODEL = "model: {layers: [linear: 3]}\n"


@pytest.mark.parametrize("text, where, got", [
    (DATA + MODEL + "optimizer: {type: [adam]}\n", "3:19: error: optimizer.type:", "a list"),
    (DATA + "model: {layers: [{type: [linear]}]}\n", "2:25: error: model.layers[0].type:", "a list"),
    (DATA + MODEL + "loss: {type: {a: 1}}\n", "3:14: error: loss.type:", "{'a': 1}"),
    (DATA + MODEL + "scheduler: {type: 3}\n", "3:19: error: scheduler.type:", "a number"),
    (DATA + MODEL + "metrics: [{type: null}]\n", "3:18: error: metrics[0].type:", "nothing (null)"),
    (DATA + "model: {layers: [{type: true}]}\n", "2:25: error: model.layers[0].type:", "true/false")])
def test_a_type_that_is_not_a_string_is_one_located_line(text, where, got, tmp_path):
    from .conftest import run_cli

    path = tmp_path / "s.yaml"
    path.write_text(text)
    r = run_cli("check", path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith(f"{path}:{where} `type` is the name of a"), r.stderr
    assert errors[0].endswith(f", a string; got {got}"), r.stderr


@pytest.mark.parametrize("source, col, shown, hint", [
    ("sklearnx", 16, "'sklearnx'", "did you mean `sklearn`?"), ("[sklearn]", 16, "\"['sklearn']\"", "sklearn"),
    ("{a: 1}", 16, "\"{'a': 1}\"", "csv"), ("3", 16, "'3'", "csv")])
def test_an_unknown_data_source_is_located_at_its_value(source, col, shown, hint, tmp_path):
    from .conftest import run_cli

    path = tmp_path / "s.yaml"
    path.write_text(MODEL + f"data: {{source: {source}, dataset: iris}}\n")
    r = run_cli("check", path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith(f"{path}:2:{col}: error: data.source: unknown value {shown}")
    assert hint in errors[0], errors[0]
