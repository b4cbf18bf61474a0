"""`specdl summary`: costs from the shape rules, checked against torch's own counter."""

from __future__ import annotations

import time

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import specdl

from .conftest import ROOT, run_cli


def total_macs(a):
    return sum(n.macs() for n in a.graph.nodes)


def counted_macs(model, x):
    with FlopCounterMode(display=False) as fc:
        model(x)
    return fc.get_total_flops() / 2


def test_resnet18_macs_within_one_percent():
    spec = {"name": "r18", "data": {"source": "synthetic", "shape": [3, 224, 224], "classes": 1000,
                                    "split": {"stratify": False}},
            "model": {"layers": [{"torchvision": {"model": "resnet18"}}]}}
    a = specdl.check(spec)
    ours = total_macs(a)
    theirs = counted_macs(specdl.build_model(spec).eval(), torch.randn(1, 3, 224, 224))
    assert ours == pytest.approx(theirs, rel=0.01)
    assert a.graph.total_params() == 11_689_512  # torchvision's documented count


@pytest.mark.parametrize("name", ["resnet_small", "digits_cnn", "unet_small", "transformer_classifier"])
def test_shape_rule_macs_match_flop_counter(name):
    """Multiply-adds are those of convolutions, matrix products and attention, as
    torch's FlopCounterMode counts them (pooling and normalisation are not counted)."""
    a = specdl.check(ROOT / "specs" / f"{name}.yaml")
    # train mode: in eval, torch runs a fused transformer kernel the counter cannot see
    model = specdl.build_model(a.spec).train()
    inp = a.graph.input
    x = torch.randint(0, 5, (1, *inp.shape[1:])) if inp.dtype == "int64" else torch.randn(1, *inp.shape[1:])
    assert total_macs(a) == pytest.approx(counted_macs(model, x), rel=0.01)


def test_sizes_a_huge_model_without_allocating():
    spec = {"name": "huge", "data": {"source": "synthetic", "shape": [65536], "outputs": 1},
            "model": {"layers": [{"linear": 65536}, "relu", {"linear": 65536}, "relu", {"linear": 1}]},
            "loss": "mse"}
    t = time.perf_counter()
    a = specdl.check(spec)
    params = a.graph.total_params()
    assert time.perf_counter() - t < 0.5
    assert params == 2 * 65536 * 65536 + 2 * 65536 + 65536 + 1  # 8.6 billion


def test_summary_cli():
    r = run_cli("summary", "specs/digits_cnn.yaml", "--batch", "32")
    assert r.returncode == 0, r.stderr
    assert "MACs" in r.stdout and "activations" in r.stdout
    assert "parameters: 2,430" in r.stdout


def test_summary_notes_how_attention_is_counted(cli):
    r = cli("summary", ROOT / "specs" / "transformer_classifier.yaml")
    assert r.returncode == 0 and "scaled_dot_product_attention" in r.stdout, r.stderr
    r = cli("summary", ROOT / "specs" / "iris_mlp.yaml")
    assert r.returncode == 0 and "scaled_dot_product_attention" not in r.stdout
