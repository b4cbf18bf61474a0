"""Blocks: named, parameterised sub-networks used like layers.

Expansion works on plain data, before validation: a call ``residual: {c: 32, repeat: 2}``
becomes ``{type: call, block: residual, args: {c: 32}, repeat: 2, layers: [...]}``
whose layers are the block's definition with every ``$c`` replaced, carrying the
definition's source positions so that errors point into the block."""

from __future__ import annotations

import copy
import re

from ..components.base import REGISTRY
from ..components.names import is_ident, not_a_name
from ..errors import closest, did_you_mean
from .block_expr import ExprError, evaluate, is_expression, names_in
from .reader import Source

PARAM = re.compile(r"\$([A-Za-z][A-Za-z0-9_]{0,63})")  # always fullmatch: `$` would pass a final newline
MAX_DEPTH = 16
MAX_LAYERS = 100_000
RESERVED = ("name", "inputs", "repeat")
FAILED = {"type": "identity"}  # stands in for a call that failed, so errors do not cascade


class Expanded(dict):
    """A block call as the expander wrote it (``{type: call, block, args, layers}``).
    Only these are block calls: a ``type: call`` mapping in the spec's text is not, so
    the explicit form cannot skip the checks that calls by name go through."""


def call_of(item, blocks: dict):
    """(block name, arguments dict) when a layer item calls a block, else None."""
    blocks = {b for b in blocks if is_ident(b)}
    if isinstance(item, str):
        return (item, {}) if item in blocks else None
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("type"), str):
        return (item["type"], {k: v for k, v in item.items() if k != "type"}) if item["type"] in blocks else None
    keys = [k for k in item if k not in ("name", "inputs")]
    if len(keys) == 1 and keys[0] in blocks:
        args = item[keys[0]] if isinstance(item[keys[0]], dict) else {}
        return keys[0], {**args, **{k: item[k] for k in ("name", "inputs") if k in item}}
    return None


def _copy_positions(src: Source, old: tuple, new: tuple) -> None:
    for table in (src.pos, src.keypos, src.notes):
        for k in [k for k in table if k[: len(old)] == old]:
            table[new + k[len(old):]] = table[k]


class _Substitution:
    """Replaces ``$c`` and ``"$c * 6"`` in a block body by the call's arguments. Problems
    are reported at the call (``call``: its path) with a note at the definition, and each
    substituted value is located at the argument that gave it."""

    def __init__(self, block: str, args: dict, call: tuple, src: Source, issues: list):
        self.block, self.args, self.call, self.src, self.issues = block, args, call, src, issues
        self.used: set = set()
        self.reported: set = set()  # missing arguments already reported
        self.placed: list = []  # (path in the definition, the argument it came from)

    def error(self, where: tuple, message: str, arg: str | None = None, key: bool = False):
        at = self.call + (arg,) if arg is not None and arg in self.args else self.call
        issue = self.src.issue(at, message, self.block, key=key)
        f, line, col = self.src.locate(where)
        issue.notes.append((f, line, col, f"in the definition of block `{self.block}`"))
        self.issues.append(issue)

    def value(self, text: str, path: tuple):
        names = [m[1]] if (m := PARAM.fullmatch(text)) else names_in(text)
        missing = [n for n in names if n not in self.args]
        if missing:
            if missing[0] in self.reported:
                return text
            self.reported.add(missing[0])
            self.error(path, f"block `{self.block}` needs the argument `{missing[0]}`: call it as "
                       f"`{self.block}: {{{missing[0]}: ...}}`")
            return text
        self.used.update(names)
        self.placed.append((path, names[0] if len(set(names)) == 1 else None, text))
        if m:
            return copy.deepcopy(self.args[names[0]])
        try:
            return evaluate(text, self.args)
        except ExprError as e:
            self.error(path, str(e), e.arg or (names[0] if len(set(names)) == 1 else None))
            return text

    def __call__(self, node, path: tuple):
        if isinstance(node, str):
            return self.value(node, path) if PARAM.fullmatch(node) or is_expression(node) else node
        if isinstance(node, list):
            return [self(v, path + (i,)) for i, v in enumerate(node)]
        if isinstance(node, dict):
            return {k: self(v, path + (k,)) for k, v in node.items()}
        return node

    def locate_values(self, origin: tuple, new: tuple):
        """Point each substituted value at the call's argument, noting the definition;
        other problems inside the expansion stay in the definition, noting the call."""
        self.src.notes[new] = (self.src.locate(self.call), f"in block `{self.block}`, called here")
        for path, arg, text in self.placed:
            target = new + path[len(origin):]
            definition = self.src.locate(path)
            self.src.pos[target] = self.src.locate(self.call + ((arg,) if arg else ()))
            self.src.notes[target] = (definition, f"block `{self.block}` computes `{text}` here")


class Expander:
    def __init__(self, blocks: dict, src: Source, issues: list):
        self.blocks, self.src, self.issues = blocks, src, issues
        self.count = 0

    def check_definitions(self):
        for name, body in self.blocks.items():
            where = ("model", "blocks", name)
            if why := not_a_name(name, "block name"):
                self.issues.append(self.src.issue(where, why, key=True))
                continue
            if name in REGISTRY["layer"]:
                self.issues.append(self.src.issue(where, f"block name `{name}` is already a layer; "
                                                  "choose another name", key=True))
            if not isinstance(body, list) or not body:
                self.issues.append(self.src.issue(where, "a block is a non-empty list of layers"))

    def layers(self, items, path: tuple, stack: tuple = ()) -> list:
        """Expand the block calls in a list of layer items (recursively)."""
        if not isinstance(items, list):
            return items
        return [self.item(it, path + (i,), stack) for i, it in enumerate(items)]

    def item(self, item, path: tuple, stack: tuple):
        call = call_of(item, self.blocks)
        if call is None:
            return item
        block, args = call
        args = dict(args)
        if isinstance(item, dict) and "type" not in item:  # short form: arguments under the name
            _copy_positions(self.src, path + (block,), path)
        extra = {k: args.pop(k) for k in RESERVED if k in args}
        repeat = extra.get("repeat", 1)
        if block in stack:
            chain = " -> ".join((*stack[stack.index(block):], block))
            self.issues.append(self.src.issue(path, f"block `{block}` uses itself ({chain}); blocks "
                                              "cannot be recursive", block))
            return dict(FAILED)
        if len(stack) >= MAX_DEPTH:
            self.issues.append(self.src.issue(path, f"blocks nest deeper than {MAX_DEPTH} levels", block))
            return dict(FAILED)
        if not isinstance(repeat, int) or isinstance(repeat, bool) or not 1 <= repeat <= 1000:
            self.issues.append(self.src.issue(path + ("repeat",), f"repeat must be a whole number "
                                              f"from 1 to 1000, got {repeat!r}", block))
            return dict(FAILED)
        body = self.blocks[block]
        if not isinstance(body, list):
            return dict(FAILED)
        self.count += len(body) * repeat
        if self.count > MAX_LAYERS:
            self.issues.append(self.src.issue(path, f"the model expands to more than {MAX_LAYERS:,} "
                                              "layers; is a repeat too large?", block))
            return dict(FAILED)
        origin = ("model", "blocks", block)
        n_issues = len(self.issues)
        sub = _Substitution(block, args, path, self.src, self.issues)
        expanded = sub(copy.deepcopy(body), origin)
        if len(self.issues) > n_issues:
            return dict(FAILED)
        for name in args:
            if name not in sub.used:
                params = sorted(set(_params_in(body)))
                near = closest(name, RESERVED)  # `repeats`, `input`: a key every call takes
                sub.error(origin, f"block `{block}` takes no argument `{name}`"
                          + (f"; did you mean `{near}`?" if near else did_you_mean(name, params) if params
                             else "; it takes none"), name, key=True)
        if len(self.issues) > n_issues:
            return dict(FAILED)
        _copy_positions(self.src, origin, path + ("layers",))
        sub.locate_values(origin, path + ("layers",))
        return Expanded(type="call", block=block, args=args, **extra,
                        layers=self.layers(expanded, path + ("layers",), stack + (block,)))


def _params_in(node):
    if isinstance(node, str):
        return names_in(node)
    if isinstance(node, list):
        return [m for v in node for m in _params_in(v)]
    if isinstance(node, dict):
        return [m for v in node.values() for m in _params_in(v)]
    return []
