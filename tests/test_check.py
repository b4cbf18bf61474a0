"""`specdl check`: the shape table, speed, and no torch."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from .conftest import ROOT, SPECS, run_cli

NO_TORCH = """
import sys
sys.modules["torch"] = None          # `import torch` now raises ImportError
from specdl.cli import main
code = main(sys.argv[1:])
assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None], "torch was imported"
sys.exit(code)
"""


def test_digits_table():
    r = run_cli("check", "specs/digits_cnn.yaml")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for name, typ, shape, params in [("conv2d_0", "conv2d", "[N, 10, 7, 7]", "50"),
                                     ("maxpool2d_5", "maxpool2d", "[N, 20, 1, 1]", "0"),
                                     ("linear_8", "linear", "[N, 50]", "1,050"),
                                     ("log_softmax_11", "log_softmax", "[N, 10]", "0")]:
        assert any(ln.split() == [name, typ, *shape.split(), params] for ln in out.splitlines()), name
    rows = [ln for ln in out.splitlines() if ln.strip().startswith(("conv", "relu", "max", "drop",
                                                                    "flat", "lin", "log"))]
    assert rows[-1].split()[2:4] == ["[N,", "10]"]
    assert "output [N, 10]" in out


# A torchvision backbone is sized by a forward pass on torch's meta device (docs/spec.md).
PURE = [p for p in SPECS if "torchvision" not in p.read_text()]


@pytest.mark.parametrize("spec", PURE, ids=[p.stem for p in PURE])
def test_check_works_without_torch(spec):
    r = subprocess.run([sys.executable, "-c", NO_TORCH, "check", str(spec)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "total" in r.stdout


def test_backbone_without_torch_is_a_clear_error():
    r = subprocess.run([sys.executable, "-c", NO_TORCH, "check", "specs/resnet18_transfer.yaml"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "model.layers[0] (torchvision): sizing a torchvision backbone needs torch" in r.stderr


def test_check_is_fast():
    """Acceptance: under 0.5 s wall for the digits spec (median of 3, whole process)."""
    times = []
    for _ in range(3):
        t = time.perf_counter()
        r = run_cli("check", "specs/digits_cnn.yaml")
        times.append(time.perf_counter() - t)
        assert r.returncode == 0
    assert sorted(times)[1] < 0.5, times


def test_print_shows_canonical_form():
    r = run_cli("check", "specs/iris_mlp.yaml", "--print")
    assert r.returncode == 0
    assert "type: linear" in r.stdout and "out_features: 16" in r.stdout


def test_overrides_reach_the_table():
    r = run_cli("check", "specs/iris_mlp.yaml", "-o", "model.layers.0.out_features=32")
    assert r.returncode == 0, r.stderr
    assert "[N, 32]" in r.stdout


def test_bad_override_is_located():
    r = run_cli("check", "specs/iris_mlp.yaml", "-o", "train.epochs=zero")
    assert r.returncode == 2
    assert r.stderr.startswith("<override 1: train.epochs=zero>:1:")
    assert "train.epochs: must be a whole number" in r.stderr


def test_nll_without_log_softmax_warns():
    r = run_cli("check", "specs/digits_cnn.yaml", "-o", "model.layers.11=identity")
    assert r.returncode == 0
    assert "warning: model.layers[11] (identity): nll expects log-probabilities" in r.stderr
