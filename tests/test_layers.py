"""Registry-wide layer tests (in the manner of Keras' run_layer_test): for every
registered layer, over drawn parameters and input shapes, the static shape rule
agrees with the real torch module, and build and codegen make the same thing."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from specdl.components.base import REGISTRY, TT
from specdl.errors import ShapeError, SpecError
from specdl.graph import build_graph
from specdl.source import Source

from .strategies import input_types, params

LAYERS = REGISTRY["layer"]
SINGLE = sorted(n for n, c in LAYERS.items() if c.arity == 1)
MERGES = sorted(n for n, c in LAYERS.items() if c.arity is None)
NS = {"nn": torch.nn, "torch": torch, "F": torch.nn.functional}
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def make(cls, kw):
    try:
        return cls(**kw)
    except ValidationError:
        assume(False)


def sample(shape, dtype):
    dims = (2, *shape[1:])
    if dtype == "int64":
        return torch.randint(0, 5, dims)
    return torch.randn(dims)


def run(layer, node, xs):
    """The layer as build makes it, and as the generated code writes it."""
    if layer.functional:
        built = layer.apply(*xs)
        names = [f"v{i}" for i in range(len(xs))]
        generated = eval(layer.expr(*names), NS, dict(zip(names, xs)))  # noqa: S307 - our own codegen
        return built, generated
    call = layer.ctor(node.in_types[0])
    torch.manual_seed(0)
    built_mod = call().eval()
    torch.manual_seed(0)
    gen_mod = eval(call.code(), NS).eval()  # noqa: S307 - our own codegen
    assert repr(built_mod) == repr(gen_mod)
    for (k1, v1), (k2, v2) in zip(built_mod.state_dict().items(), gen_mod.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)
    with torch.no_grad():
        return built_mod(*xs), gen_mod(*xs)


def check_layer(layer, in_types):
    src = Source({}, file="<test>")
    try:
        graph = build_graph([layer], in_types[0], src) if len(in_types) == 1 else None
    except SpecError as e:
        assert e.issues and all(i.path[:2] == ("model", "layers") for i in e.issues)
        return None  # rejected statically, before any torch call
    node = graph.nodes[0]
    xs = [sample(t.shape, t.dtype) for t in in_types]
    built, generated = run(layer, node, xs)
    assert tuple(built.shape) == (2, *node.out.shape[1:]), (layer, in_types, node.out)
    assert tuple(generated.shape) == tuple(built.shape)
    assert str(built.dtype).replace("torch.", "") == node.out.dtype
    return node.out


@pytest.mark.parametrize("name", SINGLE)
@SETTINGS
@given(data=st.data())
def test_shape_rule_matches_torch(name, data):
    cls = LAYERS[name]
    layer = make(cls, data.draw(params(cls)))
    dtype = data.draw(st.sampled_from(cls.dtypes))
    shape, _ = data.draw(input_types(cls))
    check_layer(layer, [TT(shape, dtype)])


@pytest.mark.parametrize("name", MERGES)
@SETTINGS
@given(data=st.data())
def test_merge_rule_matches_torch(name, data):
    cls = LAYERS[name]
    layer = make(cls, data.draw(params(cls)))
    base = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    shapes = []
    for _ in range(data.draw(st.integers(2, 3))):
        dims = [d if data.draw(st.integers(0, 4)) else data.draw(st.integers(1, 5)) for d in base]
        shapes.append(("N", *dims))
    in_types = [TT(s) for s in shapes]
    layer = layer.model_copy(update={"inputs": [f"v{i}" for i in range(len(shapes))]})
    try:
        out = layer.infer_many(in_types)
    except ShapeError:
        return  # rejected statically, before any torch call
    xs = [sample(t.shape, t.dtype) for t in in_types]
    built = layer.apply(*xs)
    names = [f"v{i}" for i in range(len(xs))]
    generated = eval(layer.expr(*names), NS, dict(zip(names, xs)))  # noqa: S307
    assert tuple(built.shape) == (2, *out.shape[1:])
    assert torch.equal(built, generated)


def test_every_layer_is_exercised():
    """The parametrisation above reads the registry: nothing is left out."""
    assert set(SINGLE) | set(MERGES) == set(LAYERS)
    assert len(LAYERS) >= 30


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_is_documented(name):
    cls = LAYERS[name]
    assert (cls.__doc__ or "").strip(), f"{name} needs a docstring (it is the reference text)"
    if cls.primary is not None:
        assert cls.primary in cls.model_fields
