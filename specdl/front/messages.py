"""Pydantic's validation errors -> located, compiler-style issues: one per location,
none inside a component already reported, in the spec's words (`unknown argument`,
`must be a whole number, got ...`), with the did-you-means and habits of other tools."""

import re
import typing

from pydantic import BaseModel, ValidationError

from ..components.base import REGISTRY
from ..errors import Issue, closest, did_you_mean, format_path
from ..sources.csv_inputs import KINDS as INPUT_KINDS
from . import habits
from .schema import FORWARD
from .sites import kind_at, primary_of


def short(v) -> str:
    """A value as a message quotes it: its repr, cut to 60 characters."""
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _classes_in(ann) -> list:
    """BaseModel classes reachable in a field annotation."""
    origin = typing.get_origin(ann)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    name = ann.__forward_arg__ if isinstance(ann, typing.ForwardRef) else ann
    if isinstance(name, str) and name in FORWARD:  # a union spec_class resolves: every member
        return list(REGISTRY[FORWARD[name]].values())
    out = []
    for a in typing.get_args(ann) if origin is not None else ():
        out += _classes_in(a)
    return out


def _model_at(cls, loc: tuple, data):
    """The pydantic class describing the mapping at ``loc`` (None if not a model)."""
    node, cands = data, None
    for part in loc:
        if isinstance(part, int) or cls is None:
            node = node[part] if isinstance(node, (list, dict)) and _has(node, part) else None
            if isinstance(part, int) and cands:  # an item of a list: the class of that item
                cls = _pick(cands, node)
            continue
        field = cls.model_fields.get(part)
        node = node.get(part) if isinstance(node, dict) else None
        if field is None:
            return None
        cands = _classes_in(field.annotation)
        cls = _pick(cands, node)
    if isinstance(node, list):
        return None
    return cls


def _has(node, part):
    return (isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node)) or \
        (isinstance(node, dict) and part in node)


def _pick(cands, node):
    if not cands:
        return None
    if len(cands) == 1:
        return cands[0]
    if isinstance(node, list):
        node = node[0] if node else None
    for disc in ("type", "source"):
        if isinstance(node, dict) and disc in node:
            for c in cands:
                f = c.model_fields.get(disc)
                if f is not None and typing.get_args(f.annotation) == (node[disc],):
                    return c
    return None


_MEMBER = re.compile(r"(constrained-)?(int|float|str|bool|none|bytes)|(literal|list|dict|tuple|set)\[.*\]"
                     r"|is-instance\[.*\]|lax-or-strict\[.*\]|chain\[.*\]|nullable\[.*\]")


def _strip_tags(loc: tuple, data) -> tuple:
    """Drop the discriminator tags pydantic inserts in locations inside unions (a CSV
    input's tag is its kind, the key naming its column)."""
    out, node, tagged = [], data, None
    for i, part in enumerate(loc):
        tags = (node.get("type"), node.get("source"), *INPUT_KINDS) if isinstance(node, dict) else ()
        if part in tags and node is not tagged and (
                part not in node or (i + 1 < len(loc) and not _has(node[part], loc[i + 1]))):
            tagged = node  # one tag a mapping: the field named like it (`numeric: [..]`) follows
            continue  # the tag, also when the mapping has a key of that name (`linear: {linear: 3}`)
        if isinstance(part, str) and part.startswith(("function-", "json-or-python")):
            continue
        label = isinstance(part, str) and (not isinstance(node, dict) or (part not in node and _MEMBER.fullmatch(part)))
        if i and label:
            continue  # the label of a union's member (`bool`, `literal['auto']`), even below a mapping given in error
        out.append(part)
        node = node[part] if _has(node, part) else None
    return tuple(out)


def _component_at(loc: tuple, data) -> str | None:
    node, comp = data, None
    for part in loc:
        if not _has(node, part):
            break
        node = node[part]
        if isinstance(node, dict) and isinstance(node.get("type"), str):
            comp = node["type"]
    return comp


_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
_TYPES = {"int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
          "float_parsing": "a number", "float_type": "a number", "bool_parsing": "true or false",
          "bool_type": "true or false", "string_type": "a string", "list_type": "a list",
          "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
          "tuple_type": "a list", "too_short": None, "too_long": None}


def _message(err, cls, loc, data) -> tuple[str, bool]:
    """A compiler-style message for one pydantic error; True when it is about a key."""
    typ, last, ctx = err["type"], (loc[-1] if loc else None), err.get("ctx") or {}
    got = short(err.get("input"))
    if typ == "extra_forbidden":
        why = getattr(_model_at(cls, loc[:-1], data), "refused", {}).get(last)
        if why:
            return f"`{last}` is not offered: {why}", True
        fields = _fields_at(cls, loc[:-1], data)
        noun = "argument" if kind_at(loc[:-1], data) else "key"
        if primary := _own_name(loc, data):
            return (f"unknown argument `{last}`; its primary argument is `{primary}`: write `{last}: "
                    f"{short(err.get('input'))}` or `{last}: {{{primary}: {short(err.get('input'))}}}`"), True
        other = habits.unknown(format_path(loc[:-1]), last, err.get("input"), fields)
        return f"unknown {noun} `{last}`" + (f": {other}" if other else did_you_mean(str(last), fields)), True
    if typ == "missing":
        return f"missing required `{last}`", False
    if typ == "union_tag_not_found":
        disc = ctx.get("discriminator", "type").strip("'")
        return f"missing required `{disc}`", False
    if typ == "union_tag_invalid":
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        tag = ctx.get("tag", err.get("input"))
        return f"unknown value {short(tag)}" + did_you_mean(str(tag), tags), False
    if typ in _BOUNDS:
        limit = next(iter(ctx.values()))
        return f"must be {_BOUNDS[typ]} {limit}, got {got}", False
    if typ == "literal_error":
        close = closest(str(err.get("input")), re.findall(r"'([^']*)'", str(ctx.get("expected"))))
        return f"must be {ctx.get('expected')}, got {got}" + (f"; did you mean '{close}'?" if close else ""), False
    if typ in ("too_short", "too_long"):
        return f"needs {'at least' if typ == 'too_short' else 'at most'} {ctx.get('min_length', ctx.get('max_length'))} item(s), got {got}", False
    if typ in _TYPES:
        return f"must be {_TYPES[typ]}, got {got}" + habits.wrong_type(tuple(loc), err.get("input")), False
    if typ == "string_pattern_mismatch":
        return f"{got} is not allowed here: use letters, digits, `_`, `-` and `.`", False
    msg = err["msg"]
    if msg.lower().startswith("value error, "):
        return msg[len("value error, "):], False
    return f"{msg[0].lower() + msg[1:]}, got {got}", False


def _keys_outside_union(cls, loc, data) -> tuple[list, set]:
    """The keys of the mapping at ``loc`` that no variant of its union takes, and the
    keys the variants take."""
    parent = _model_at(cls, loc[:-1], data)
    field = parent.model_fields.get(loc[-1]) if parent else None
    node = data
    for p in loc:
        node = node[p] if _has(node, p) else None
    if field is None or not isinstance(node, dict):
        return [], set()
    allowed = {f for c in _classes_in(field.annotation) for f in c.model_fields}
    return [k for k in node if k not in allowed], allowed


def located_issues(e: ValidationError, cls, data, src, failed=()) -> list[Issue]:
    """Pydantic's errors as located issues, one per location; none inside a component
    that failed to canonicalise (``failed``: paths), already reported; no `missing
    required` for a field whose name an unknown key misspells, which says it."""
    by_loc: dict[tuple, list] = {}
    for err in e.errors(include_url=False):
        loc = _strip_tags(err["loc"], data)
        if not any(loc[:len(f)] == f for f in failed):
            by_loc.setdefault(loc, []).append(err)
    # a list given to an `int | list[int]` argument with a bad item: the item's error, not "must be a whole number"
    by_loc = {loc: errs for loc, errs in by_loc.items()
              if not (_scalar_type_error(errs) and any(o[:len(loc)] == loc and len(o) > len(loc) for o in by_loc))}
    errors = [(loc, errs[0]) for loc, errs in by_loc.items()]
    meant = {loc[:-1] + (_own_name(loc, data) or habits.meant(loc[-1], _fields_at(cls, loc[:-1], data))
                         or closest(str(loc[-1]), _fields_at(cls, loc[:-1], data)),)
             for loc, err in errors if err["type"] == "extra_forbidden"}
    out = []
    for loc, err in errors:
        if err["type"] == "union_tag_not_found":  # without its discriminator: keys against every variant
            disc = str((err.get("ctx") or {}).get("discriminator", "type")).strip("'")
            unknown, allowed = _keys_outside_union(cls, loc, data)
            if not any(closest(str(k), allowed) == disc for k in unknown):
                out.append(src.issue(loc, _message(err, cls, loc, data)[0], _component_at(loc, data)))
            out += [src.issue(loc + (k,), f"unknown key `{k}`" + did_you_mean(str(k), allowed), key=True)
                    for k in unknown]
        elif err["type"] != "missing" or loc not in meant:
            msg, at_key = _either([_message(e, cls, loc, data) for e in by_loc[loc]])
            msg += habits.value_hint(loc, err.get("input"))
            at = _at_tag(err, loc, src)
            if at[-1:] == ("[key]",):  # a mapping's key refused (a named input's name): at the key
                at, at_key = at[:-1], True
            out.append(src.issue(at, msg, _component_at(loc, data), key=at_key))
    return out


def _at_tag(err, loc: tuple, src) -> tuple:
    """An unknown discriminator (`source: sklearnx`) is located at its value, not at the mapping."""
    if err["type"] != "union_tag_invalid":
        return loc
    disc = str((err.get("ctx") or {}).get("discriminator", "type")).strip("'")
    return loc + (disc,) if loc + (disc,) in src.pos else loc


def _own_name(loc: tuple, data) -> str | None:
    """The primary argument, when an unknown key repeats its component's name (`linear: {linear: 3}`)."""
    return primary_of(loc[-1]) if loc and loc[-1] == _component_at(loc[:-1], data) else None


def _scalar_type_error(errs: list) -> bool:
    return all(e["type"].endswith(("_type", "_parsing")) or e["type"] in ("literal_error", "int_from_float")
               for e in errs)


def _either(messages: list[tuple[str, bool]]) -> tuple[str, bool]:
    """One message for a value that no member of a union takes (`true or false` and
    `'auto'`): "must be A, or B, got X"; else the first member's."""
    parts = [m[len("must be "):].rpartition(", got ") for m, _ in messages if m.startswith("must be ")]
    if len(messages) > 1 and len(parts) == len(messages) and all(sep for _, sep, _ in parts):
        guess = next((g[g.index("; did you mean"):] for _, _, g in parts if "; did you mean" in g), "")
        got = parts[0][2].split("; did you mean")[0]
        return f"must be {', or '.join(want for want, _, _ in parts)}, got {got}{guess}", False
    return messages[0]


def _fields_at(cls, loc: tuple, data) -> list[str]:
    """The arguments (or keys) the mapping at ``loc`` takes."""
    model = _model_at(cls, loc, data)
    return [f for f in (model.model_fields if model else []) if f != "type"]
