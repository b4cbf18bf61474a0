"""ONNX export, verified: every bundled spec, built for one epoch, exports; the file
passes onnx.checker, and onnxruntime matches torch at another batch size."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import specdl

from .conftest import ROOT, per_spec, run_cli
from .test_codegen import SHORT


def sample(a, n) -> dict:
    """``n`` random samples of each of the graph's inputs (``input``, or the named inputs):
    token ids below their bound, floats otherwise."""
    def one(tt):
        shape = (n, *tt.shape[1:])
        return torch.randint(0, min(5, tt.vocab or 5), shape) if tt.dtype == "int64" else torch.randn(shape)

    return {name: one(tt) for name, tt in a.graph.sources.items()}


EXPORTED = sorted((ROOT / "specs").glob("*.yaml"))  # named inputs: one graph input each (spec 12.5)


@pytest.mark.parametrize("spec", per_spec(EXPORTED))
def test_build_exports_verified_onnx(spec, tmp_path):
    over = [*SHORT.get(spec.stem, []), "train.epochs=1", "export.onnx=true"]  # the published nets, smaller
    metrics, run = specdl.train(spec, out=tmp_path / "r", overrides=over)
    report = json.loads((run / "report.json").read_text())
    assert report["onnx"]["max_abs_diff"] <= 1e-4
    model_file = run / "model.onnx"
    onnx.checker.check_model(onnx.load(str(model_file)))
    loaded = specdl.load_run(run)
    x = sample(loaded.analysis, 5)  # the export traced a batch of 2
    got = ort.InferenceSession(str(model_file)).run(None, {k: v.numpy() for k, v in x.items()})
    with torch.no_grad():
        want = loaded.model(**x) if loaded.analysis.graph.named else loaded.model(x["input"])
    want = [w.numpy() for w in (want if isinstance(want, tuple) else [want])]  # several outputs: one per head
    assert len(got) == len(want) == len(loaded.analysis.heads or [0])
    assert all(g.shape == w.shape and np.abs(g - w).max() <= 1e-4 for g, w in zip(got, want))


@pytest.mark.slow  # subprocesses: seconds (the default suite stays under 5 minutes)
def test_export_cli_prints_the_difference(tmp_path):
    specdl.train(ROOT / "specs" / "iris_mlp.yaml", out=tmp_path / "r", overrides=["train.epochs=2"])
    r = run_cli("export", tmp_path / "r", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "onnx.checker passed" in r.stdout and "max |difference|" in r.stdout
    assert (tmp_path / "r" / "model.onnx").exists()


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_generated_script_exports_the_same_model(tmp_path):
    spec = specdl.load(ROOT / "specs" / "iris_mlp.yaml", ["train.epochs=5", "export.onnx=true"])
    _, run = specdl.train(spec, out=tmp_path / "r")
    (tmp_path / "s.py").write_text(specdl.codegen(spec))
    r = subprocess.run([sys.executable, "s.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    x = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    a = ort.InferenceSession(str(tmp_path / "iris-mlp.onnx")).run(None, {"input": x})[0]
    b = ort.InferenceSession(str(run / "model.onnx")).run(None, {"input": x})[0]
    assert np.abs(a - b).max() <= 1e-6


@pytest.mark.parametrize("case", ["missing", *(pytest.param(c, marks=pytest.mark.slow) for c in ("mismatch", "foreign", "old"))])
def test_export_and_predict_refuse_bad_runs(case, tmp_path):
    _, run = specdl.train(ROOT / "specs" / "iris_mlp.yaml", out=tmp_path / "r", overrides=["train.epochs=1"])
    if case == "missing":
        (run / "best.pt").unlink()
        want = "no checkpoint at"
    elif case == "foreign":
        (run / "spec.yaml").unlink()
        want = "is not a specdl run directory"
    elif case == "mismatch":
        other = specdl.build_model(ROOT / "specs" / "digits_cnn.yaml")
        torch.save(other.state_dict(), run / "best.pt")
        want = "does not match the spec's model"
    else:
        (run / "preprocess.json").unlink()
        want = "a run from an older specdl?"
    np.save(tmp_path / "x.npy", np.zeros((3, 4)))
    np.savez(tmp_path / "xy.npz", x=np.zeros((3, 4)), y=np.zeros(3, dtype=np.int64))
    for args in (["export", run], ["predict", run, "--input", tmp_path / "x.npy"],
                 ["evaluate", run, "--input", tmp_path / "xy.npz"], ["export", run, "--with-preprocessing"]):
        r = run_cli(*args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        if case != "old" or args[0] in ("predict", "evaluate") or args[-1] == "--with-preprocessing":
            assert len(lines) == 1 and want in lines[0], (args, r.stderr)


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_export_preflight_in_check(tmp_path):
    r = run_cli("check", "specs/iris_mlp.yaml", "--export", "onnx")
    assert r.returncode == 0 and "export preflight (onnx): 3 of 3 layers export" in r.stdout
    spec = tmp_path / "m.yaml"
    spec.write_text("data: {source: synthetic, shape: [4], classes: 2}\nexport: {onnx: true}\n"
                    "model: {layers: [{module: {target: torch.nn.Tanh}}, {linear: 2}]}\n")
    r = run_cli("check", spec, "--allow-import", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"{spec}:3:18: warning: model.layers[0] (module): ONNX export:" in r.stderr
    assert "1 of 2 layers export; see the warnings" in r.stdout
