"""Registry-wide layer tests (in the manner of Keras' run_layer_test): for every
registered layer, over drawn parameters and input shapes, the static shape rule
agrees with the real torch module, and build and codegen make the same thing."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from specdl.components.base import HELPERS, REGISTRY, TT
from specdl.errors import ShapeError
from specdl.graph import build_graph
from specdl.source import Source

from .strategies import input_types, params

LAYERS = REGISTRY["layer"]
SINGLE = sorted(n for n, c in LAYERS.items() if c.min_inputs == 1 and not c.structural)
MERGES = sorted(n for n, c in LAYERS.items() if c.min_inputs > 1 and not c.structural)
STRUCTURAL = sorted(n for n, c in LAYERS.items() if c.structural)  # block calls: tests/test_graphs.py
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
        return torch.zeros(dims, dtype=torch.int64)  # token 0 exists in any vocabulary
    return torch.randn(dims)


def run(layer, in_types, xs):
    """The layer as build makes and calls it, and as the generated code writes it."""
    names = [f"v{i}" for i in range(len(xs))]
    if layer.functional:
        built = layer.apply(*xs)
        generated = eval(layer.expr(*names), NS, dict(zip(names, xs)))  # noqa: S307 - our own codegen
        return built, generated
    call = layer.ctor_many(in_types)
    torch.manual_seed(0)
    built_mod = call().eval()
    ns = dict(NS)
    for h in layer.helpers:  # the helper functions the generated script carries
        exec(HELPERS[h][0], ns)  # noqa: S102 - our own codegen
    for imp in call.imports():
        ns[imp.split(".")[0]] = __import__(imp)
    torch.manual_seed(0)
    gen_mod = eval(call.code(), ns).eval()  # noqa: S307 - our own codegen
    assert repr(built_mod) == repr(gen_mod)
    for (k1, v1), (k2, v2) in zip(built_mod.state_dict().items(), gen_mod.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)
    assert sum(p.numel() for p in built_mod.parameters()) == layer.params_many(in_types)
    with torch.no_grad():
        built = layer.call(built_mod, *xs)
        scope = {**NS, "m": gen_mod, **dict(zip(names, xs))}
        exec("\n".join(layer.call_code("m", names, "out")), scope)  # noqa: S102 - our own codegen
        return built, scope["out"]


def check_layer(layer, in_types):
    """None when the layer rejects the inputs statically; else its output type, after
    checking it against the real module's output."""
    try:
        out = layer.infer_many(in_types)
    except ShapeError:
        return None  # rejected statically, before any torch call
    if len(in_types) == 1:  # the same through the graph pass that check runs
        graph = build_graph([layer], in_types[0], Source({}, file="<test>"))
        assert graph.nodes[0].out == out
    xs = [sample(t.shape, t.dtype) for t in in_types]
    built, generated = run(layer, in_types, xs)
    assert tuple(built.shape) == (2, *out.shape[1:]), (layer, in_types, out)
    assert tuple(generated.shape) == tuple(built.shape)
    torch.testing.assert_close(generated, built, rtol=0, atol=0, equal_nan=True)
    assert str(built.dtype).replace("torch.", "") == out.dtype
    return out


@pytest.mark.parametrize("name", SINGLE)
@SETTINGS
@given(data=st.data())
def test_shape_rule_matches_torch(name, data):
    cls = LAYERS[name]
    layer = make(cls, data.draw(params(cls)))
    dtype = data.draw(st.sampled_from(cls.dtypes))
    shape, _ = data.draw(input_types(cls))
    n = data.draw(st.integers(cls.min_inputs, cls.max_inputs or 1))
    check_layer(layer, [TT(shape, dtype)] * n)


@pytest.mark.parametrize("name", MERGES)
@SETTINGS
@given(data=st.data())
def test_merge_rule_matches_torch(name, data):
    cls = LAYERS[name]
    layer = make(cls, data.draw(params(cls)))
    base = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    hi = cls.max_inputs or 3
    shapes = []
    for _ in range(data.draw(st.integers(cls.min_inputs, hi))):
        dims = [d if data.draw(st.integers(0, 4)) else data.draw(st.integers(1, 5)) for d in base]
        shapes.append(("N", *dims))
    check_layer(layer, [TT(s) for s in shapes])


def test_every_layer_is_exercised():
    """The parametrisation above reads the registry: nothing is left out."""
    assert set(SINGLE) | set(MERGES) | set(STRUCTURAL) == set(LAYERS)
    assert STRUCTURAL == ["call"]
    assert len(LAYERS) >= 30


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_is_documented(name):
    cls = LAYERS[name]
    assert (cls.__doc__ or "").strip(), f"{name} needs a docstring (it is the reference text)"
    if cls.primary is not None:
        assert cls.primary in cls.model_fields
