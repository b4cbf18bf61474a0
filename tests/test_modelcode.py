"""Generated model code as a person writes it: one class per block definition with the
values that differ between its uses as constructor arguments, and the same module as
build (same state_dict, same weights from the same seed, same outputs)."""

from __future__ import annotations

import importlib
import sys

import torch

import specdl

from .conftest import ROOT

SPEC = {
    "name": "blocks", "seed": 0, "train": {"device": "cpu"},
    "data": {"source": "synthetic", "shape": [3, 16, 16], "classes": 4, "size": 32},
    "model": {
        "blocks": {
            "unit": [{"conv2d": {"out_channels": "$c", "kernel_size": 3, "padding": 1, "stride": "$s"}},
                     {"batchnorm2d": {}}, "relu"],
            "pair": [{"unit": {"c": "$c", "s": 1}}, {"unit": {"c": "$c", "s": 1, "name": "second"}},
                     {"dropout": "$p"}],
        },
        "layers": [{"unit": {"c": 8, "s": 1}}, {"unit": {"c": 16, "s": 2}},  # stride only in the second
                   {"pair": {"c": 16, "p": 0.1, "repeat": 2}}, {"pair": {"c": 24, "p": 0.2}},
                   {"adaptive_avgpool2d": 1}, "flatten", {"linear": 4}],
    },
}


def import_script(code: str, tmp_path, name: str):
    (tmp_path / f"{name}.py").write_text(code)
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


def test_one_class_per_block_definition(tmp_path):
    code = specdl.codegen(SPEC)
    assert code.count("class Unit(") == 1 and code.count("class Pair(") == 1
    assert "def __init__(self, c, s, in_channels):" in code or "def __init__(self, c, in_channels, s):" in code
    assert "def __init__(self, c, p):" in code
    assert "nn.Sequential(Pair(16, 0.1), Pair(16, 0.1))" in code and "Pair(24, 0.2)" in code
    script = import_script(code, tmp_path, "blocks_script")  # imports: no training runs
    torch.manual_seed(0)
    mine = script.Model()
    built = specdl.build_model(SPEC)
    assert list(mine.state_dict()) == list(built.state_dict())
    for k, v in built.state_dict().items():
        assert torch.equal(v, mine.state_dict()[k]), k
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(built.eval()(x), mine.eval()(x))


def test_uses_of_another_structure_get_their_own_class(tmp_path):
    spec = {**SPEC, "model": {"blocks": {"shaped": [{"reshape": "$shape"}]},
                              "layers": ["flatten", {"shaped": {"shape": [768]}}, {"shaped": {"shape": [3, 256]}},
                                         "flatten", {"linear": 4}]}}
    code = specdl.codegen(spec)
    assert "class Shaped(" in code and "class Shaped2(" in code  # the forward differs
    script = import_script(code, tmp_path, "shaped_script")
    x = torch.randn(2, 3, 16, 16)
    torch.manual_seed(0)
    mine = script.Model()
    built = specdl.build_model(spec)
    mine.load_state_dict(built.state_dict())
    assert torch.equal(built(x), mine(x))


def test_bundled_specs_have_one_class_per_block_definition():
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        spec = specdl.load(path)
        code = (ROOT / "generated" / f"{path.stem}.py").read_text()
        for block in spec.model.blocks:
            name = "".join(p[:1].upper() + p[1:] for p in block.split("_"))
            assert code.count(f"class {name}(") <= 1 and f"class {name}2(" not in code, (path.name, block)
