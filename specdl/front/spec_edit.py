"""Edit a spec's YAML text in place: set dotted keys (as ``-o`` overrides set them) and drop
top-level sections, keeping the user's comments, layout, flow mappings and anchors. `specdl
tune` writes best.yaml this way: the user's file with the searched values edited in.

A key whose value is a plain scalar of its own (no anchor, no alias) has its text replaced.
Otherwise the value (an alias, an anchored or quoted scalar) is replaced, or the key is
inserted under its nearest parent in the text, in canonical form, with a comment; an anchor
that other nodes alias moves to the first of them, so that they keep their value."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import yaml

from .reader import SpecDumper, SpecLoader, _override_path, _set, read_yaml


@dataclass
class _Span:
    kind: str  # scalar, alias, mapping, sequence
    start: int
    end: int
    anchor: str | None = None
    plain: bool = False
    flow: bool = False
    keycol: int | None = None  # a block mapping's indentation (its first key's column)
    last: int | None = None  # where its last value ends
    keystart: int | None = None  # where the key naming it starts


def edit(text: str, sets: list[tuple[str, object]], comment: str, drop: tuple = ()) -> str:
    """``text`` with each ``(dotted key, value)`` of ``sets`` set and the top-level keys in
    ``drop`` removed. Raises ValueError where the text cannot be edited so."""
    for key, value in sets:
        text = _set_key(text, key, value, comment)
    for key in drop:
        text = _drop(text, key)
    return text


def _spans(text: str) -> dict[tuple, _Span]:
    events = [e for e in yaml.parse(text, Loader=SpecLoader)
              if not isinstance(e, (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentStartEvent,
                                    yaml.DocumentEndEvent))]
    spans: dict[tuple, _Span] = {}
    _walk(events, 0, (), spans)
    return spans


def _walk(events, i: int, path, spans) -> tuple[int, int]:
    """Record the span of the node starting at ``events[i]`` (and of its children): the
    index after it, and where its text ends (a block collection's: its last value's end, not
    the comments after it). ``path`` None: a merged or aliased node, not recorded."""
    e = events[i]
    if isinstance(e, yaml.AliasEvent):
        span = _Span("alias", e.start_mark.index, e.end_mark.index, e.anchor)
    elif isinstance(e, yaml.ScalarEvent):
        span = _Span("scalar", e.start_mark.index, e.end_mark.index, e.anchor, plain=e.style is None)
    else:
        kind = "mapping" if isinstance(e, yaml.MappingStartEvent) else "sequence"
        span, i = _Span(kind, e.start_mark.index, 0, e.anchor, flow=bool(e.flow_style)), i + 1
        n = 0
        while not isinstance(events[i], (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            if kind == "sequence":
                i, span.last = _walk(events, i, None if path is None else path + (n,), spans)
                n += 1
                continue
            key = events[i]
            name = key.value if isinstance(key, yaml.ScalarEvent) and key.value != "<<" else None
            if span.keycol is None:
                span.keycol = key.start_mark.column
            i, span.last = _walk(events, i + 1, None if path is None or name is None else path + (name,), spans)
            if path is not None and name is not None:
                spans[path + (name,)].keystart = key.start_mark.index
        span.end = events[i].end_mark.index
    if path is not None:
        spans[path] = span
    return i + 1, span.end if span.flow or span.kind in ("scalar", "alias") or span.last is None else span.last


def _set_key(text: str, key: str, value, comment: str) -> str:
    from .sites import primary_of

    data = read_yaml(text, "<edit>").data
    parts = _short_form(data, tuple(_override_path(data, key, primary_of)), primary_of)
    new = copy.deepcopy(data)
    if _set(new, list(parts), copy.deepcopy(value), key) is not None:
        raise ValueError(f"cannot set {key}")
    spans = _spans(text)
    aliased = {s.anchor for s in spans.values() if s.kind == "alias"} | set(re.findall(r"\*([^\s,\]}]+)", text))
    at = next(parts[:n] for n in range(len(parts), -1, -1) if parts[:n] in spans)
    span = spans[at]
    own = span.anchor is None or span.anchor not in aliased  # an anchor no alias uses changes nothing else
    if at == parts and span.kind == "scalar" and span.plain and own:
        start = span.start if span.anchor is None else _after_anchor(text, span.start)
        out = text[:start] + _flow(value) + text[span.end:]
    elif at != parts and span.kind == "mapping" and own and not span.flow:
        rest = parts[len(at):]
        out = _insert(text, span, {rest[0]: _nested(rest[1:], value)}, comment)
    else:
        out = _replace(text, span, _value_at(new, at), comment)
    if read_yaml(out, "<edit>").data != new:  # the edit must set the key and nothing else
        raise ValueError(f"cannot edit {key} in place")
    return out


def _after_anchor(text: str, start: int) -> int:
    """Where the value starts after its anchor (`&name value`)."""
    end = start
    while end < len(text) and not text[end].isspace():
        end += 1
    while end < len(text) and text[end] in " \t":
        end += 1
    return end


def _short_form(data, parts: tuple, primary) -> tuple:
    """A component's primary argument where the text writes its short form (`- linear: 16`
    for model.layers.0.out_features): the short form's key."""
    try:
        parent = _value_at(data, parts[:-1])
    except (KeyError, IndexError, TypeError):
        return parts
    if isinstance(parent, dict) and len(parent) == 1 and parts[-1] not in parent:
        (name,) = parent
        if isinstance(name, str) and primary(name) == parts[-1]:
            return parts[:-1] + (name,)
    return parts


def _nested(rest: tuple, value):
    for part in reversed(rest):
        value = {part: value}
    return value


def _value_at(data, path: tuple):
    for part in path:
        data = data[part]
    return data


def _flow(value) -> str:
    """``value`` as one line of YAML that reads back to it."""
    out = yaml.dump(value, Dumper=SpecDumper, default_flow_style=True, width=1 << 30).strip()
    return out[: -len("...")].strip() if out.endswith("...") else out


def _insert(text: str, span: _Span, data: dict, comment: str) -> str:
    """``data`` as block lines at the end of a block mapping, the first with ``comment``."""
    pos = span.last if span.last is not None else span.end
    if pos and text[pos - 1] != "\n":
        nl = text.find("\n", pos)
        if nl < 0:
            text, nl = text + "\n", len(text)
        pos = nl + 1
    indent = " " * (span.keycol or 0)
    lines = yaml.dump(data, Dumper=SpecDumper, sort_keys=False, default_flow_style=False).splitlines()
    lines[0] += f"  # {comment}"
    return text[:pos] + "".join(f"{indent}{line}\n" for line in lines) + text[pos:]


def _replace(text: str, span: _Span, value, comment: str) -> str:
    """The node's text replaced by ``value`` in flow form, with ``comment`` where the line
    ends there; an anchor it held moves to the first node aliasing it."""
    stop = span.last if span.kind in ("mapping", "sequence") and not span.flow and span.last else span.end
    own = text[span.start: stop]
    new = _flow(value)
    end = text.find("\n", stop)
    tail = text[stop: end if end >= 0 else len(text)]
    if not tail.strip():
        new += f"  # {comment}"
    out = text[: span.start] + new + text[stop:]
    if span.anchor is not None and span.kind != "alias":
        alias = re.compile(rf"\*{re.escape(span.anchor)}(?![^\s,\]}}])")
        at = alias.search(out, span.start + len(new))
        if at:  # the aliases keep the value the anchor had
            out = out[: at.start()] + own + out[at.end():]
    return out


def _drop(text: str, key: str) -> str:
    """``text`` without the top-level ``key`` (its lines, from the key to its value's end)."""
    spans = _spans(text)
    span, root = spans.get((key,)), spans.get(())
    if span is None:
        return text
    if root is None or root.flow:
        raise ValueError("a spec written as one flow mapping")
    start = text.rfind("\n", 0, span.keystart) + 1
    stop = span.last if span.kind != "scalar" and not span.flow and span.last else span.end
    end = text.find("\n", stop - 1 if text[stop - 1: stop] == "\n" else stop)
    return text[:start] + (text[end + 1:] if end >= 0 else "")
