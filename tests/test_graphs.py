"""Random valid graphs (stacks, branches, merges, block calls with repeat): inferred
shapes equal the built module's, and build and codegen make the same model."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import specdl
from specdl.script.render import render

from .test_codegen import generated_model


@st.composite
def graphs(draw):
    width = {"input": 6}
    layers, prev = [], "input"
    for i in range(draw(st.integers(1, 8))):
        name = f"l{i}"
        choice = draw(st.sampled_from(["linear", "act", "norm", "add", "mul", "concat", "block"]))
        w = width[prev]
        same = [n for n, k in width.items() if k == w and n != prev]
        if choice == "linear":
            w = draw(st.integers(1, 9))
            layers.append({"linear": {"out_features": w, "name": name}})
        elif choice == "act":
            layers.append({"type": draw(st.sampled_from(["relu", "tanh", "gelu", "silu"])), "name": name})
        elif choice == "norm":
            layers.append({"layernorm": {"name": name}})
        elif choice in ("add", "mul") and same:
            other = draw(st.sampled_from(same))
            layers.append({choice: {"inputs": [prev, other], "name": name}})
        elif choice == "concat":
            other = draw(st.sampled_from(sorted(width)))
            w = w + width[other]
            layers.append({"concat": {"inputs": [prev, other], "name": name}})
        else:
            w = draw(st.integers(1, 9))
            layers.append({"mlp": {"w": w, "repeat": draw(st.integers(1, 2)), "name": name}})
        width[name] = w
        prev = name
    layers.append({"linear": {"out_features": 3, "name": "head"}})
    return {"name": "g", "data": {"source": "synthetic", "shape": [6], "classes": 3, "size": 16,
                                  "split": {"stratify": False}},  # 16 samples cannot stratify 3 classes
            "model": {"blocks": {"mlp": [{"linear": "$w"}, "relu", {"add": {"inputs": ["relu_1", "linear_0"]}}]},
                      "layers": layers}}


def graph_settings(n: int):
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@graph_settings(20)
@given(graphs())
def test_random_graph_shapes_and_codegen(d):
    shapes_and_codegen_agree(d)


@pytest.mark.slow
@graph_settings(200)
@given(graphs())
def test_many_random_graphs_shapes_and_codegen(d):
    shapes_and_codegen_agree(d)


def shapes_and_codegen_agree(d):
    """The inferred shapes are the built module's; codegen's model is build's, weight for weight."""
    a = specdl.check(d)
    model = specdl.build_model(a.spec).eval()
    seen = {}
    for name, mod in model.named_children():
        mod.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, tuple(o.shape)))
    x = torch.randn(4, 6)
    with torch.no_grad():
        out = model(x)
    for node in a.graph.nodes:
        if node.name in seen:
            assert seen[node.name] == (4, *node.out.shape[1:]), node.name
    assert tuple(out.shape) == (4, 3)
    Model = generated_model(render(a))
    torch.manual_seed(a.spec.seed)
    gen = Model().eval()
    assert list(gen.state_dict()) == list(model.state_dict())
    for k, v in model.state_dict().items():
        assert torch.equal(v, gen.state_dict()[k]), k
    with torch.no_grad():
        assert torch.equal(gen(x), out)
