"""Every value a spec can carry reaches generated code only as data. The slots are
derived from the schema and the registry (a new field or component is covered without
a new test): for each field that admits a string, each hostile string gives a clean
error, or a script whose syntax tree, constants blanked, is the benign script's; the
codegen guard must never be what stops it (that would be an internal error)."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

import specdl
from specdl.components.base import REGISTRY
from specdl.errors import RunError, SpecError
from specdl.front.schema import spec_class
from specdl.script.codeguard import UnsafeCode, guard

HOSTILE = ['"""; import os; os.system("id")  #', "''') + __import__('os').getcwd() + ('''",
           "a\nb = 1", "x\n", "{{ 7 * 7 }}", "}); print(1); ({", "\\", "#", "name=1)#", "os.system"]
BENIGN = "plain"
BASE = {"name": "h", "seed": 0, "data": {"source": "synthetic", "shape": [8], "classes": 2, "size": 40},
        "model": {"layers": [{"linear": 2}]}, "train": {"epochs": 1, "device": "cpu"}}
SHAPES = {2: [8], 3: [4, 8], 4: [3, 8, 8], 5: [2, 4, 8, 8]}


def admits_str(ann) -> bool:
    if ann is str or ann is typing.Any:
        return True
    if typing.get_origin(ann) is typing.Literal:
        return False
    return any(admits_str(a) for a in typing.get_args(ann))


def filler(ann):
    """A plain value for a required argument, by its annotation."""
    for t, v in ((bool, False), (int, 4), (float, 0.5), (str, BENIGN)):
        if ann is t or t in typing.get_args(ann):
            return v
    if typing.get_origin(ann) in (list, tuple):
        return [1, 1]
    return 1


def component_slots():
    """(kind, type, field) for every registered component field that admits a string."""
    for kind, reg in REGISTRY.items():
        for t, cls in sorted(reg.items()):
            if getattr(cls, "structural", False):
                continue
            for f, info in cls.model_fields.items():
                if f not in ("type", "inputs") and admits_str(info.annotation):
                    yield kind, t, f


def model_slots(cls, path=()):
    """Paths of the top-level sections' fields that admit a string (components apart)."""
    for f, info in cls.model_fields.items():
        if f in ("data", "layers") or f.endswith("_"):
            continue
        subs = [c for c in typing.get_args(info.annotation) + (info.annotation,)
                if isinstance(c, type) and issubclass(c, BaseModel) and not hasattr(c, "type_name")]
        if subs:
            yield from model_slots(subs[0], path + (f,))
        elif admits_str(info.annotation) and not any(
                hasattr(c, "type_name") for c in typing.get_args(info.annotation)):
            yield path + (f,)


def component_spec(kind, t, field, value):
    cls = REGISTRY[kind][t]
    comp = {"type": t, field: value}
    for f, info in cls.model_fields.items():
        if f not in comp and info.is_required():
            ex = getattr(cls, "examples", {}).get(f)
            comp[f] = ex[0] if ex else filler(info.annotation)
    d = {**BASE, "data": dict(BASE["data"]), "model": {"layers": [{"linear": 2}]}}
    if kind == "layer":
        rank = (cls.ranks or (2,))[0]
        d["data"].update(shape=SHAPES.get(rank, [8]))
        if "int64" in cls.dtypes and "float32" not in cls.dtypes:
            d["data"].update(dtype="int64", high=10)
        d["model"] = {"layers": [comp, "flatten", {"linear": 2}] if rank > 2 else [comp, {"linear": 2}]}
    elif kind in ("loss", "optimizer", "scheduler"):
        d[kind] = comp
    elif kind == "metric":
        d["metrics"] = [comp]
    elif kind == "transform":
        d["data"]["transforms"] = [comp]
    else:  # image transforms: an image folder written by the fixture
        d["data"] = {"source": "image_folder", "root": "imgs", "transforms": [comp],
                     "split": {"stratify": False}}
        d["model"] = {"layers": ["flatten", {"linear": 3}]}
    return d


def path_spec(path, value):
    d = {**BASE, "train": {**BASE["train"], "early_stopping": {}}}
    node = d
    for p in path[:-1]:
        node[p] = dict(node.get(p) or {})
        node = node[p]
    node[path[-1]] = value
    return d


def blanked(code: str) -> str:
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            node.value = None
    return ast.dump(tree)


def generate(spec):
    try:
        return specdl.codegen(spec, allow_import=True)
    except UnsafeCode as e:  # the last guard fired: a value got through the escaping path
        pytest.fail(f"codegen guard fired (a value reached the script as code): {e}")
    except (SpecError, RunError):
        return None


@pytest.fixture
def images(tmp_path):
    from specdl.build.examples import write_images

    write_images(tmp_path / "imgs", per_class=3)
    for k in ("train", "test"):
        write_images(tmp_path / f"imgs_{k}", per_class=3)


DATA_BASE = {"sklearn": {"dataset": "iris"}, "synthetic": {"shape": [8], "classes": 2},
             "csv": {"path": "t.csv", "target": "label"}, "npz": {"path": "t.npz", "x": "x", "y": "y"},
             "image_folder": {"root": "imgs", "split": {"stratify": False}},
             "torchvision": {"name": "mnist", "root": "tv"}}


def data_slots():
    """(source, field) for every data source field that admits a string."""
    from specdl.sources import SOURCES

    for name, cls in sorted(SOURCES.items()):
        for f, info in cls.model_fields.items():
            if f not in ("source", "split") and admits_str(info.annotation):
                yield name, f


def write_data(data: dict) -> None:
    """The files a data section names, under whatever names it gives them."""
    import csv

    from specdl.build.examples import write_images

    try:
        if data["source"] == "csv":
            feats = data.get("features") or ["f1"]
            cats = data.get("categorical") or []
            cols = [*(feats if isinstance(feats, list) else [feats]), *(cats if isinstance(cats, list) else [cats])]
            with open(str(data["path"]), "w", newline="") as f:
                w = csv.writer(f)
                w.writerow([*cols, data["target"]])
                for i in range(30):
                    w.writerow([*[i % 5 for _ in cols], "ab"[i % 2]])
        elif data["source"] == "npz":
            np.savez(str(data["path"]), **{str(data["x"]): np.zeros((20, 3)), str(data["y"]): np.arange(20) % 2})
        elif data["source"] == "image_folder":
            for k in ("root", "train", "val", "test"):
                if isinstance(data.get(k), str):
                    write_images(Path(data[k]), per_class=3)
    except (OSError, ValueError, TypeError, KeyError):
        pass  # the file system (or numpy) refused the name itself: check will say so


def data_spec(source, field, value):
    data = {"source": source, **DATA_BASE[source], field: [value] if field in ("features", "categorical") else value}
    if field in ("train", "val", "test"):
        data.pop("root", None)
        data.update({k: data.get(k, f"imgs_{k}") for k in ("train", "test")})
    write_data(data)
    layers = ["flatten", {"linear": 3}] if source in ("image_folder", "torchvision") else [{"linear": 2}]
    return {**BASE, "data": data, "model": {"layers": layers}}


def block_arg_spec(value):
    return {**BASE, "model": {"blocks": {"b": [{"linear": 4}, {"dropout": "$p"}]},
                              "layers": [{"b": {"p": value}}, {"linear": 2}]}}


def module_arg_spec(value):
    return {**BASE, "model": {"layers": [{"module": {"target": "torch.nn.Identity", "note": value}}, {"linear": 2}]}}


SLOTS = ([("component", s) for s in component_slots()] + [("path", s) for s in model_slots(spec_class())]
         + [("data", s) for s in data_slots()] + [("block_arg", ("block", "arg")), ("module_arg", ("module", "arg"))])
MAKERS = {"component": lambda w, v: component_spec(*w, v), "path": lambda w, v: path_spec(w, v),
          "data": lambda w, v: data_spec(*w, v), "block_arg": lambda w, v: block_arg_spec(v),
          "module_arg": lambda w, v: module_arg_spec(v)}


def test_the_slots_cover_the_schema():
    paths = {s[1] for s in SLOTS if s[0] != "component"}
    assert {("name",), ("train", "device"), ("train", "checkpoint", "monitor")} <= paths
    assert {("csv", "path"), ("csv", "target"), ("csv", "categorical"), ("npz", "x"), ("image_folder", "root")} <= paths
    assert {s[1][:2] for s in SLOTS if s[0] == "component"} >= {("layer", "module"), ("layer", "torchvision")}


@pytest.mark.parametrize("slot", SLOTS, ids=lambda s: ".".join(map(str, s[1])))
def test_hostile_value_in_every_slot(slot, images):
    kind, where = slot
    baseline = generate(MAKERS[kind](where, BENIGN))
    for value in HOSTILE:
        code = generate(MAKERS[kind](where, value))
        if code is None:
            continue  # a clean, located error
        if baseline is None:  # only the hostile value made a script: it must be inert
            guard(code)
            continue
        assert blanked(code) == blanked(baseline), f"{where}: {value!r} changed the script's code"


def test_module_argument_names_and_targets(tmp_path):
    spec = {**BASE, "model": {"layers": [{"module": {"target": "torch.nn.Identity", "a=1)#": 2}}, {"linear": 2}]}}
    with pytest.raises(SpecError, match="not an argument name"):
        specdl.load(spec)
    spec["model"]["layers"][0] = {"module": {"target": "torch.nn.Tanh", "nosuch": 2}}
    with pytest.raises(SpecError, match="does not take these arguments"):
        specdl.check(spec, allow_import=True)
    for target in ("os.system", "torch.hub.load", "subprocess.run"):
        spec["model"]["layers"][0] = {"module": {"target": target}}
        with pytest.raises(SpecError, match="not an nn.Module subclass"):
            specdl.check(spec, allow_import=True)


def test_guard_rejects_names_nobody_wrote():
    guard("import torch\nx = torch.zeros(1)\n")
    for bad in ("import os\nos.system('id')\n", "__import__('os')\n", "eval('1')\n", "exec('1')\n"):
        with pytest.raises(UnsafeCode):
            guard(bad)


def test_names_of_the_generated_code_are_renamed_or_reserved(tmp_path):
    """Layers named like what forward() reads (builtins, modules) and blocks named like
    the script's own names: build and the script make the same outputs."""
    spec = {**BASE, "data": {"source": "synthetic", "shape": [6], "classes": 3, "size": 60},
            "model": {"blocks": {"model": [{"linear": 6}, "relu"], "data_loader": [{"linear": 6}]},
                      "layers": [{"linear": {"out_features": 6, "name": "max"}},
                                 {"relu": {"name": "len"}},
                                 {"model": {"name": "np"}},
                                 {"data_loader": {"name": "math"}},
                                 {"add": {"inputs": ["max", "math"], "name": "print"}},
                                 {"concat": {"inputs": ["print", "len"], "dim": 1, "name": "sum"}},
                                 {"linear": 3}]}}
    for bad in ("inp", "x", "self", "training", "get_submodule", "register_buffer"):
        with pytest.raises(SpecError, match="reserved"):
            specdl.load({**spec, "model": {"layers": [{"linear": {"out_features": 3, "name": bad}}]}})
    code = specdl.codegen(spec)
    (tmp_path / "names_script.py").write_text(code)
    import importlib
    import sys

    import torch

    sys.path.insert(0, str(tmp_path))
    try:  # imported, not run: `if __name__ == "__main__"` keeps the training out
        ns = vars(importlib.import_module("names_script"))
    finally:
        sys.path.remove(str(tmp_path))

    torch.manual_seed(0)
    built = specdl.build_model(spec)
    torch.manual_seed(0)
    script_model = ns["Model"]()
    script_model.load_state_dict(built.state_dict())
    x = torch.randn(5, 6)
    assert torch.allclose(built.eval()(x), script_model.eval()(x))
    assert "class ModelBlock(" in code and "class DataLoaderBlock(" in code


def test_module_attribute_names_are_reserved():
    import torch

    from specdl.components.names import RESERVED

    public = {n for n in dir(torch.nn.Module) if not n.startswith("_")}
    assert public <= RESERVED, sorted(public - RESERVED)


@pytest.mark.parametrize("where", ["file", "override"])
def test_trailing_newlines_and_dates_are_rejected(tmp_path, where):
    cases = {"model.layers.0.linear.name": "a\n", "train.device": "cpu\n", "name": "n\n"}
    for key, value in cases.items():
        if where == "override":
            with pytest.raises(SpecError):
                specdl.load(BASE, overrides=[f"{key}={value!r}".replace("'", '"')])
        else:
            d = {**BASE, "model": {"layers": [{"linear": {"out_features": 2, "name": "a\n"}}]}} \
                if "layers" in key else path_spec(tuple(key.split(".")), value)
            with pytest.raises(SpecError):
                specdl.load(d)
    blocks = {**BASE, "model": {"blocks": {"b\n": [{"linear": 2}]}, "layers": [{"b\n": {}}]}}
    with pytest.raises(SpecError):
        specdl.load(blocks)
    f = tmp_path / "s.yaml"
    f.write_text("seed: 2024-01-01\ndata: {source: synthetic, shape: [4], classes: 2}\n"
                 "model: {layers: [{linear: 2}]}\nloss: !!binary aGVsbG8=\n")
    with pytest.raises(SpecError) as e:
        specdl.load(f)
    assert [(i.line, i.col) for i in e.value.issues] == [(1, 7), (4, 7)]
    assert "reads as a date" in e.value.issues[0].message


def test_the_explicit_call_form_is_not_a_way_around_block_checks():
    layers = [{"type": "call", "block": "x'''", "args": {"c": '"""'}, "layers": [{"linear": 3}]},
              {"call": {"block": "b", "layers": [{"linear": 3}]}}, "call", {"linear": 2}]
    with pytest.raises(SpecError) as e:
        specdl.load({**BASE, "model": {"blocks": {"b": [{"linear": 4}]}, "layers": layers}})
    assert len(e.value.issues) == 3 and all("unknown layer `call`" in i.message for i in e.value.issues)


def test_non_finite_values_render_as_floats(tmp_path):
    spec = {**BASE, "data": {"source": "synthetic", "shape": [1, 4, 4], "classes": 2, "size": 20},
            "model": {"layers": [{"pad": {"pad": [1, 1, 1, 1], "value": float("inf")}}, "flatten", {"linear": 2}]}}
    code = specdl.codegen(spec)
    assert 'value=float("inf")' in code
    ast.parse(code)


def test_generator_arguments_are_typed():
    d = {**BASE, "data": {"source": "sklearn", "dataset": "make_regression", "params": {"noise": "abc"}},
         "model": {"layers": [{"linear": 1}]}}
    with pytest.raises(SpecError, match="`make_regression` argument `noise`"):
        specdl.load(d)
    d["data"]["params"] = {"noise": 0.1, "n_samples": True}
    with pytest.raises(SpecError, match="n_samples"):
        specdl.load(d)
    d["data"]["params"] = {"noise": 0.1, "n_samples": 30, "n_features": 3}
    x = np.asarray(specdl.load(d).data.load(0).x)
    assert x.shape == (30, 3)


def _denied_unwritten() -> list[str]:
    """The denied names no helper writes bare as code (those it does are allowed)."""
    from specdl.script.codeguard import DENY, _helper_code_names

    return sorted(DENY - _helper_code_names())


@pytest.mark.parametrize("word", _denied_unwritten())
def test_a_denied_word_in_a_helper_docstring_or_comment_allows_nothing(word, monkeypatch):
    """Words of a helper's docstring and comments are not code: a denied name they hold
    stays denied bare in the script (the guard used to read helper texts as words: a
    docstring saying "eval" let `eval(...)` through)."""
    from specdl.script import codeguard

    helper = f'def tidy(x):\n    """Never calls {word} on x."""\n    return x  # no {word} here\n'
    texts = codeguard.helper_texts()
    monkeypatch.setattr(codeguard, "helper_texts", lambda: [*texts, helper])
    codeguard.emitted.cache_clear()
    codeguard.script_names.cache_clear()
    try:
        with pytest.raises(UnsafeCode, match=f"`{word}`"):
            guard(f"x = 1\n{word}(x)\n")
    finally:
        codeguard.emitted.cache_clear()
        codeguard.script_names.cache_clear()
