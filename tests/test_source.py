"""YAML reading: positions, safety, overrides."""

from __future__ import annotations

import pytest

from specdl.errors import SpecError
from specdl.front.reader import Source, apply_overrides, read_yaml

TEXT = """\
name: x
model:
  layers:
    - linear: 16
    - {type: relu}
"""


def test_positions_of_values_and_keys():
    src = read_yaml(TEXT, "f.yaml")
    assert src.locate(("model", "layers", 0)) == ("f.yaml", 4, 7)
    assert src.locate(("model", "layers", 0, "linear")) == ("f.yaml", 4, 15)
    assert src.locate(("model", "layers", 0, "linear"), key=True) == ("f.yaml", 4, 7)
    assert src.locate(("model", "layers", 1, "type")) == ("f.yaml", 5, 14)
    # an unknown deeper path falls back to its nearest located ancestor
    assert src.locate(("model", "layers", 1, "nothing", 3)) == ("f.yaml", 5, 7)


def test_safe_scalars_only():
    assert read_yaml("a: 1\nb: 2.5\nc: true\nd: null\ne: [x]").data == \
        {"a": 1, "b": 2.5, "c": True, "d": None, "e": ["x"]}
    for tag in ("!!python/name:os.system", "!!python/object:list", "!custom 3"):
        with pytest.raises(SpecError, match="is not allowed"):
            read_yaml(f"a: {tag} x")


def test_merge_keys_and_anchors():
    src = read_yaml("base: &b {lr: 0.1, momentum: 0.9}\nopt:\n  <<: *b\n  lr: 0.5\n")
    assert src.data["opt"] == {"lr": 0.5, "momentum": 0.9}


def test_deep_nesting_is_bounded():
    with pytest.raises(SpecError, match="nesting deeper"):
        read_yaml("a: " + "[" * 150 + "]" * 150)


@pytest.mark.parametrize("override, expected", [
    ("train.epochs=3", {"train": {"epochs": 3}}),
    ("train.lr=1e-3", {"train": {"lr": 1e-3}}),
    ("a.b=[1, 2]", {"a": {"b": [1, 2]}}),
    ("a=", {"a": None}),
    ("name=hello world", {"name": "hello world"}),
])
def test_overrides_are_yaml_typed(override, expected):
    src = Source({}, "f")
    apply_overrides(src, [override])
    assert src.data == expected


def test_override_into_list_and_component_type_segment():
    src = Source({"model": {"layers": [{"type": "linear", "out_features": 3}]},
                  "optimizer": {"type": "adamw", "lr": 0.1}}, "f")
    apply_overrides(src, ["model.layers.0.out_features=7", "optimizer.adamw.lr=0.5"])
    assert src.data["model"]["layers"][0]["out_features"] == 7
    assert src.data["optimizer"] == {"type": "adamw", "lr": 0.5}


def test_bad_overrides():
    src = Source({"model": {"layers": [1]}}, "f")
    with pytest.raises(SpecError) as e:
        apply_overrides(src, ["nodots", "model.layers.5.x=1", "x=[unclosed"])
    text = e.value.render()
    assert "<override 1: nodots>:1:1: error: an override is `dotted.path=value`" in text
    assert "<override 2: model.layers.5.x=1>" in text and "has no `5`" in text
    assert "<override 3: x=[unclosed>" in text and "YAML syntax error" in text
