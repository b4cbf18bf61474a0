"""Arithmetic on block parameters: parsed over a whitelist, never evaluated as Python."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import specdl
from specdl.front.block_expr import ExprError, evaluate


@given(a=st.integers(-50, 50), b=st.integers(-50, 50).filter(bool), c=st.integers(0, 9))
def test_agrees_with_integer_arithmetic(a, b, c):
    args = {"a": a, "b": b, "c": c}
    for text, want in [("$a * 6", a * 6), ("$a // $b", a // b), ("$a % $b", a % b),
                       ("($a + $c) * $b - 1", (a + c) * b - 1), ("-$a + +$c", -a + c),
                       ("$a*$a//$b", a * a // b), ("7", 7)]:
        assert evaluate(text, args) == want


@pytest.mark.parametrize("text", ["$a / 2", "$a ** 2", "len($a)", "$a.real", "$a if $a else 1",
                                  "x + $a", "$a + 1.5", "[$a]", "$a < 2", "($a", "$a; 1", "True + $a",
                                  "__import__('os') + $a", "$a" + " + 1" * 100])
def test_rejects_everything_else(text):
    with pytest.raises(ExprError):
        evaluate(text, {"a": 3})


@pytest.mark.parametrize("value", [1.5, "3", True, [3], None])
def test_arguments_must_be_whole_numbers(value):
    with pytest.raises(ExprError, match="whole numbers") as e:
        evaluate("$a * 2", {"a": value})
    assert e.value.arg == "a"


def test_division_by_zero_names_the_divisor():
    with pytest.raises(ExprError, match="divides by zero") as e:
        evaluate("$a // ($b - 2)", {"a": 4, "b": 2})
    assert e.value.arg == "b"


def test_expressions_build_the_widths_they_say():
    spec = {"name": "e", "data": {"source": "synthetic", "shape": [3, 8, 8], "classes": 2},
            "model": {"blocks": {"inv": [
                {"conv2d": {"out_channels": "$c * 6", "kernel_size": 1}},
                {"conv2d": {"out_channels": "$c * 6", "kernel_size": 3, "padding": 1, "groups": "$c * 6"}},
                {"conv2d": {"out_channels": "($c + $d) // 2", "kernel_size": 1}}]},
                "layers": [{"inv": {"c": 3, "d": 5}}, "flatten", {"linear": 2}]}}
    a = specdl.check(spec)
    model = specdl.build_model(a.spec)
    convs = [m for m in model.modules() if type(m).__name__ == "Conv2d"]
    assert [(m.out_channels, m.groups) for m in convs] == [(18, 1), (18, 18), (4, 1)]
    assert a.graph.total_params() == sum(p.numel() for p in model.parameters())
