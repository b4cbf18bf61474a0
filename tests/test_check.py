"""`specdl check`: the shape table, speed, and no torch (nor for codegen, nor for a refused run)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import specdl

from .conftest import ROOT, SPECS, run_cli

NO_TORCH = """
import sys
class NoTorch:  # `import torch` now raises ImportError (a None in sys.modules would read, to the
    def find_spec(self, name, path=None, target=None):  # scipy a CSV's stratified split loads, as torch there)
        if name.split(".")[0] == "torch":
            raise ImportError(f"{name} is blocked in this process")
sys.meta_path.insert(0, NoTorch())
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


# A CSV's named inputs are read, split and fitted (the text vocabulary, the categories) by the runtime's
# NumPy functions, as build fits them (spec 12.4): their check imports NumPy, and never torch
# (test_check_works_without_torch above)
CSV_INPUTS = [p for p in SPECS if "source: csv" in p.read_text() and "\n  inputs:" in p.read_text()]


def test_check_of_the_bundled_specs_imports_neither_numpy_nor_torch():
    """`check` reads what a source gives without loading it: no NumPy, no torch (each
    costs a tenth of a second or more of a check that takes half a second). A torchvision
    backbone is sized by a forward pass on the meta device, which needs torch."""
    code = ("import sys\nsys.modules['torch'] = sys.modules['numpy'] = None  # importing either raises\n"
            "from specdl.cli import main\n"
            "for spec in sys.argv[1:]:  # one process: imports made by one spec's check are there for the next\n"
            "    assert main(['check', spec]) == 0, spec\n")
    specs = [s for s in sorted((ROOT / "specs").glob("*.yaml")) if "torchvision:" not in s.read_text()
             and s not in CSV_INPUTS]
    assert len(specs) >= 10
    r = subprocess.run([sys.executable, "-c", code, *map(str, specs)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("\n") >= len(specs), r.stdout  # each check printed its table


def test_check_of_csv_inputs_imports_neither_torch_nor_scikit_learn(tmp_path):
    """CSV inputs are fitted on the train split in `check` (spec 12.4): the split is drawn
    in NumPy (runtime/splits.py:drawn_rows), and neither torch nor scikit-learn and scipy
    (a second and more of a check) is loaded for it."""
    spec = tmp_path / "reviews.yaml"
    spec.write_text(f"data: {{source: csv, path: {ROOT / 'tests/bad_specs/reviews.csv'}, target: label, "
                    "task: classification, split: {val: 0.2, test: 0.2, stratify: true},\n"
                    "       inputs: {review: {text: text, length: 8}, movie: {categorical: movie},\n"
                    "                stats: {numeric: [runtime, year], transforms: [{fill: median}, standardize]}}}\n"
                    "model:\n  layers:\n    - {embedding: 8, inputs: [review]}\n"
                    "    - {sequence_pool: {mode: mean}, inputs: [embedding_0, review]}\n"
                    "    - {embedding: 4, inputs: [movie], name: movie_enc}\n"
                    "    - {concat: {}, inputs: [sequence_pool_1, movie_enc, stats]}\n    - {linear: 2}\n")
    code = ("import sys\nfor m in ('torch', 'sklearn', 'scipy'):\n    sys.modules[m] = None  # importing it raises\n"
            "from specdl.cli import main\nsys.exit(main(['check', sys.argv[1]]))\n")
    r = subprocess.run([sys.executable, "-c", code, str(spec)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "review" in r.stdout and "vocabulary" in r.stdout, r.stdout


@pytest.mark.parametrize("spec", ["digits_cnn", "cifar_cnn", "reviews_multi"])
def test_codegen_does_not_import_torch(spec, tmp_path):
    """The script is text: codegen reads the runtime functions it copies from their files
    (specdl/script/runtime_source.py), an image folder's cache functions too."""
    out = tmp_path / "s.py"
    r = subprocess.run([sys.executable, "-c", NO_TORCH, "codegen", f"specs/{spec}.yaml", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert out.read_text() == (ROOT / "generated" / f"{spec}.py").read_text()


@pytest.mark.parametrize("text", ["data: {source: csv, path: nope.csv, target: y}\nmodel: {layers: [{linear: 1}]}\n",
                                  "data: {source: sklearn, dataset: iris}\nmodel: {layers: [{linear: 3}, {conv2d: 4}]}\n"])
def test_build_of_a_spec_that_does_not_check_loads_no_torch(text, tmp_path):
    """`specdl build` tells a spec's mistakes as check does, before torch is loaded (in a
    third of a second rather than the seconds torch takes)."""
    (tmp_path / "s.yaml").write_text(text)
    r = subprocess.run([sys.executable, "-c", NO_TORCH, "build", "s.yaml", "-q"], cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0].startswith("s.yaml:") and ": error: " in lines[0] and lines[-1] == "1 error", r.stderr


def test_backbone_without_torch_is_a_clear_error():
    r = subprocess.run([sys.executable, "-c", NO_TORCH, "check", "specs/resnet18_transfer.yaml"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "model.layers[0] (torchvision): sizing a torchvision backbone needs torch" in r.stderr


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_narrowed_schema_gives_the_same_spec(spec, monkeypatch):
    """check validates against a Spec class narrowed to the component types the spec
    uses (docs/performance.md); the full class must read it identically."""
    import specdl.front.validate as validation
    from specdl.front import schema

    narrowed = specdl.load(spec)
    assert type(narrowed) is not schema.spec_class()  # the fast path was taken
    monkeypatch.setattr(validation, "used_types", lambda data: None)  # spec_class(None): the full class
    full = specdl.load(spec)
    assert type(full) is schema.spec_class(heads=getattr(full.data, "targets", None) is not None)  # several outputs
    assert narrowed.model_dump() == full.model_dump() and narrowed.to_dict() == full.to_dict()
    assert narrowed == full and specdl.load(narrowed) is narrowed


def test_narrowed_schema_still_names_every_alternative(tmp_path):
    """A bad spec is re-read against the full class: the messages list every type."""
    (tmp_path / "s.yaml").write_text("data: {source: sklearn, dataset: iris}\n"
                                     "model:\n  layers:\n    - {type: linear, out_features: 3}\n"
                                     "    - {type: dense_layer}\n"
                                     "scheduler: {type: cosin}\n")
    with pytest.raises(specdl.SpecError) as e:
        specdl.load(tmp_path / "s.yaml")
    text = str(e.value)
    assert "model.layers[1]" in text or ":5:" in text, text
    assert "scheduler" in text and "cosine" in text, text  # did-you-mean from the full registry


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


@pytest.mark.parametrize("key", ["model.layers.0.linear", "model.layers.0.out_features",
                                 "model.layers.0.linear.out_features"])
def test_an_override_may_name_a_layer_as_the_spec_writes_it(key):
    """`- linear: 16` is set by `model.layers.0.linear=32` (its short form), by the
    argument's name, or by both; every spelling reaches the same layer."""
    a = specdl.check(ROOT / "specs" / "iris_mlp.yaml", [f"{key}=32"])
    assert list(a.graph.nodes[0].out.shape) == ["N", 32]


@pytest.fixture(scope="module")
def run_without_weights(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    specdl.train(ROOT / "specs" / "iris_mlp.yaml", out=out, overrides=["train.epochs=1", "train.device=cpu"])
    (out / "best.pt").unlink()
    return out


@pytest.mark.parametrize("verb", [["export"], ["export", "--with-preprocessing"], ["predict", "--input", "x.npy"],
                                  ["evaluate", "--input", "x.npy"]], ids=lambda v: " ".join(v))
def test_a_run_without_weights_is_refused_before_torch_is_imported(verb, run_without_weights, tmp_path):
    """A missing checkpoint is found by looking, not by loading: one line, at once."""
    import numpy as np

    np.save(tmp_path / "x.npy", np.zeros((2, 4)))
    r = subprocess.run([sys.executable, "-c", NO_TORCH, verb[0], str(run_without_weights), *verb[1:]],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [f"specdl: error: no checkpoint at {run_without_weights}/best.pt"]
