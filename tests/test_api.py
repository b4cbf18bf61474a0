"""The Python API and the spec's round trip through YAML."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import specdl
from specdl.components.base import REGISTRY
from specdl.errors import SpecError

from .conftest import SPECS

IRIS = {"name": "api", "data": {"source": "sklearn", "dataset": "iris"},
        "model": {"layers": ["flatten", {"linear": 8}, "relu", {"type": "linear", "out_features": 3}]}}


def test_three_forms_are_equivalent():
    forms = [
        {"layers": [{"dropout": 0.2}, {"linear": {"out_features": 3, "bias": False}}]},
        {"layers": [{"type": "dropout", "p": 0.2}, {"type": "linear", "out_features": 3, "bias": False}]},
        {"layers": [{"dropout": {"p": 0.2}}, {"linear": {"out_features": 3, "bias": False}}]},
    ]
    dumps = [specdl.load({**IRIS, "model": m}).to_dict() for m in forms]
    assert dumps[0] == dumps[1] == dumps[2]
    bare = specdl.load({**IRIS, "model": {"layers": ["relu", {"linear": 3}]}})
    assert bare.model.layers[0].type_name == "relu"


def test_infer_shapes_and_build_model():
    shapes = specdl.infer_shapes(IRIS)
    assert shapes == {"input": ("N", 4), "flatten_0": ("N", 4), "linear_1": ("N", 8),
                      "relu_2": ("N", 8), "linear_3": ("N", 3)}
    model = specdl.build_model(IRIS)
    assert [n for n, _ in model.named_children()] == ["flatten_0", "linear_1", "relu_2", "linear_3"]
    assert model(torch.randn(5, 4)).shape == (5, 3)
    again = specdl.build_model(IRIS)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_spec_objects_can_be_built_in_python():
    Linear = REGISTRY["layer"]["linear"]
    spec = specdl.load({**IRIS, "model": {"layers": [Linear(out_features=3).canonical()]}})
    assert spec.model.layers[0] == Linear(out_features=3)
    spec2 = specdl.load(spec, overrides=["train.epochs=2"])
    assert spec2.train.epochs == 2 and spec.train.epochs == 10


def test_errors_are_collected_from_dicts():
    bad = {**IRIS, "model": {"layers": [{"linear": 0}, "rleu"]}, "train": {"epochs": -1}}
    with pytest.raises(SpecError) as e:
        specdl.load(bad)
    paths = sorted(str(i.path) for i in e.value.issues)
    assert len(paths) == 3, e.value.render()


def test_train_and_codegen_api(tmp_path):
    result = specdl.train(IRIS, out=tmp_path / "run", overrides=["train.epochs=2"])
    metrics, run_dir = result
    assert run_dir == tmp_path / "run" and 0 <= metrics["accuracy"] <= 1
    code = specdl.codegen(IRIS)
    assert "class Model(nn.Module)" in code
    assert "import specdl" not in code and "from specdl" not in code


# ---------------------------------------------------------------- load -> to_yaml -> load
SIMPLE = ["relu", "gelu", "tanh", "sigmoid", "identity", "flatten"]


@st.composite
def specs(draw):
    layers = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["linear", "dropout", "simple", "leaky_relu", "layernorm"]))
        if kind == "linear":
            layers.append(draw(st.sampled_from([{"linear": draw(st.integers(1, 64))},
                                                {"type": "linear", "out_features": draw(st.integers(1, 9)),
                                                 "bias": draw(st.booleans())}])))
        elif kind == "dropout":
            layers.append({"dropout": draw(st.floats(0, 0.9))})
        elif kind == "leaky_relu":
            layers.append({"leaky_relu": {"negative_slope": draw(st.floats(0, 1))}})
        elif kind == "layernorm":
            layers.append({"layernorm": {"eps": draw(st.floats(1e-8, 1e-3))}})
        else:
            layers.append(draw(st.sampled_from(SIMPLE)))
    opt = draw(st.sampled_from(list(REGISTRY["optimizer"])))
    d = {"name": draw(st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)),
         "seed": draw(st.integers(0, 2**31)),
         "data": {"source": "sklearn", "dataset": draw(st.sampled_from(["iris", "wine", "diabetes"])),
                  "split": {"val": draw(st.floats(0, 0.3)), "test": draw(st.floats(0.05, 0.3))},
                  "transforms": draw(st.lists(st.sampled_from(["standardize", "minmax"]), max_size=2))},
         "model": {"layers": layers},
         "optimizer": {opt: {"lr": draw(st.floats(1e-6, 1.0))}},
         "train": {"epochs": draw(st.integers(1, 1000)), "batch_size": draw(st.integers(1, 512)),
                   "precision": draw(st.sampled_from(["fp32", "bf16"])),
                   "grad_clip": draw(st.none() | st.floats(0.1, 10))}}
    if draw(st.booleans()):
        d["scheduler"] = draw(st.sampled_from(["cosine", {"step": 3}, {"warmup": {"epochs": 2}}]))
    return d


@settings(max_examples=150, deadline=None)
@given(specs())
def test_yaml_round_trip_is_identity(d):
    spec = specdl.load(d)
    text = spec.to_yaml()
    from specdl.front.reader import read_yaml
    from specdl.front.validate import validate

    again = validate(read_yaml(text))
    assert again == spec
    assert again.to_yaml() == text


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_bundled_specs_round_trip(path):
    spec = specdl.load(path)
    from specdl.front.reader import read_yaml
    from specdl.front.validate import validate

    assert validate(read_yaml(spec.to_yaml())) == spec


def test_one_override_given_alone_is_one_override():
    """A string where a list goes is that one override (not a list of its characters)."""
    iris = SPECS[0].parent / "iris_mlp.yaml"
    assert specdl.load(iris, "train.epochs=2").train.epochs == 2
    assert specdl.load(iris, ("train.epochs=4", "seed=3")).train.epochs == 4
    assert specdl.check(iris, "train.batch_size=8").spec.train.batch_size == 8


@pytest.mark.parametrize("field, value", [("trials", 0), ("trials", -2), ("trials", 2.5), ("trials", True),
                                          ("jobs", 0)])
def test_tune_refuses_counts_that_are_not_whole_and_positive(field, value, tmp_path):
    from specdl.errors import RunError

    with pytest.raises(RunError, match=f"--{field} {value}: give a whole number, 1 or more"):
        specdl.tune(SPECS[0].parent / "diabetes_mlp.yaml", out=tmp_path / "t", **{field: value})
    assert not (tmp_path / "t").exists()  # refused before the tune directory is made
