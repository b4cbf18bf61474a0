"""Named inputs on arrays (issue 29 part A, spec 12.1-12.6): `data.inputs` of the synthetic and
npz sources are the model graph's sources, through check, build and codegen alike.

Drawn multi-input graphs (synthetic inputs) go through check, `build_model` (the forward's
shape is the inferred one) and codegen (the script's `Model`, imported in this process, has
build's state_dict and outputs); under `-m fuzz` whole scripts train and equal build."""

from __future__ import annotations

import copy
import importlib.util
import inspect
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import specdl
from specdl.errors import RunError, SpecError
from specdl.runtime.inputs import Inputs

from .conftest import run_cli

TWO = {"name": "two", "seed": 3,
       "data": {"source": "synthetic", "classes": 3, "size": 96,
                "inputs": {"price": {"shape": [4]}, "ids": {"shape": [5], "dtype": "int64", "high": 12}}},
       "model": {"layers": [{"linear": {"out_features": 8, "inputs": ["price"], "name": "p"}},
                            {"embedding": {"num_embeddings": 12, "embedding_dim": 3, "inputs": ["ids"]}},
                            "flatten", {"concat": {"inputs": ["p", "flatten_2"]}}, "relu", {"linear": 3}]},
       "train": {"epochs": 3, "batch_size": 16, "device": "cpu"}}


def spec_of(**changes) -> dict:
    spec = copy.deepcopy(TWO)
    for key, value in changes.items():
        *parents, last = key.split("__")
        node = spec
        for p in parents:
            node = node[p]
        node[last] = value
    return spec


def errors(spec: dict) -> list[str]:
    with pytest.raises(SpecError) as e:
        specdl.check(spec)
    return [f"{'.'.join(map(str, i.path))}: {i.message}" for i in e.value.issues]


# ---------------------------------------------------------------- check
def test_check_gives_each_input_its_type_and_the_graph_its_sources():
    a = specdl.check(TWO)
    assert {k: (t.shape, t.dtype) for k, t in a.graph.sources.items()} == {
        "price": (("N", 4), "float32"), "ids": (("N", 5), "int64")}
    assert a.graph.named and list(a.graph.sources) == ["price", "ids"]  # the mapping's order: forward's
    shapes = specdl.infer_shapes(TWO)
    assert list(shapes)[:2] == ["price", "ids"] and shapes["concat_3"] == ("N", 23)


def test_check_prints_a_row_per_input(tmp_path):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(TWO, sort_keys=False))
    r = run_cli("check", tmp_path / "s.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "inputs price [N, 4], ids [N, 5]" in r.stdout.splitlines()[0]
    rows = [ln.split() for ln in r.stdout.splitlines()]
    assert ["price", "input", "[N,", "4]"] in rows and ["ids", "input", "[N,", "5]"] in rows


def test_an_unused_input_is_an_error_at_its_name():
    spec = spec_of(data__inputs={**TWO["data"]["inputs"], "extra": {"shape": [2]}})
    assert errors(spec) == ["data.inputs.extra: input extra is declared but no layer takes it; remove it or add "
                            "it to a concat"]


def test_an_unknown_input_gets_did_you_mean_over_inputs_and_layers():
    spec = spec_of()
    spec["model"]["layers"][0]["linear"]["inputs"] = ["prise"]
    assert errors(spec)[0] == "model.layers.0.inputs.0: no layer named `prise` before this one; did you mean `price`?"


def test_the_first_layer_must_say_which_input_it_takes():
    spec = spec_of()
    del spec["model"]["layers"][0]["linear"]["inputs"]
    assert "model.layers.0: the model has named inputs (price, ids), not one `input`: say which this layer " \
           "takes, e.g. `inputs: [price]`" in errors(spec)


def test_a_layer_named_like_an_input_and_input_names_that_cannot_be_parameters():
    spec = spec_of()
    spec["model"]["layers"][0]["linear"]["name"] = "ids"
    assert any("duplicate layer name `ids` (also the input `ids` of data.inputs)" in e for e in errors(spec))
    for bad in ("torch", "input", "max", "2x", "class"):
        spec = spec_of(data__inputs={bad: {"shape": [4]}})
        assert errors(spec)[0].startswith(f"data.inputs.{bad}: "), bad


def test_single_input_keys_and_model_input_are_exclusive_of_inputs():
    assert errors(spec_of(data__dtype="int64")) == [
        "data.dtype: `dtype` and `inputs` cannot both be given: with named inputs, each input says its own shape "
        "and dtype"]
    assert errors(spec_of(data__shape=[4]))[0].startswith("data.shape: `shape` and `inputs`")
    assert errors(spec_of(model__input=[4]))[0].startswith("model.input: model.input and data.inputs cannot")
    assert errors(spec_of(data__inputs={})) == ["data.inputs: needs at least 1 item(s), got {}"]
    assert errors(spec_of(data__transforms=["standardize"]))[0] == (
        "data.transforms: `transforms` and `inputs` cannot both be given: named inputs take no source-level transforms")


def test_ids_fed_to_a_float_layer_and_an_embedding_smaller_than_the_ids():
    spec = spec_of()
    spec["model"]["layers"][1] = {"linear": {"out_features": 3, "inputs": ["ids"]}}
    assert "token ids are indices: put an embedding first" in errors(spec)[0]
    spec = spec_of()
    spec["model"]["layers"][1]["embedding"]["num_embeddings"] = 8
    assert errors(spec) == ["model.layers.1.num_embeddings: the input ids holds token ids up to 11, but "
                            "num_embeddings is 8; use 12 or more"]


def test_npz_inputs_read_each_array_with_did_you_mean(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "m.npz", a=rng.normal(size=(40, 4)).astype(np.float32), b=rng.integers(0, 7, (40, 3)),
             y=rng.integers(0, 2, 40))
    spec = spec_of(data={"source": "npz", "path": str(tmp_path / "m.npz"),
                         "inputs": {"price": {"array": "a"}, "ids": {"array": "bb"}}})
    spec["model"]["layers"][-1] = {"linear": 2}
    assert errors(spec) == ["data.inputs.ids.array: " + str(tmp_path / "m.npz") + " has no array `bb`; did you mean `b`?"]
    spec["data"]["inputs"]["ids"]["array"] = "b"
    spec["model"]["layers"][1]["embedding"]["num_embeddings"] = 6
    assert errors(spec) == ["model.layers.1.num_embeddings: the input ids holds token ids up to 6, but "
                            "num_embeddings is 6; use 7 or more"]
    spec["model"]["layers"][1]["embedding"]["num_embeddings"] = 7
    a = specdl.check(spec)
    assert a.graph.sources["ids"].shape == ("N", 3) and a.graph.sources["ids"].dtype == "int64"
    np.savez(tmp_path / "m.npz", a=rng.normal(size=(40, 4)), b=rng.integers(-1, 7, (40, 3)), y=rng.integers(0, 2, 40))
    assert errors(spec) == ["data.inputs.ids.array: `b` in " + str(tmp_path / "m.npz") + " holds the id -1; integer "
                            "inputs are token ids, whole numbers from 0 (give floats for values)"]
    np.savez(tmp_path / "m.npz", a=rng.normal(size=(40, 4)), b=rng.integers(0, 7, (41, 3)), y=rng.integers(0, 2, 40))
    assert errors(spec) == ["data.inputs.ids.array: `b` has 41 rows but `y` has 40"]


# ---------------------------------------------------------------- build
def test_build_model_takes_keyword_inputs_and_batches_of_inputs():
    model = specdl.build_model(TWO)
    price, ids = torch.randn(5, 4), torch.randint(0, 12, (5, 5))
    out = model(price=price, ids=ids)
    assert out.shape == (5, 3)
    assert torch.equal(model(Inputs({"price": price, "ids": ids})), out)  # the loop's batches


def full_and_resumed(spec: dict, tmp_path) -> tuple[dict, dict]:
    """The test metrics of ``spec`` trained whole, and of it stopped after epoch 2 and resumed."""
    from specdl.build.run import fit

    full, _ = specdl.train(spec, out=tmp_path / "full")
    stop = copy.deepcopy(spec)
    stop["train"]["checkpoint"] = {"interval": 0}

    class Stop(Exception):
        pass

    def interrupt(epoch, row):
        if epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        fit(specdl.check(stop), out=tmp_path / "cut", on_epoch=interrupt)
    resumed, _ = specdl.train(None, resume=tmp_path / "cut")
    return full, resumed


@pytest.mark.slow
def test_build_trains_and_resumes_to_the_uninterrupted_metrics(tmp_path):
    full, resumed = full_and_resumed(TWO, tmp_path)
    assert resumed == full


def test_a_named_input_run_loads_and_predicts_by_input_name(tmp_path):
    """(Every run verb on named inputs: tests/test_named_runs.py.)"""
    _, run = specdl.train(spec_of(train__epochs=1), out=tmp_path / "run")
    loaded = specdl.load_run(run)
    x = {"price": np.zeros((2, 4), dtype=np.float32), "ids": np.ones((2, 5), dtype=np.int64)}
    assert len(loaded.predict(x)["prediction"]) == 2
    with pytest.raises(RunError, match="the input `ids` holds samples of shape \\[4\\]; the model takes \\[5\\]"):
        loaded.predict({"price": x["price"], "ids": x["ids"][:, :4]})


@pytest.mark.slow
@pytest.mark.parametrize("source", ["synthetic", "npz"])
def test_build_equals_the_generated_script(source, tmp_path):
    from .test_runtime import build_and_script

    spec = spec_of()
    if source == "npz":
        rng = np.random.default_rng(1)
        np.savez(tmp_path / "m.npz", a=rng.normal(size=(90, 4)).astype(np.float32), b=rng.integers(0, 12, (90, 5)),
                 y=rng.integers(0, 3, 90))
        spec["data"] = {"source": "npz", "path": str(tmp_path / "m.npz"),
                        "inputs": {"price": {"array": "a"}, "ids": {"array": "b"}}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    built, script = build_and_script(tmp_path / "s.yaml", [], tmp_path)
    assert list(script) == list(built)
    for k in built:
        assert script[k] == pytest.approx(built[k], abs=1e-6), k


@pytest.mark.slow
def test_a_compiled_model_takes_the_batches_of_inputs(tmp_path):
    """train.compile: torch.compile of the model with its keyword pre-hook trains to eager's metrics."""
    eager, _ = specdl.train(TWO, out=tmp_path / "eager")
    compiled, _ = specdl.train(spec_of(train__compile=True), out=tmp_path / "compiled")
    assert compiled == pytest.approx(eager, abs=1e-4)


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


@pytest.mark.slow
def test_data_parallel_build_and_script_slice_every_input(tmp_path):
    """Under torchrun (gloo, 2 processes) each rank slices every input of the global batch:
    build and the --distributed script reach the single process's metrics."""
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(TWO, sort_keys=False))
    single, _ = specdl.train(TWO, out=tmp_path / "single")
    for strategy in ("ddp", "fsdp"):
        r = run_cli("build", tmp_path / "s.yaml", "--nproc", "2", "-o", f"train.distributed.strategy={strategy}",
                    "--out", tmp_path / strategy, "-q", cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        ddp = json.loads((tmp_path / strategy / "report.json").read_text())["test"]
        assert ddp == pytest.approx(single, abs=1e-5), strategy
    r = run_cli("codegen", tmp_path / "s.yaml", "--distributed", "--out", tmp_path / "d.py", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = subprocess.run([*TORCHRUN, "d.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                       env={"PATH": "/usr/bin:/bin"})
    assert s.returncode == 0, s.stderr[-2000:]
    assert json.loads(s.stdout.strip().splitlines()[-1]) == pytest.approx(single, abs=1e-5)


# ---------------------------------------------------------------- drawn multi-input graphs
NAMES = ["price", "ids", "img", "tokens", "meta"]


@st.composite
def input_and_encoder(draw, name: str, i: int):
    """One synthetic input and the layers that encode it to [N, F], the last named e<i>."""
    kind = draw(st.sampled_from(["vector", "sequence", "ids"]))
    if kind == "vector":
        inp = {"shape": [draw(st.integers(2, 6))]}
        layers = draw(st.sampled_from([[{"linear": {"out_features": draw(st.integers(2, 8))}}, "relu"],
                                       [{"enc": {"w": draw(st.integers(2, 5))}}], [{"layernorm": {}}]]))
    elif kind == "sequence":
        inp = {"shape": [draw(st.integers(1, 3)), draw(st.integers(4, 8))]}
        layers = draw(st.sampled_from([[{"conv1d": {"out_channels": 2, "kernel_size": 3}}, "flatten"],
                                       ["flatten", {"linear": {"out_features": 4}}]]))
    else:
        high = draw(st.integers(3, 20))
        inp = {"shape": [draw(st.integers(2, 6))], "dtype": "int64", "high": high}
        layers = [{"embedding": {"num_embeddings": high + draw(st.integers(0, 3)), "embedding_dim": 3}}, "flatten"]
    layers = copy.deepcopy(layers)
    first = layers[0] if isinstance(layers[0], dict) else {layers[0]: {}}
    (kind_name, args), = first.items()
    layers[0] = {kind_name: {**(args or {}), "inputs": [name]}}
    last = layers[-1] if isinstance(layers[-1], dict) else {layers[-1]: {}}
    (kind_name, args), = last.items()
    layers[-1] = {kind_name: {**(args or {}), "name": f"e{i}"}}
    return inp, layers


@st.composite
def multi_input_specs(draw):
    names = draw(st.lists(st.sampled_from(NAMES), min_size=2, max_size=3, unique=True))
    inputs, layers = {}, []
    for i, name in enumerate(names):
        inputs[name], enc = draw(input_and_encoder(name, i))
        layers += enc
    classes = draw(st.integers(2, 4))
    layers += [{"concat": {"inputs": [f"e{i}" for i in range(len(names))]}}, "relu", {"linear": classes}]
    return {"name": "drawn", "seed": draw(st.integers(0, 5)),
            "data": {"source": "synthetic", "classes": classes, "size": 64, "inputs": inputs},
            "model": {"blocks": {"enc": [{"linear": "$w"}, "tanh"]}, "layers": layers},
            "train": {"epochs": 1, "batch_size": 16, "device": "cpu"}}


def import_model(script: str, path):
    """The script's Model class, imported in this process (its main does not run)."""
    path.write_text(script)
    spec = importlib.util.spec_from_file_location(f"drawn_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def batch_of(a, n: int = 7) -> dict:
    g = torch.Generator().manual_seed(0)
    return {i.name: (torch.randint(0, i.max_token + 1, (n, *i.feat), generator=g) if i.dtype == "int64"
                     else torch.randn((n, *i.feat), generator=g)) for i in a.data.inputs}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(multi_input_specs())
def test_drawn_multi_input_graphs_check_build_and_codegen_alike(tmp_path, spec):
    a = specdl.check(spec)
    model = specdl.build_model(spec).eval()
    xb = batch_of(a)
    out = model(**xb)
    assert tuple(out.shape) == (7, *a.graph.output.out.shape[1:])
    script = import_model(specdl.codegen(spec), tmp_path / "drawn.py")
    assert list(inspect.signature(script.Model.forward).parameters)[1:] == list(a.graph.sources)
    torch.manual_seed(spec["seed"])
    mine = script.Model().eval()
    built = model.state_dict()
    assert list(mine.state_dict()) == list(built)
    assert all(torch.equal(v, built[k]) for k, v in mine.state_dict().items())
    with torch.no_grad():
        assert torch.equal(mine(script.Inputs(xb)), out)  # as the script's loop calls it
        assert torch.equal(mine(**xb), out)


@pytest.mark.fuzz
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(multi_input_specs())
def test_drawn_multi_input_scripts_train_as_build(tmp_path, spec):
    built, _ = specdl.train(spec, out=tmp_path / "run", force=True)
    (tmp_path / "s.py").write_text(specdl.codegen(spec))
    r = subprocess.run([sys.executable, "s.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""})
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == pytest.approx(built, abs=1e-6)



# ---------------------------------------------------------------- CUDA graphs
def test_the_cuda_graph_step_copies_every_input_into_its_static_buffers(monkeypatch):
    """GraphStep (runtime/graphs.py, unchanged) on batches of Inputs, CUDA mocked as in
    test_gpu_graphs: warm-up, one capture on cloned Inputs, replays after copying each
    batch's every input into them, the short batch eager."""
    from specdl.runtime import loop

    from .test_gpu_graphs import FakeCuda

    fake = FakeCuda()
    fake.install(monkeypatch)
    model = specdl.build_model(TWO)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    step = fake.graph_step = loop.GraphStep(model, torch.nn.CrossEntropyLoss(), opt, batch_size=8, warmup=2)
    g = torch.Generator().manual_seed(0)
    x = Inputs({"price": torch.randn(42, 4, generator=g), "ids": torch.randint(0, 12, (42, 5), generator=g)})
    y = torch.randint(0, 3, (42,), generator=g)
    copied = []
    real_copy = Inputs.copy_
    monkeypatch.setattr(Inputs, "copy_", lambda self, other: copied.append(other) or real_copy(self, other))
    total, seen = loop.train_epoch(model, loop.batches(x, y, 8, torch.Generator().manual_seed(0)), step.loss_fn,
                                   opt, 6, graph=step)
    assert seen == 42 and fake.log == [("capture", [True])] + ["replay"] * 3  # batches 3 to 5
    assert isinstance(step.x, Inputs) and len(copied) == 3
    assert all(torch.equal(step.x.tensors[k], copied[-1].tensors[k]) for k in ("price", "ids"))
    assert torch.is_tensor(total) and float(total) > 0


@pytest.mark.gpu
def test_cuda_graphs_give_eager_metrics_with_named_inputs(tmp_path):
    reports = {}
    for graphs in ("true", "false"):
        spec = spec_of(train__device="cuda", train__cuda_graphs=graphs == "true", train__epochs=4)
        _, run = specdl.train(spec, out=tmp_path / graphs)
        reports[graphs] = json.loads((run / "report.json").read_text())
    assert reports["true"]["cuda_graphs"] is True and reports["false"]["cuda_graphs"] is False
    for k, v in reports["false"]["test"].items():
        assert reports["true"]["test"][k] == pytest.approx(v, abs=0.05), k


def test_the_editor_schema_takes_named_inputs_and_refuses_unknown_keys_in_one():
    import jsonschema

    from specdl.front.editor_schema import spec_json_schema

    schema = jsonschema.Draft202012Validator(spec_json_schema())
    npz = spec_of(data={"source": "npz", "path": "m.npz", "inputs": {"price": {"array": "a"}, "ids": {"array": "b"}}})
    assert not list(schema.iter_errors(TWO)) and not list(schema.iter_errors(npz))
    assert list(schema.iter_errors(spec_of(data__inputs={"price": {"shape": [4], "dtyp": "int64"}})))
    assert list(schema.iter_errors(spec_of(data__inputs={"price": {"array": "a"}})))  # an npz key on synthetic
