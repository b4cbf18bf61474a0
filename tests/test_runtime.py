"""One runtime: the training loop's functions live once, in specdl/runtime/, and build
calls them while every generated script contains them as their own source. Build and
the script then agree to 1e-6 over the training options (a matrix run on the CPU)."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as search_settings
from hypothesis import strategies as st

import specdl
from specdl.components.base import REGISTRY
from specdl.components.trust import HELPERS
from specdl.runtime import loop, metrics, prepare, settings
from specdl.runtime.splits import split_rows
from specdl.script.modelcode import ModelWriter
from specdl.script.render import runtime_functions

from .conftest import ROOT

SCRIPT_GLOBALS = {"torch", "math", "np", "nullcontext", "dataclass", "os", "warnings"}



def definitions(code: str) -> dict:
    return {n.name: ast.dump(n) for n in ast.parse(code).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


@pytest.mark.parametrize("path", sorted((ROOT / "generated").glob("*.py")), ids=lambda p: p.stem)
def test_each_runtime_function_in_a_script_is_the_package_source(path):
    """Every function a script holds besides the model's classes is the package's own
    source, and the script holds every runtime function its spec needs."""
    a = specdl.check(ROOT / "specs" / f"{path.stem}.yaml")
    script = definitions(path.read_text())
    held = [(n, inspect.unwrap(getattr(importlib.import_module(m), n))) for m, n in runtime_functions(a)]  # lru_cache
    wanted = [f for _, f in held if inspect.isfunction(f) or inspect.isclass(f)]
    constants = [n for n, f in held if not (inspect.isfunction(f) or inspect.isclass(f))]  # e.g. text's WORD
    assert all(f"\n{n} = " in path.read_text() for n in constants), constants
    for f in wanted:
        own = definitions(inspect.getsource(f))
        assert script.get(f.__name__) == own[f.__name__], f"{path.name}: {f.__name__} differs from specdl's"
    model_classes = {c["name"] for c in ModelWriter(definitions=dict(a.spec.model.blocks)).model(a.graph)}
    helpers = {n for _, names in HELPERS.values() for n in names}  # what scripts hold of specdl/runtime for them
    extra = set(script) - {f.__name__ for f in wanted} - model_classes - helpers
    assert not extra, f"{path.name} defines {sorted(extra)}, which are neither the model nor specdl's runtime"


def test_image_runtime_functions_in_a_script_are_the_package_source():
    """The cached image folders' functions (specdl/runtime/images.py), where a script has them."""
    from specdl.runtime import images

    having = [p for p in sorted((ROOT / "generated").glob("*.py")) if "def image_cache(" in p.read_text()]
    assert {p.stem for p in having} >= {"cifar_cnn", "resnet18_transfer"}
    for path in having:
        script = definitions(path.read_text())
        held = [f for f in images.SCRIPT_FUNCTIONS if f.__name__ in script]  # those it reads
        assert {"image_folder", "folder_splits", "cache_reader", "image_batches", "image_chunks"} <= {
            f.__name__ for f in held}, path.name
        for f in held:
            assert script[f.__name__] == definitions(inspect.getsource(f))[f.__name__], (path.name, f.__name__)


def free_names(f, names) -> set:
    """The names a function reads that neither it, ``names`` nor the builtins bind."""
    tree = ast.parse(inspect.getsource(f))
    bound = {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
    bound |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    bound |= {a.asname or a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
              for a in n.names}
    bound |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ExceptHandler)) and n.name}
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return read - bound - names - set(dir(builtins))


def test_image_runtime_functions_read_only_what_a_script_has():
    from specdl.runtime import images

    names = {f.__name__ for f in images.SCRIPT_FUNCTIONS}
    for f in images.SCRIPT_FUNCTIONS:
        free = free_names(f, names)
        assert free <= {"torch", "np", "os", "json", "hashlib", "functools", "Path", "Image"}, (f.__name__, free)


def every_runtime_function():
    fns = {f for t in REGISTRY["transform"].values() for f in t.functions if f is not None}
    return [*loop.SCRIPT_FUNCTIONS, *loop.BINARY_FUNCTIONS, *loop.PER_TARGET_FUNCTIONS, *loop.SCORE_FUNCTIONS, *metrics.EPOCH_SCORE_FUNCTIONS, split_rows,
            *prepare.PREPARE_FUNCTIONS, prepare.FitError, prepare.fit_transforms, prepare.one_hot, prepare.invert,
            settings.make_deterministic,
            *sorted(fns, key=lambda f: f.__name__)]


@pytest.mark.parametrize("f", every_runtime_function(), ids=lambda f: f.__name__)
def test_runtime_functions_read_only_what_a_script_has(f):
    names = {g.__name__ for g in every_runtime_function()} | {"MISSING"}  # present_classes' warning
    free = free_names(f, names)
    assert free <= SCRIPT_GLOBALS, (f.__name__, free - SCRIPT_GLOBALS)


# ----------------------------------------------------------------- build == script
SCHEDULERS = {"step": {"step_size": 1, "gamma": 0.5}, "multistep": {"milestones": [1, 2]}, "cosine": {},
              "exponential": {"gamma": 0.9}, "warmup": {"epochs": 2}, "onecycle": {"max_lr": 0.01},
              "reduce_on_plateau": {"patience": 1}}
OPTIONS = [["train.early_stopping.patience=1"], ["train.grad_clip=0.5"], ["train.accumulate=3"],
           ["train.precision=bf16"], ["seed=3"], ["seed=7", "train.grad_clip=1.0", "train.accumulate=2"]]
SPEC_OF = ["iris_mlp", "diabetes_mlp", "digits_cnn"]
# one case in the default run (diabetes_mlp, a sklearn source, with an exponential schedule and
# grad_clip: the suite's time); CI's slow run takes every scheduler
DEFAULT_SCHEDULERS = ("exponential",)


def matrix():
    assert set(SCHEDULERS) == set(REGISTRY["scheduler"]), "a new scheduler needs its arguments here"
    for i, (name, args) in enumerate(sorted(SCHEDULERS.items())):
        spec = SPEC_OF[i % len(SPEC_OF)]
        yield pytest.param(spec, [f"scheduler={json.dumps({name: args})}", "train.epochs=3", *OPTIONS[i % len(OPTIONS)]],
                           id=f"{spec}-{name}-{'-'.join(OPTIONS[i % len(OPTIONS)])}",
                           marks=() if name in DEFAULT_SCHEDULERS else pytest.mark.slow)


def build_and_script(spec, over, tmp_path, cwd=None):
    cwd = cwd or tmp_path
    built, build_and_script.run_dir = specdl.train(spec, out=tmp_path / "run", overrides=over)
    (cwd / "script.py").write_text(specdl.codegen(specdl.load(spec, over)))
    r = subprocess.run([sys.executable, "script.py"], cwd=cwd, capture_output=True, text=True, timeout=300,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""})
    assert r.returncode == 0, r.stderr[-2000:]
    return built, json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("spec", "over"), list(matrix()))
def test_build_equals_script_over_training_options(spec, over, tmp_path):
    built, script = build_and_script(ROOT / "specs" / f"{spec}.yaml", [*over, "train.device=cpu"], tmp_path)
    assert list(script) == list(built)
    for k in built:
        assert script[k] == pytest.approx(built[k], abs=1e-6), k


def sources(tmp_path):
    """Each in-memory data source, with a small file where it reads one."""
    import csv

    rng = np.random.default_rng(0)
    with open(tmp_path / "t.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "colour", "label"])
        for i in range(60):
            w.writerow([round(float(rng.normal()), 3), i % 7, "rgb"[i % 3], "yn"[i % 2]])
    x = rng.normal(size=(60, 5)).astype(np.float32)  # not float64: the script converts it as build does
    x[rng.random(x.shape) < 0.1] = np.nan
    np.savez(tmp_path / "t.npz", x=x, y=rng.normal(size=(60, 2)))
    np.savez(tmp_path / "m.npz", x=rng.normal(size=(60, 6)), y=(rng.random((60, 3)) < 0.5).astype(np.int64))
    return {
        "csv": {"source": "csv", "path": str(tmp_path / "t.csv"), "target": "label", "categorical": ["colour"]},
        "npz": {"source": "npz", "path": str(tmp_path / "t.npz"), "x": "x", "y": "y",
                "transforms": [{"fill": "median"}, "minmax", "standardize"],
                "target_transforms": ["minmax", "standardize"]},  # inverted last first
        "multilabel": {"source": "npz", "path": str(tmp_path / "m.npz"), "task": "multilabel",
                       "transforms": [{"reshape": [2, 3]}, {"fill": 0.5}]},
        "sklearn": {"source": "sklearn", "dataset": "make_moons", "params": {"n_samples": 80, "noise": 0.2}},
        "linnerud": {"source": "sklearn", "dataset": "linnerud", "transforms": ["standardize"],  # per-target metrics
                     "target_transforms": ["minmax"]},
        "synthetic": {"source": "synthetic", "shape": [12], "dtype": "int64", "high": 20, "classes": 2, "size": 120,
                      "split": {"stratify": False}},
    }


# the default suite builds a csv source here and a sklearn one over training options above;
# CI's slow run every source (each trains ~4 s)
@pytest.mark.parametrize("source", ["csv", *(pytest.param(s, marks=pytest.mark.slow)
                                            for s in ("npz", "sklearn", "multilabel", "linnerud", "synthetic"))])
def test_build_equals_script_for_each_source(source, tmp_path):
    """Each in-memory source, and every tabular transform (fitted, applied, inverted)."""
    from specdl.sources import SOURCES

    data = sources(tmp_path)[source]
    width = 3 if source in ("multilabel", "linnerud") else 2
    layers = ([{"embedding": {"num_embeddings": 20, "embedding_dim": 4}}, "flatten", {"linear": 2}]
              if source == "synthetic" else ["flatten", {"linear": 8}, "relu", {"linear": width}])
    spec = {"name": f"src-{source}", "seed": 1, "data": data, "model": {"layers": layers},
            "train": {"epochs": 2, "batch_size": 16, "device": "cpu"}}
    built, script = build_and_script(spec, [], tmp_path)
    assert list(script) == list(built)
    for k in built:
        assert script[k] == pytest.approx(built[k], abs=1e-6), k
    assert {"csv", "npz", "sklearn", "synthetic", "image_folder", "torchvision"} == set(SOURCES)  # image ones: test_codegen
    assert_script_predicts_as_the_run(spec, build_and_script.run_dir, tmp_path, raw_rows(source, tmp_path))


def raw_rows(source, tmp_path):
    """Raw inputs as a user holds them: the CSV's rows as dicts of text, else arrays."""
    import csv

    rng = np.random.default_rng(5)
    if source == "csv":
        with open(tmp_path / "t.csv", newline="") as f:
            return list(csv.DictReader(f))[:9]
    if source in ("npz", "multilabel"):
        return np.load(tmp_path / ("t.npz" if source == "npz" else "m.npz"))["x"][:9]  # NaNs filled by the run
    if source == "synthetic":
        return rng.integers(0, 20, (9, 12))
    return rng.normal(size=(9, 2 if source == "sklearn" else 3))


def assert_script_predicts_as_the_run(spec: dict, run_dir, cwd, raw):
    """The script's <name>.preprocess.json is the run's preprocess.json, and predicting
    raw inputs from the script's outputs (spec, checkpoint, preprocessing) gives the run's
    predictions."""
    name = spec["name"]
    script_pre = json.loads((cwd / f"{name}.preprocess.json").read_text())
    assert script_pre == json.loads((run_dir / "preprocess.json").read_text())
    (cwd / "spec.yaml").write_text(json.dumps(spec))
    got = specdl.predict(None, raw, spec=cwd / "spec.yaml", checkpoint=cwd / f"{name}.best.pt",
                         preprocess=cwd / f"{name}.preprocess.json")
    want = specdl.predict(run_dir, raw)
    assert list(got) == list(want) and len(want["prediction"]) == len(raw)
    for k in want:  # class names (and target names) equal, numbers to 1e-6
        if np.asarray(want[k]).dtype.kind in "biuf":
            assert np.allclose(np.asarray(got[k]), np.asarray(want[k]), atol=1e-6), k
        else:
            assert list(got[k]) == list(want[k]), k


@search_settings(max_examples=60, deadline=None)
@given(st.sampled_from(["accuracy", "mse", "mae"]), st.integers(1, 40), st.sampled_from([(), (1,), (3,)]),
       st.integers(0, 2**31 - 1))
def test_epoch_metrics_equal_scikit_learns_to_the_bit(name, n, tail, seed):
    """Validation each epoch takes the quick numpy forms; the run's metrics (and the test
    split's) stay scikit-learn's: the two must be the same float."""
    from sklearn import metrics as skm

    rng = np.random.default_rng(seed)
    if name == "accuracy":  # class labels, or multilabel 0/1 rows
        y_true, y_pred = (rng.integers(0, 2 if tail else 4, (n, *tail)) for _ in range(2))
        if tail == (1,):
            y_true, y_pred = y_true[:, 0], y_pred[:, 0]
        ref = skm.accuracy_score(y_true, y_pred)
    else:
        y_true, y_pred = (rng.standard_normal((n, *tail)) * 50 for _ in range(2))
        ref = {"mse": skm.mean_squared_error, "mae": skm.mean_absolute_error}[name](y_true, y_pred)
    got = metrics.epoch_metric(name, None)(y_true, y_pred)
    assert float(got) == float(ref), (name, got, ref)
    assert metrics.epoch_metric("f1", "sklearn's") == "sklearn's"  # the others: the function given
