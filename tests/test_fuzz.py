"""Fuzzing the front end: generated specs, valid and damaged, through check. Every
case is accepted with shapes, or rejected with located errors: never another
exception, a hang or a blow-up. Accepted ones build, and their forward output has the
inferred shape.

    pytest -m fuzz      # the long run: 20,000 specs through check, 400 through build
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import specdl
from specdl.errors import SpecError
from specdl.front.analysis import analyze
from specdl.front.reader import read_yaml
from specdl.front.validate import validate

LAYERS = [{"linear": 8}, "relu", {"dropout": 0.1}, "flatten", {"layernorm": {}}, "tanh",
          {"conv1d": {"out_channels": 4, "kernel_size": 3}}, {"conv2d": {"out_channels": 4, "kernel_size": 2}},
          {"maxpool2d": 2}, {"reshape": [2, 2, 2]}, {"batchnorm1d": {}}, {"lstm": {"hidden_size": 4}},
          {"embedding": {"num_embeddings": 10, "embedding_dim": 4}}, {"permute": [0, 2, 1]}, "gelu",
          {"add": {"inputs": ["input", "linear_0"]}}, {"concat": {"inputs": ["input", "l1"]}},
          {"blk": {"w": 3}}, {"blk": {"w": 2, "repeat": 3}}, {"adaptive_avgpool1d": 1}]
DATA = [{"source": "synthetic", "shape": [8], "classes": 3},
        {"source": "synthetic", "shape": [2, 4, 4], "classes": 2},
        {"source": "synthetic", "shape": [5, 6], "outputs": 2},
        {"source": "synthetic", "shape": [7], "dtype": "int64", "high": 10, "classes": 2},
        {"source": "sklearn", "dataset": "iris"}, {"source": "sklearn", "dataset": "diabetes"}]
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                 st.text(max_size=8), st.lists(st.integers(-3, 9), max_size=4),
                 st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


@st.composite
def valid_specs(draw):
    layers = [copy.deepcopy(draw(st.sampled_from(LAYERS))) for _ in range(draw(st.integers(1, 6)))]
    if draw(st.booleans()):
        layers[0] = {"linear": {"out_features": 8, "name": "l1"}} if isinstance(layers[0], str) else layers[0]
    layers.append({"linear": draw(st.sampled_from([1, 2, 3]))})
    spec = {"name": "fuzz", "seed": draw(st.integers(0, 5)), "data": copy.deepcopy(draw(st.sampled_from(DATA))),
            "model": {"blocks": {"blk": [{"linear": "$w"}, "relu"]}, "layers": layers},
            "train": {"epochs": draw(st.integers(1, 3)), "batch_size": draw(st.integers(1, 64))}}
    if draw(st.booleans()):
        spec["optimizer"] = {draw(st.sampled_from(["sgd", "adam", "adamw"])): {"lr": draw(st.floats(1e-5, 1))}}
    return spec


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, prefix + (i,))


@st.composite
def mutated_specs(draw, specs=None):
    spec = draw(valid_specs() if specs is None else specs)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(list(paths(spec))[1:]))
        parent = spec
        for p in where[:-1]:
            parent = parent[p]
        key = where[-1]
        action = draw(st.sampled_from(["drop", "rename", "retype", "range", "dup"]))
        if action == "drop":
            del parent[key]
        elif action == "rename" and isinstance(key, str):
            parent[key + draw(st.sampled_from(["s", "_", "x"]))] = parent.pop(key)
        elif action == "retype":
            parent[key] = draw(JUNK)
        elif action == "range":
            parent[key] = draw(st.sampled_from([0, -1, 10**9, 1e308, -0.5, 2.5]))
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
    return spec


@st.composite
def damaged_text(draw):
    text = yaml.safe_dump(draw(valid_specs()), sort_keys=False)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        text = text[:i] + draw(st.sampled_from([":", "- ", "{", "]", "\t", "&a ", "*a", "!!python/none ",
                                                 "\n  ", '"', "#", "%", "@"])) + text[i:]
    return text


def run_check(text: str):
    """The check pipeline on text: an Analysis, or a SpecError with located issues."""
    try:
        spec = validate(read_yaml(text, "fuzz.yaml"))
        return analyze(spec)
    except SpecError as e:
        assert e.issues
        for issue in e.issues:
            assert issue.line >= 1 and issue.col >= 1 and issue.message
            assert issue.render().startswith(issue.file + ":")
        return None


def fuzz_settings(n):
    return settings(max_examples=n, deadline=2000, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


N_CHECK = int(os.environ.get("SPECDL_FUZZ_CHECK", "300"))
N_BUILD = int(os.environ.get("SPECDL_FUZZ_BUILD", "60"))
SPECS = st.one_of(valid_specs().map(lambda d: yaml.safe_dump(d, sort_keys=False)),
                  mutated_specs().map(lambda d: yaml.safe_dump(d, sort_keys=False)), damaged_text())


@fuzz_settings(N_CHECK)
@given(SPECS)
def test_check_accepts_or_locates(text):
    run_check(text)


def build_and_forward(d):
    a = run_check(yaml.safe_dump(d, sort_keys=False))
    if a is None:
        return
    forward_matches_check(a, high=5)


@fuzz_settings(N_BUILD)
@given(st.one_of(valid_specs(), mutated_specs()))
def test_accepted_specs_build_with_inferred_shapes(d):
    build_and_forward(d)


# The bundled specs (named inputs of a CSV among them), mutated: check accepts or locates each
_BUNDLED = sorted((Path(__file__).resolve().parent.parent / "specs").glob("*.yaml"))
_NAMED = [p for p in _BUNDLED if "\n  inputs:" in p.read_text()]  # named inputs: drawn half the time
BUNDLED = st.one_of(st.sampled_from(_NAMED), st.sampled_from(_BUNDLED)).map(lambda p: yaml.safe_load(p.read_text()))
N_BUNDLED = int(os.environ.get("SPECDL_FUZZ_BUNDLED", "4"))  # a CSV's inputs are read and fitted: 0.3 s a check


@settings(fuzz_settings(N_BUNDLED), deadline=None)  # the first check of a CSV imports scikit-learn
@given(mutated_specs(BUNDLED))
def test_mutated_bundled_specs_check_accepts_or_locates(d):
    run_check(yaml.safe_dump(d, sort_keys=False))


@pytest.mark.fuzz
@settings(fuzz_settings(400), deadline=None)
@given(mutated_specs(BUNDLED))
def test_fuzz_mutated_bundled_specs_long(d):
    run_check(yaml.safe_dump(d, sort_keys=False))


@pytest.mark.fuzz
@fuzz_settings(20_000)
@given(SPECS)
def test_fuzz_check_long(text):
    run_check(text)


@pytest.mark.fuzz
@fuzz_settings(400)
@given(st.one_of(valid_specs(), mutated_specs()))
def test_fuzz_build_long(d):
    build_and_forward(d)


@pytest.mark.parametrize("text, message", [
    ("a: &a [1,2,3,4,5,6,7,8,9,10]\n" + "".join(f"{c}: &{c} [" + ", ".join([f"*{p}"] * 10) + "]\n"
                                            for p, c in zip("abcdefgh", "bcdefghi")) + "data: *i\n",
     "more than 200,000 nodes"),
    ("data: " + "[" * 200 + "]" * 200 + "\n", "nesting deeper than"),
    ("data: {source: synthetic, shape: [4], classes: 2}\nmodel:\n  blocks: {b: [{linear: 4}]}\n"
     "  layers: [{b: {repeat: 100000}}, {linear: 2}]\n", "repeat must be a whole number from 1 to 1000"),
    ("data: {source: synthetic, shape: [4], classes: 2}\nmodel:\n  blocks: {b: [{linear: 4}, {linear: 4}]}\n"
     "  layers: [" + ", ".join(["{b: {repeat: 1000}}"] * 60) + ", {linear: 2}]\n", "expands to more than 100,000"),
])
def test_resource_bombs_are_bounded(text, message):
    with pytest.raises(SpecError, match=message):
        validate(read_yaml(text, "bomb.yaml"))


def forward_matches_check(a, high: int):
    """Build the analysed spec's model and run a batch of 3 of its inferred input (token
    ids below ``high``): torch's output shape is the one check inferred. The model."""
    model = specdl.build_model(a.spec).eval()
    inp = a.graph.input
    x = torch.randint(0, high, (3, *inp.shape[1:])) if inp.dtype == "int64" else torch.randn(3, *inp.shape[1:])
    with torch.no_grad():
        out = model(x)
    assert tuple(out.shape) == (3, *a.graph.output.out.shape[1:])
    return model
