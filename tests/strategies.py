"""Hypothesis strategies derived from the registry's pydantic fields, so that a new
component is covered by the registry-wide tests without new test code."""

from __future__ import annotations

import types
import typing

import annotated_types as at
from hypothesis import strategies as st

SKIP_FIELDS = {"type", "name", "inputs"}


def for_annotation(ann, metadata=()) -> st.SearchStrategy:
    """Small values of the annotated type, within its pydantic bounds."""
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Annotated:
        return for_annotation(args[0], tuple(metadata) + tuple(args[1:]))
    if origin in (typing.Union, types.UnionType):
        return st.one_of([for_annotation(a, metadata) for a in args])
    if origin is typing.Literal:
        return st.sampled_from(args)
    if ann is type(None):
        return st.none()
    lo = hi = None
    strict_lo = strict_hi = False
    min_len = 0
    for m in metadata:
        for attr, is_strict, upper in (("ge", False, False), ("gt", True, False),
                                       ("le", False, True), ("lt", True, True)):
            v = getattr(m, attr, None)
            if v is not None:
                if upper:
                    hi, strict_hi = v, is_strict
                else:
                    lo, strict_lo = v, is_strict
        if isinstance(m, at.MinLen) or hasattr(m, "min_length"):
            min_len = getattr(m, "min_length", 0) or 0
    if ann is bool:
        return st.booleans()
    if ann is int:
        a = -3 if lo is None else lo + (1 if strict_lo else 0)
        b = a + 5 if hi is None else hi - (1 if strict_hi else 0)
        return st.integers(a, min(b, a + 5))
    if ann is float:
        a = -2.0 if lo is None else float(lo)
        b = a + 2.0 if hi is None else float(hi)
        return st.floats(a, b, exclude_min=strict_lo, exclude_max=strict_hi, allow_nan=False)
    if ann is str:
        return st.text("abc", min_size=1, max_size=3)
    if origin in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return st.tuples(*(for_annotation(a) for a in args))
        return st.lists(for_annotation(args[0]), min_size=max(min_len, 1), max_size=4)
    raise NotImplementedError(f"no strategy for {ann}")


@st.composite
def params(draw, cls) -> dict:
    """Keyword arguments for a component: required fields always, optional ones sometimes."""
    out = {}
    examples = getattr(cls, "examples", {})
    for name, f in cls.model_fields.items():
        if name in SKIP_FIELDS:
            continue
        if name in examples:
            if f.is_required() or draw(st.booleans()):
                out[name] = draw(st.sampled_from(examples[name]))
        elif f.is_required() or draw(st.booleans()):
            out[name] = draw(for_annotation(f.annotation, f.metadata))
    return out


@st.composite
def input_types(draw, cls, dtype="float32"):
    """An input shape (batch included) of a rank the layer may or may not accept."""
    ranks = list(cls.ranks) if cls.ranks else [2, 3, 4]
    rank = draw(st.sampled_from(sorted(set(ranks + [2, 3, 4]))))
    dims = draw(st.lists(st.integers(1, 9), min_size=rank - 1, max_size=rank - 1))
    return ("N", *dims), dtype
