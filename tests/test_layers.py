"""Registry-wide layer tests (in the manner of Keras' run_layer_test): for every
registered layer, over drawn parameters and input shapes, the static shape rule
agrees with the real torch module both ways (what it accepts gets the inferred output
shape, what it rejects torch rejects too, or REFUSALS says why), a share of the draws
is accepted, and build and codegen make the same thing."""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from specdl.components.base import REGISTRY
from specdl.components.tensor import TT
from specdl.components.trust import allowing_imports
from specdl.errors import ShapeError
from specdl.front.graph import build_graph
from specdl.front.reader import Source
from specdl.script.runtime_source import helper_source

from .strategies import input_types, params, related_shapes

LAYERS = REGISTRY["layer"]
SINGLE = sorted(n for n, c in LAYERS.items() if c.min_inputs == 1 and not c.structural)
MERGES = sorted(n for n, c in LAYERS.items() if c.min_inputs > 1 and not c.structural)
STRUCTURAL = sorted(n for n, c in LAYERS.items() if c.structural)  # block calls: tests/test_graphs.py
NS = {"nn": torch.nn, "torch": torch, "F": torch.nn.functional}
MIN_SHARE = 0.2  # of the drawn parameter sets per layer, that must find an accepted input
TRIES = 3  # inputs drawn for each parameter set
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
EXAMPLES = {"torchvision": 8}  # parameter sets per layer where 40 would be slow (a real resnet18)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread is fastest (two fight over a busy machine's cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make(cls, kw):
    try:
        return cls(**kw)
    except ValidationError:
        assume(False)


def sample(shape, dtype, batch=2):
    dims = (batch, *shape[1:])
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
    for h in set(layer.helpers) | call.helpers():  # the helpers the generated script carries
        exec(helper_source(h), ns)  # noqa: S102 - our own codegen
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
        scope = {**ns, "m": gen_mod, **dict(zip(names, xs))}  # with the helpers the script holds
        exec("\n".join(layer.call_code("m", names, "out")), scope)  # noqa: S102 - our own codegen
        return built, scope["out"]


def check_layer(layer, in_types):
    """None when the layer rejects the inputs statically (after checking that torch
    rejects them too); else its output type, after checking it against the real
    module's output."""
    try:
        out = layer.infer_many(in_types)
    except ShapeError as e:
        check_rejected(layer, in_types, e)
        return None
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


@dataclass(frozen=True)
class Refusal:
    """Inputs a shape rule refuses on purpose though torch runs them: the rule's message
    contains ``fragment``; ``examples`` names every layer concerned, each with parameters
    and input shapes that torch runs and the rule refuses (test_refusals_are_accurate
    runs each, so that no entry goes stale)."""

    fragment: str
    reason: str
    examples: dict


UNBATCHED = ("rank rules are strict where torch is lenient (docs/spec.md): torch takes an "
             "input one dimension short as one unbatched sample, so the batch would become "
             "the channels or the time steps")
PER_SAMPLE = "a layer acts on each sample: this would mix the samples of a batch"
REFUSALS = [
    Refusal("-D input", UNBATCHED, {
        "adaptive_avgpool1d": ({"output_size": 2}, [("N", 4)]),
        "adaptive_avgpool2d": ({"output_size": 2}, [("N", 3, 4)]),
        "adaptive_maxpool2d": ({"output_size": 2}, [("N", 3, 4)]),
        "avgpool1d": ({"kernel_size": 2}, [("N", 4)]),
        "avgpool2d": ({"kernel_size": 2}, [("N", 4, 4)]),
        "maxpool1d": ({"kernel_size": 2}, [("N", 4)]),
        "maxpool2d": ({"kernel_size": 2}, [("N", 4, 4)]),
        "maxpool3d": ({"kernel_size": 2}, [("N", 4, 4, 4)]),
        "avgpool3d": ({"kernel_size": 2}, [("N", 4, 4, 4)]),
        "adaptive_avgpool3d": ({"output_size": 2}, [("N", 3, 4, 4)]),
        "adaptive_maxpool1d": ({"output_size": 2}, [("N", 4)]),
        "adaptive_maxpool3d": ({"output_size": 2}, [("N", 3, 4, 4)]),
        "instancenorm2d": ({}, [("N", 3, 4)]),
        "rnn": ({"hidden_size": 2}, [("N", 3)]),
        "lstm": ({"hidden_size": 2}, [("N", 3)]),
        "gru": ({"hidden_size": 2}, [("N", 3)]),
        "multihead_attention": ({"num_heads": 1}, [("N", 4)]),
        "transformer_encoder_layer": ({"nhead": 1, "dim_feedforward": 8}, [("N", 4)]),
        "transformer_encoder": ({"nhead": 1, "dim_feedforward": 8}, [("N", 4)])}),
    Refusal("-D input", "torch only warns, and runs dropout2d on any rank (a 3-D input as one "
            "unbatched sample)", {"dropout2d": ({}, [("N", 3)])}),
    Refusal("-D input", "torch would broadcast the learned [1, L, D] tensor against the last "
            "two dimensions of a longer input, not its tokens",
            {"position_embedding": ({}, [("N", 2, 3, 2, 3)])}),
    Refusal("batch dimension", PER_SAMPLE, {
        "flatten": ({"start_dim": 0}, [("N", 3)]),
        "select": ({"dim": 0}, [("N", 3)]),
        "unflatten": ({"dim": 0, "sizes": [2, 5]}, [("N", 3)]),
        "concat": ({"dim": 0}, [("N", 3), ("N", 3)]),
        "stack": ({"dim": 0}, [("N", 3), ("N", 3)]),
        "permute": ({"dims": [1, 0, 2]}, [("N", 3, 4)]),
        "pad": ({"pad": [1, 1, 1, 1]}, [("N", 3)]),
        "glu": ({"dim": 0}, [("N", 3)]),
        "mean": ({"dim": 0}, [("N", 3)]),
        "max": ({"dim": [1, 0]}, [("N", 3)]),
        "sum": ({"dim": [0]}, [("N", 3)])}),
    Refusal("would stretch the batch", PER_SAMPLE + " (the output's shape would depend on the "
            "batch size)", {"add": ({}, [("N", 1, 3), ("N", 3)]),
                            "mul": ({}, [("N", 1, 3), ("N", 3)])}),
    Refusal("does nothing with num_layers=1", "torch only warns; the dropout would do nothing "
            "(docs/spec.md)", {n: ({"hidden_size": 2, "dropout": 0.5}, [("N", 4, 3)])
                               for n in ("rnn", "lstm", "gru")}),
    Refusal("one per spatial dimension", "a list gives one value per spatial dimension: torch "
            "stretches a one-item list for some arguments and layers (a stride, the pools) and "
            "not for others (conv2d's kernel_size)", {
                "conv2d": ({"out_channels": 2, "kernel_size": 1, "stride": [2]}, [("N", 3, 4, 4)]),
                "conv3d": ({"out_channels": 2, "kernel_size": 1, "padding": [1]}, [("N", 2, 3, 3, 3)]),
                "conv_transpose2d": ({"out_channels": 2, "kernel_size": 2, "dilation": [2]},
                                     [("N", 3, 4, 4)]),
                "avgpool2d": ({"kernel_size": [2]}, [("N", 3, 4, 4)]),
                "maxpool2d": ({"kernel_size": 2, "dilation": [2]}, [("N", 3, 5, 5)]),
                "maxpool3d": ({"kernel_size": [1]}, [("N", 1, 2, 2, 2)]),
                "avgpool3d": ({"kernel_size": [1]}, [("N", 1, 2, 2, 2)]),
                "conv_transpose3d": ({"out_channels": 2, "kernel_size": 2, "dilation": [2]},
                                     [("N", 3, 4, 4, 4)])}),
]


def torch_accepts(layer, in_types) -> bool:
    """Whether the registry's factory builds the module and its forward pass runs, on a
    batch of 10 (no drawn size is 10, so no clash is hidden by a coincidence of sizes)."""
    xs = [sample(t.shape, t.dtype, batch=10) for t in in_types]
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            if layer.functional:
                out = layer.apply(*xs)
            else:
                module = layer.ctor_many(in_types)
                out = layer.call(module().eval(), *xs)
    except ShapeError:
        raise  # specdl's own check inside the factory: it proves nothing about torch
    except Exception:  # noqa: BLE001 - any refusal by torch (or by the factory's import)
        return False
    # an output with a size of 0 (a transposed convolution's padding eating it all) is no
    # acceptance: depending on threads and backend torch refuses it or returns an empty
    # tensor, which no later layer can use
    outs = out if isinstance(out, (tuple, list)) else [out]
    return not any(isinstance(o, torch.Tensor) and 0 in o.shape[1:] for o in outs)


def refusal(layer, message: str) -> Refusal | None:
    """The REFUSALS entry that explains why the rule refuses, or None."""
    for r in REFUSALS:
        if layer.type_name in r.examples and r.fragment in message:
            return r
    return None


def check_rejected(layer, in_types, err):
    """A rule that refuses what torch runs is a bug, unless REFUSALS says why."""
    if refusal(layer, str(err)) is None and torch_accepts(layer, in_types):
        shapes = ", ".join(map(str, in_types))
        pytest.fail(f"{layer.type_name} {layer.canonical()}: the rule rejects {shapes} "
                    f"({err}) but torch runs it")


def draw_inputs(data, cls) -> list:
    """Input types for a layer: one shape, or several related ones (merges, attention)."""
    dtype = data.draw(st.sampled_from(cls.dtypes))
    shape, _ = data.draw(input_types(cls))
    n = data.draw(st.integers(cls.min_inputs, cls.max_inputs or 3))
    vocab = 10 if dtype == "int64" else None  # token ids carry their bound, as a named input's do (spec 12.3)
    return [TT(s, dtype, vocab) for s in data.draw(related_shapes(shape, n))]


@pytest.mark.parametrize("name", SINGLE + MERGES)
def test_shape_rule_matches_torch(name):
    """Drawn parameters, each tried on up to TRIES drawn inputs: an accepted input gives
    the module's real output shape, a rejected one is rejected by torch too. A share of
    the parameter draws must find an accepted input, so that a rule refusing everything
    fails (as would a strategy that draws misfits)."""
    cls = LAYERS[name]
    counts = Counter()

    @settings(SETTINGS, max_examples=EXAMPLES.get(name, SETTINGS.max_examples))
    @given(data=st.data())
    def prop(data):
        layer = make(cls, data.draw(params(cls)))
        for _ in range(TRIES):
            if check_layer(layer, draw_inputs(data, cls)) is not None:
                counts["accepted"] += 1
                return
        counts["rejected"] += 1

    with allowing_imports(True):  # `module:` layers import their (torch) targets
        prop()
    drawn = counts["accepted"] + counts["rejected"]
    assert counts["accepted"] >= MIN_SHARE * drawn, (
        f"{name}: {counts['accepted']} of {drawn} drawn parameter sets found an input the rule "
        f"accepts in {TRIES} tries: the rule refuses (almost) everything, or the strategy "
        "draws misfits (tests/strategies.py, the layer's `examples`)")


@pytest.mark.parametrize(("fragment", "name"), [(r.fragment, n) for r in REFUSALS for n in r.examples])
def test_refusals_are_accurate(fragment, name):
    """Each REFUSALS example: the rule refuses it with the entry's message, and torch runs
    it (an entry that torch now refuses, or that the rule now accepts, is stale)."""
    r = next(r for r in REFUSALS if r.fragment == fragment and name in r.examples)
    kwargs, shapes = r.examples[name]
    layer = LAYERS[name](**kwargs)
    in_types = [TT(s) for s in shapes]
    with pytest.raises(ShapeError, match=re.escape(fragment)):
        layer.infer_many(in_types)
    assert torch_accepts(layer, in_types), f"torch refuses the {name} example: the entry is stale"


# Shape-rule bugs this test found, each kept as an example: (layer, parameters, input
# shapes, the inferred output shape, or None where the rule and torch both refuse).
REGRESSIONS = [
    ("pad", {"pad": [1, 1], "mode": "reflect", "value": 2.0}, [("N", 3, 4)], None),
    ("pad", {"pad": [1, 2], "mode": "reflect"}, [("N", 5)], ("N", 8)),
    ("pad", {"pad": [1, 1, 2, 2], "mode": "replicate"}, [("N", 3, 4)], ("N", 7, 6)),
    ("pad", {"pad": [1, 1], "mode": "circular"}, [("N", 2, 3, 4)], None),
    ("add", {}, [("N", 2, 3), ("N", 3)], None),
    ("mul", {}, [("N", 1, 1, 4), ("N", 1, 4)], None),
    ("add", {}, [("N", 2, 3), ("N", 1, 3)], ("N", 2, 3)),
    ("layernorm", {"normalized_shape": 2}, [("N", 3)], None),
    ("layernorm", {"normalized_shape": [2, 3]}, [("N", 4, 3)], None),
    ("conv2d", {"out_channels": 2, "kernel_size": [3, 3, 3]}, [("N", 1, 5, 5)], None),
    ("conv3d", {"out_channels": 1, "kernel_size": 2, "padding": "same", "padding_mode": "reflect"},
     [("N", 1, 1, 1, 1)], None),
    ("conv3d", {"out_channels": 1, "kernel_size": 2, "padding": "same", "padding_mode": "reflect"},
     [("N", 1, 2, 2, 2)], ("N", 1, 2, 2, 2)),
    ("conv1d", {"out_channels": 1, "kernel_size": 3, "padding": 2, "padding_mode": "reflect"},
     [("N", 1, 2)], None),
    ("conv1d", {"out_channels": 1, "kernel_size": 3, "padding": 2, "padding_mode": "circular"},
     [("N", 1, 2)], ("N", 1, 4)),
    ("conv1d", {"out_channels": 1, "kernel_size": 1, "padding": 3, "padding_mode": "circular"},
     [("N", 1, 2)], None),
    ("conv2d", {"out_channels": 1, "kernel_size": 5, "padding": 3, "padding_mode": "replicate"},
     [("N", 1, 1, 1)], ("N", 1, 3, 3)),
    ("conv_transpose1d", {"out_channels": 3, "kernel_size": 1, "padding": 2}, [("N", 9, 4)], None),
    ("conv_transpose3d", {"out_channels": 1, "kernel_size": 4, "padding": 2}, [("N", 1, 1, 1, 1)], None),
    ("conv_transpose2d", {"out_channels": 1, "kernel_size": 4, "padding": 2}, [("N", 1, 1, 1)], None),
]


@pytest.mark.parametrize(("name", "kwargs", "shapes", "want"), REGRESSIONS)
def test_shape_rule_regressions(name, kwargs, shapes, want):
    out = check_layer(LAYERS[name](**kwargs), [TT(s) for s in shapes])
    assert (out.shape if out is not None else None) == want


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
