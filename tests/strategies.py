"""Hypothesis strategies derived from the registry's pydantic fields, so that a new
component is covered by the registry-wide tests without new test code."""

from __future__ import annotations

import types
import typing

import annotated_types as at
from hypothesis import strategies as st

SKIP_FIELDS = {"type", "name", "inputs"}
RANKS = (2, 3, 4, 5)  # every rank a layer of the registry takes, batch included


def rare(draw) -> bool:
    """True one time in five. (Hypothesis favours the simplest draw, 0, so the common
    case must be the one a 0 picks.)"""
    return draw(st.integers(0, 4)) == 4


def for_annotation(ann, metadata=(), length=None) -> st.SearchStrategy:
    """Small values of the annotated type, within its pydantic bounds; lists mostly of
    ``length`` items when one is given (a spatial layer's one size per dimension)."""
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Annotated:
        return for_annotation(args[0], tuple(metadata) + tuple(args[1:]), length)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([for_annotation(a, metadata, length) for a in args])
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
        items = st.lists(for_annotation(args[0]), min_size=max(min_len, 1), max_size=4)
        if length is None:
            return items
        fits = st.lists(for_annotation(args[0]), min_size=length, max_size=length)
        return st.integers(0, 4).flatmap(lambda k: items if k == 4 else fits)
    raise NotImplementedError(f"no strategy for {ann}")


@st.composite
def params(draw, cls) -> dict:
    """Keyword arguments for a component: required fields always, optional ones sometimes;
    from the component's ``examples`` where it gives some."""
    out = {}
    examples = getattr(cls, "examples", {})
    for name, f in cls.model_fields.items():
        if name in SKIP_FIELDS:
            continue
        if name in examples:
            if f.is_required() or draw(st.booleans()):
                out[name] = draw(st.sampled_from(examples[name]))
        elif f.is_required() or draw(st.booleans()):
            out[name] = draw(for_annotation(f.annotation, f.metadata, getattr(cls, "nd", None)))
    return out


def _fixed_sizes(cls) -> dict:
    """Sizes the layer's rank hint fixes, by position: ``[N, 3, H, W]`` -> {1: 3}."""
    parts = [p.strip() for p in cls.rank_hint.split("(")[0].strip(" []").split(",")]
    return {i: int(p) for i, p in enumerate(parts) if p.isdigit()}


@st.composite
def input_types(draw, cls, dtype="float32"):
    """An input type (batch included): mostly of a rank the layer takes (so that most
    draws exercise its shape rule past the rank check) and with the sizes its rank hint
    fixes, or one of its example inputs; sometimes of another rank."""
    fitting = getattr(cls, "examples", {}).get("input")
    if fitting and not rare(draw):
        return ("N", *draw(st.sampled_from(fitting))), dtype
    fits = list(cls.ranks) if cls.ranks else [2, 3, 4]
    others = [r for r in RANKS if r not in fits]
    rank = draw(st.sampled_from(others if others and rare(draw) else fits))
    dims = draw(st.lists(st.integers(1, 9), min_size=rank - 1, max_size=rank - 1))
    for i, size in _fixed_sizes(cls).items():
        if i < rank and not rare(draw):
            dims[i - 1] = size
    return ("N", *dims), dtype


@st.composite
def related_shapes(draw, base, n) -> list:
    """n shapes like ``base`` (batch included), for merges and multi-input layers: each
    dimension kept, mostly, or redrawn, now and then one dimension fewer, so that both
    agreeing and clashing inputs come."""
    out = [tuple(base)]
    for _ in range(n - 1):
        dims = [draw(st.integers(1, 5)) if rare(draw) else d for d in base[1:]]
        if len(dims) > 1 and rare(draw) and rare(draw):
            dims = dims[1:]
        out.append(("N", *dims))
    return out
