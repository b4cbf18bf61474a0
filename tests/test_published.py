"""The bundled published architectures, written in the spec language, against
torchvision: parameter counts to the unit, output shapes, multiply-adds as torch's
FlopCounterMode counts them, and a short training run."""

from __future__ import annotations

import json
import sys

import pytest
import torch
import torchvision
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import specdl

from .conftest import ROOT, run_cli


def vit_tiny():
    return torchvision.models.VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=3,
                                                hidden_dim=192, mlp_dim=768)


REFERENCE = {"mobilenet_v2": torchvision.models.mobilenet_v2, "vit_tiny": vit_tiny}


def counted_macs(model, x):
    """FlopCounterMode's count, halved. On the CPU it counts scaled_dot_product_attention
    as zero unless the math backend (plain matrix products) runs it."""
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc, torch.no_grad():
        model(x)
    return fc.get_total_flops() // 2


def count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_matches_torchvision(name):
    a = specdl.check(ROOT / "specs" / f"{name}.yaml")
    ours, theirs = specdl.build_model(a.spec).train(), REFERENCE[name]().train()
    assert a.graph.total_params() == count(ours) == count(theirs)
    x = torch.randn(1, 3, 224, 224)
    static = sum(n.macs() for n in a.graph.nodes)
    assert static == counted_macs(ours, x) == counted_macs(theirs, x)
    with torch.no_grad():
        assert ours.eval()(x).shape == theirs.eval()(x).shape == (1, 1000)


def test_sdpa_is_invisible_to_the_counter_without_the_math_backend():
    """Why the comparison above pins the math backend: with the CPU's fused kernel the
    counter misses the attention products, and specdl's (correct) count is higher."""
    a = specdl.check(ROOT / "specs" / "vit_tiny.yaml")
    model = specdl.build_model(a.spec).eval()
    x = torch.randn(1, 3, 224, 224)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(x)
    assert fc.get_total_flops() // 2 < sum(n.macs() for n in a.graph.nodes) == counted_macs(model, x)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_trains_on_tiny_synthetic_data(name, tmp_path):
    # 1000 classes need thousands of 224x224 samples to appear in every split: shrink
    head = {"mobilenet_v2": 19, "vit_tiny": 7}[name]
    over = ["data.shape=[3, 32, 32]", "data.classes=4", "data.size=32", f"model.layers.{head}={{linear: 4}}",
            "train.epochs=2", "train.device=cpu"]
    metrics, run = specdl.train(ROOT / "specs" / f"{name}.yaml", out=tmp_path / "r", overrides=over)
    assert json.loads((run / "report.json").read_text())["epochs_run"] == 2
    assert all(v == v for v in metrics.values())  # no NaN


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_check_does_not_import_torch(name):
    code = ("import sys, specdl; a = specdl.check(sys.argv[1]); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(a.graph.total_params())")
    import subprocess

    r = subprocess.run([sys.executable, "-c", code, f"specs/{name}.yaml"], cwd=ROOT, capture_output=True,
                       text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == {"mobilenet_v2": 3_504_872, "vit_tiny": 5_717_416}[name]
    cli = run_cli("check", f"specs/{name}.yaml")
    assert cli.returncode == 0 and "total" in cli.stdout, cli.stderr
