"""User layers: register_layer and `module:` behave exactly like built-in layers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import specdl
from specdl.errors import RunError, SpecError

from .conftest import ROOT, run_cli


@pytest.fixture
def scale_layer():
    def shape(p, x):
        if p.times > 8:
            raise ValueError(f"times={p.times} is too many")
        return (*x.shape[:-1], x.shape[-1] * p.times)

    cls = specdl.register_layer(
        "scale", params={"times": (int, 1)}, primary="times", shape=shape,
        module="tests.custom_layers.Scale",
        args=lambda p, x: {"features": x.shape[-1], "times": p.times},
        doc="Learned per-feature scale, features repeated `times` times.")
    yield cls
    specdl.unregister_layer("scale")


SPEC = {"name": "ext", "data": {"source": "sklearn", "dataset": "iris"},
        "model": {"layers": [{"linear": 8}, {"scale": 2}, "relu", {"linear": 3}]}}


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_registered_layer_everywhere(scale_layer, tmp_path, monkeypatch):
    assert specdl.infer_shapes(SPEC)["scale_1"] == ("N", 16)
    model = specdl.build_model(SPEC)
    assert model(torch.randn(4, 4)).shape == (4, 3)
    assert "scale_1.scale" in model.state_dict()
    # errors are located like a built-in's
    with pytest.raises(SpecError, match=r"model.layers\[1\] \(scale\): times=9 is too many"):
        specdl.check({**SPEC, "model": {"layers": [{"linear": 8}, {"scale": 9}, {"linear": 3}]}})
    with pytest.raises(SpecError, match=r"unknown argument `time`; did you mean `times`"):
        specdl.check({**SPEC, "model": {"layers": [{"scale": {"time": 2}}, {"linear": 3}]}})
    # codegen: the script imports the user's module and reproduces build
    code = specdl.codegen(SPEC)
    assert "import tests.custom_layers" in code
    assert "tests.custom_layers.Scale(features=8, times=2)" in code
    metrics, _ = specdl.train(SPEC, out=tmp_path / "run", overrides=["train.epochs=3"])
    (tmp_path / "s.py").write_text(specdl.codegen(specdl.load(SPEC, ["train.epochs=3"])))
    r = subprocess.run([sys.executable, "s.py"], cwd=tmp_path, capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == pytest.approx(metrics, abs=1e-6)


def test_module_layer(tmp_path):
    spec = {**SPEC, "model": {"layers": [{"linear": 8},
                                         {"module": {"target": "tests.custom_layers.Scale", "features": 8,
                                                     "times": 3}},
                                         {"linear": 3}]}}
    a = specdl.check(spec, allow_import=True)
    assert a.graph.nodes[1].out.shape == ("N", 24) and a.graph.nodes[1].params() == 8
    with pytest.raises(SpecError, match="only with --allow-import"):
        specdl.check(spec)
    with pytest.raises((SpecError, RunError), match="only with --allow-import"):
        specdl.build_model(spec)
    m = specdl.build_model(spec, allow_import=True)
    assert m(torch.randn(2, 4)).shape == (2, 3)
    assert "tests.custom_layers.Scale(features=8, times=3)" in specdl.codegen(spec, allow_import=True)


def test_check_never_imports_user_code(tmp_path):
    """Without --allow-import, `specdl check` does not import what `module:` names."""
    mod = tmp_path / "evil_pkg.py"
    mod.write_text("open(__file__ + '.imported', 'w').write('yes')\nimport torch.nn as nn\nThing = nn.Identity\n")
    spec = tmp_path / "s.yaml"
    spec.write_text("data: {source: synthetic, shape: [4], classes: 2}\n"
                    "model: {layers: [{module: {target: evil_pkg.Thing}}, {linear: 2}]}\n")
    r = run_cli("check", spec, cwd=tmp_path, env={"PYTHONPATH": f"{ROOT}:{tmp_path}"})
    assert r.returncode == 2 and "--allow-import" in r.stderr
    assert not (tmp_path / "evil_pkg.py.imported").exists()
    r = run_cli("check", spec, "--allow-import", cwd=tmp_path, env={"PYTHONPATH": f"{ROOT}:{tmp_path}"})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "evil_pkg.py.imported").exists()
