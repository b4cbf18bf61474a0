"""Codegen: golden files kept current, standalone scripts, and build == codegen
(same state_dict at initialisation, same test metrics)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest
import torch

import specdl
from specdl.script.render import render

from .conftest import ROOT, SPECS, per_spec


def spec_id(p):
    return p.stem


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_generated_file_is_current(spec, monkeypatch):
    """In process (the command line's codegen has its own tests: test_cli_options, test_check):
    a subprocess per spec cost the default suite seconds, resnet18_transfer's alone 9 s of
    importing torchvision to size its backbone."""
    monkeypatch.chdir(ROOT)  # the script's header names the spec as given, relative to the root
    golden = ROOT / "generated" / f"{spec.stem}.py"
    assert golden.exists(), f"run: specdl codegen specs/{spec.name} --out generated/{spec.stem}.py"
    assert specdl.codegen(str(spec.relative_to(ROOT))) == golden.read_text(), \
        f"regenerate: specdl codegen specs/{spec.name} --out {golden.relative_to(ROOT)}"


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_generated_script_is_standalone_and_clean(spec):
    code = (ROOT / "generated" / f"{spec.stem}.py").read_text()
    tree = ast.parse(code)
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module.split(".")[0])
    text = {"collections", "itertools", "re", "sys"}  # the text runtime's stdlib (spec 12.2; sys: the csv field limit)
    # warnings: several outputs restate a head's metric warning naming its target (runtime/heads.py)
    assert modules <= {"contextlib", "csv", "warnings", "dataclasses", "functools", "gc", "hashlib", "json", "math", "os",
                       "pathlib", "numpy", "torch", "torchvision", "PIL", "sklearn", *text}, modules
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated",
                        "--select", "E,F,W,I", "--line-length", "120", "-"],
                       input=code, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def generated_model(code: str):
    """Exec only the generated imports, classes and functions (not the training)."""
    tree = ast.parse(code)
    keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef))]
    ns: dict = {}
    exec(compile(ast.Module(keep, []), "<generated>", "exec"), ns)  # noqa: S102 - our output
    return ns["Model"]


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_same_initial_weights(spec):
    s = specdl.load(spec)
    built = specdl.build_model(s)
    Model = generated_model(render(specdl.check(s)))
    torch.manual_seed(s.seed)
    gen = Model()
    a, b = built.state_dict(), gen.state_dict()
    assert list(a) == list(b)
    for k in a:
        assert a[k].shape == b[k].shape and torch.equal(a[k], b[k]), k
    xs = {k: (torch.randint(0, 2, (5, *t.shape[1:])) if t.dtype == "int64" else torch.randn(5, *t.shape[1:]))
          for k, t in specdl.check(s).graph.sources.items()}  # `input`, or each named input (forward's keywords)
    built.eval(), gen.eval()
    with torch.no_grad():
        outs = [m(*xs.values()) if list(xs) == ["input"] else m(**xs) for m in (built, gen)]
    a, b = (o if isinstance(o, tuple) else (o,) for o in outs)  # several outputs: a tensor per head
    assert len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


# the heavier specs, shortened (the equivalence does not depend on the length)
SHORT = {"resnet_small": ["train.epochs=1", "data.size=128"], "unet_small": ["train.epochs=1"],
         "resnet18_transfer": ["train.epochs=1"],
         **{k: ["train.epochs=1", "data.shape=[3, 32, 32]", "data.classes=4", "data.size=32",
                f"model.layers.{i}={{linear: 4}}"] for k, i in (("mobilenet_v2", 19), ("vit_tiny", 7))}}


# every spec under `slow`: the default run's build == script on iris_mlp and digits_cnn is
# tests/test_runtime.py's matrix (each with a scheduler and training options)
@pytest.mark.parametrize("spec", per_spec(fast=()))
def test_script_reproduces_build_metrics(spec, tmp_path):
    """Short runs of every bundled spec: the generated script's test metrics equal
    specdl build's (same seed, CPU). Build and codegen run in process here (the CLI has
    its own tests); the script runs as the standalone program it is."""
    assert_script_reproduces_build(spec, tmp_path, SHORT.get(spec.stem, ["train.epochs=2"]))


def assert_script_reproduces_build(spec, tmp_path, over=()):
    """Build (in process) and the generated script (as the standalone program it is) give
    the same test metrics; build's run directory."""
    built, run = specdl.train(spec, out=tmp_path / "run", overrides=list(over))
    (tmp_path / "script.py").write_text(specdl.codegen(specdl.load(spec, list(over))))
    r = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""})
    assert r.returncode == 0, r.stderr
    script = json.loads(r.stdout.strip().splitlines()[-1])
    assert list(script) == list(built)
    for k in built:
        assert script[k] == pytest.approx(built[k], abs=1e-6), k
    name = specdl.load(spec, list(over)).name  # the script's fitted preprocessing is the run's, to the byte
    assert (tmp_path / f"{name}.preprocess.json").read_text() == (run / "preprocess.json").read_text()
    return run
