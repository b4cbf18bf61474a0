"""Safe YAML -> plain data plus the source position of every node; dotted overrides.

Only PyYAML's safe node types are accepted: any other tag (``!!python/object``...)
is a located error, never constructed. Aliases are expanded with a node budget so
that an alias bomb is an error, not a memory blow-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import Issue, SpecError, did_you_mean, format_path, no_such

MAX_NODES = 200_000
MAX_DEPTH = 100
_SAFE_TAGS = {
    "tag:yaml.org,2002:" + t
    for t in ("str", "int", "float", "bool", "null", "seq", "map")
}
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
Pos = tuple  # (file, line, col), 1-based


@dataclass
class Source:
    """Plain data read from YAML, with where each value (and each mapping key) stands."""

    data: Any
    file: str = "<spec>"
    pos: dict = field(default_factory=dict)     # path -> Pos of the value
    keypos: dict = field(default_factory=dict)  # path -> Pos of the key naming it
    inferred: dict = field(default_factory=dict)  # layer path -> [(argument, input, dim, value)] written by hand
    notes: dict = field(default_factory=dict)   # path -> (Pos, text): a note for issues under it

    def locate(self, path: tuple, key: bool = False) -> Pos:
        """The position of ``path``, or of its nearest located ancestor."""
        path = tuple(path)
        if key and path in self.keypos:
            return self.keypos[path]
        for n in range(len(path), -1, -1):
            if path[:n] in self.pos:
                return self.pos[path[:n]]
        return (self.file, 1, 1)

    def issue(self, path, message, component=None, key=False, severity="error") -> Issue:
        f, line, col = self.locate(path, key=key)
        path = tuple(path)
        # a key's problem is not its value's: a note on the value (a block computed it) is not its note
        top = len(path) - 1 if key else len(path)
        note = next((self.notes[path[:n]] for n in range(top, 0, -1) if path[:n] in self.notes), None)
        notes = [(*note[0], note[1])] if note else []
        return Issue(path, message, component, severity, f, line, col, notes)


class SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-3`` as a float as YAML 1.2 does (YAML 1.1
    wants ``1.0e-3`` and would read a string)."""


EXP_FLOAT = re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?[eE][-+]?\d+$")  # 1e-3, as YAML 1.2 reads it
SpecLoader.add_implicit_resolver("tag:yaml.org,2002:float", EXP_FLOAT, list("-+0123456789."))


class SpecDumper(yaml.SafeDumper):
    """PyYAML's safe dumper, resolving plain scalars as SpecLoader does: a string that
    the loader would read as something else (`1e3`, `yes`, `null`, `2024-01-01`) is
    written quoted, so spec.yaml in a run directory reads back to the same spec."""


SpecDumper.add_implicit_resolver("tag:yaml.org,2002:float", EXP_FLOAT, list("-+0123456789."))


def dump_yaml(data) -> str:
    # non-ASCII is escaped: YAML reads some characters (NEL, LS, PS) raw as line breaks
    return yaml.dump(data, Dumper=SpecDumper, sort_keys=False, default_flow_style=None)


_NO_KEY = object()  # a mapping key that is no name (said where it stands)


class _Reader:
    def __init__(self, file: str):
        self.file = file
        self.pos: dict = {}
        self.keypos: dict = {}
        self.issues: list[Issue] = []
        self.count = 0
        self.constructor = SpecLoader("")

    def where(self, node) -> Pos:
        return (self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def fail(self, path, node, message):
        self.issues.append(Issue(tuple(path), message, None, "error", *self.where(node)))

    def read(self, node, path: tuple, depth: int = 0):
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(node)
        if depth > MAX_DEPTH:
            raise _TooBig(node, f"nesting deeper than {MAX_DEPTH} levels")
        self.pos.setdefault(path, self.where(node))
        if node.tag == _TIMESTAMP and node.style is None:  # 2024-01-01: YAML reads a date
            self.fail(path, node, f"`{node.value}` reads as a date; specs hold plain data "
                      f"(strings, numbers, booleans, lists and mappings): quote it, \"{node.value}\", for a string")
            return None
        if node.tag not in _SAFE_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            self.fail(path, node, f"YAML tag `{tag}` is not allowed; specs are plain data "
                      "(strings, numbers, booleans, lists and mappings)")
            return None
        if isinstance(node, yaml.ScalarNode):
            try:
                value = self.constructor.construct_object(node, deep=True)
                if isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**63:
                    self.fail(path, node, f"{node.value} is out of range: torch's whole numbers are 64-bit "
                              "(at most 9223372036854775807 either way)")
                    return None
                return value
            except yaml.YAMLError as e:
                self.fail(path, node, f"invalid value: {getattr(e, 'problem', e)}")
            except ValueError:  # Python's limit on digits in an int (sys.get_int_max_str_digits)
                self.fail(path, node, f"a number of {len(node.value)} characters is too long to read; "
                          "write it in scientific notation (e.g. 1e30) or shorter")
            return None
        if isinstance(node, yaml.SequenceNode):
            return [self.read(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        return self._mapping(node, path, depth)

    def _mapping(self, node, path: tuple, depth: int) -> dict:
        """A mapping's keys and values; `<<` merges fill the keys it does not give."""
        out: dict = {}
        merged: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for src in sources:
                    value = self.read(src, path, depth + 1)
                    if isinstance(value, dict):
                        for k, v in value.items():
                            merged.setdefault(k, v)
                    else:
                        self.fail(path, src, "a `<<` merge takes a mapping")
                continue
            key = self._key(key_node, path, depth)
            if key is _NO_KEY:
                continue
            if key in out:
                first = self.keypos[path + (key,)]
                self.fail(path + (key,), key_node,
                          f"duplicate key `{key}` (first given at line {first[1]}); keep one")
                continue
            self.keypos[path + (key,)] = self.where(key_node)
            out[key] = self.read(value_node, path + (key,), depth + 1)
        for k, v in merged.items():
            out.setdefault(k, v)
        return out

    def _key(self, key_node, path: tuple, depth: int):
        """A mapping's key, or _NO_KEY (said where it stands) for one that is no name."""
        key = self.read(key_node, path + ("<key>",), depth + 1)
        if isinstance(key, bool):  # `yes:`, `on:`, `no:` naming a target or an input: YAML 1.1 reads a boolean
            self.fail(path + (key_node.value,), key_node, f"the key `{key_node.value}` reads as "
                      f"{str(key).lower()} (YAML 1.1); quote it, \"{key_node.value}\", for a name")
            return _NO_KEY
        if isinstance(key, (dict, list)) or key is None:
            self.fail(path, key_node, "mapping keys must be plain names")
            return _NO_KEY
        return key


class _TooBig(Exception):
    def __init__(self, node, why=f"more than {MAX_NODES:,} nodes (an alias bomb?)"):
        self.node, self.why = node, why


_DASH = re.compile(r"^\s*-[^\s-]")  # `-relu`: a list item without its space


def _syntax_hint(text: str, line: int, col: int = 0) -> str:
    """The likely cause of a YAML syntax error at ``line`` (and ``col``), where it is a slip
    that YAML reports elsewhere: a list item without the space after `-`, a tab in the
    indentation, or a tab between the items of a flow mapping (`{text: text,\ttokenizer: chars}`)."""
    lines = text.splitlines()[:line]
    if lines and 0 < col <= len(lines[-1]) and lines[-1][col - 1] == "\t" and lines[-1][:col - 1].strip():
        return "; replace this tab with a space: YAML separates with spaces"
    dash = [i for i, s in enumerate(lines, 1) if _DASH.match(s)]
    if dash:
        return f"; line {dash[-1]}: a list item needs a space after `-` (`- relu`)"
    tab = [i for i, s in enumerate(lines, 1) if s[: len(s) - len(s.lstrip())].count("\t")]
    if tab:
        return f"; line {tab[-1]} is indented with a tab: YAML indents with spaces"
    return ""


def read_yaml(text: str, file: str = "<spec>") -> Source:
    """Parse YAML text safely into a :class:`Source`; raise SpecError on any problem."""
    reader = _Reader(file)
    try:
        node = yaml.compose(text, Loader=SpecLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = " ".join(str(x) for x in (e.context, e.problem) if x) + _syntax_hint(text, line, col)
        raise SpecError([Issue((), f"YAML syntax error: {msg}", None, "error", file, line, col)]) from None
    except yaml.reader.ReaderError as e:  # a character YAML does not allow (NUL, ESC, ...)
        line = text.count("\n", 0, e.position) + 1
        col = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        raise SpecError([Issue((), f"character U+{e.character:04X} is not allowed in YAML; remove it (a "
                               "control character in a string is written escaped, \"\\x07\")", None, "error",
                               file, line, col)]) from None
    except yaml.YAMLError as e:
        raise SpecError([Issue((), f"YAML error: {e}", None, "error", file, 1, 1)]) from None
    except RecursionError:
        line, col = _too_deep(text)
        raise SpecError([Issue((), f"the spec is too large: nesting deeper than {MAX_DEPTH} levels",
                               None, "error", file, line, col)]) from None
    if node is None:
        raise SpecError([Issue((), "the spec is empty; a spec is a mapping with at least "
                               "`data`, `model` and `loss`", None, "error", file, 1, 1)])
    try:
        data = reader.read(node, ())
    except _TooBig as e:
        raise SpecError([Issue((), f"the spec is too large: {e.why}", None, "error",
                               *reader.where(e.node))]) from None
    if reader.issues:
        raise SpecError(reader.issues)
    return Source(data, file, reader.pos, reader.keypos)


def _too_deep(text: str) -> tuple[int, int]:
    """Where the nesting of ``text`` first passes MAX_DEPTH (the scanner does not recurse)."""
    depth = 0
    starts = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
              yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
    try:
        for tok in yaml.scan(text, Loader=SpecLoader):
            if isinstance(tok, starts):
                depth += 1
                if depth > MAX_DEPTH:
                    return tok.start_mark.line + 1, tok.start_mark.column + 1
            elif isinstance(tok, (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)):
                depth -= 1
    except yaml.YAMLError:
        pass
    return 1, 1


def read_file(path) -> Source:
    """A spec file: a regular file of at most SPEC_LIMIT bytes of UTF-8 (docs/reliability.md)."""
    from ..files import SPEC_LIMIT, file_problem

    p = Path(path)
    why = file_problem(p, SPEC_LIMIT)
    if why:
        why = no_such(p, "the spec file") if why.startswith("no such file") else why
        raise SpecError([Issue((), why, None, "error", str(p), 1, 1)])
    try:
        raw = p.read_bytes()
        text = raw.decode("utf-8")
    except OSError as e:
        raise SpecError([Issue((), f"cannot read the spec: {e.strerror or e}", None, "error", str(p), 1, 1)]) from None
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise SpecError([Issue((), f"the spec is not UTF-8 text (byte 0x{raw[e.start]:02x}); save it as UTF-8",
                               None, "error", str(p), line, col)]) from None
    return read_yaml(text, str(p))


def apply_overrides(src: Source, overrides, primary=None, arguments=None) -> None:
    """Apply ``a.b.c=value`` overrides (YAML-typed values) in place, recording their origin.

    ``primary(type)``: the argument a component's short form sets (``linear`` ->
    ``out_features``), so that ``model.layers.0.linear=64`` means what ``- linear: 64`` does.
    ``arguments(type)``: a component's arguments, None for a name no component has; a
    segment naming another component than the spec's (`optimizer.adam.lr` where the
    optimizer is adamw) is refused by name."""
    issues = []
    for n, text in enumerate(as_list(overrides), 1):
        origin = f"<override {n}: {text}>"
        dotted, eq, raw = str(text).partition("=")
        problem = _override_problem(text, dotted, eq)
        if problem:
            issues.append(Issue((), problem, None, "error", origin, 1, 1))
            continue
        try:
            value = read_yaml(raw, origin).data if raw.strip() else None
        except SpecError as e:
            issues.extend(e.issues)
            continue
        parts = _override_path(src.data, dotted, primary)
        problem = (_other_component(src.data, dotted, arguments) or _unknown_input(src.data, parts, dotted)
                   or _set(src.data, parts, value, dotted))
        if problem is not None:
            issues.append(Issue(problem[0], problem[1], None, "error", origin, 1, 1))
            continue
        full = tuple(parts)
        for k in [k for k in src.pos if k[: len(full)] == full]:
            del src.pos[k]
        src.pos[full] = (origin, 1, len(dotted) + 2)
        src.keypos[full] = (origin, 1, 1)
        for i in range(1, len(full)):  # what the override made (the file has no such key) is its own
            src.pos.setdefault(full[:i], (origin, 1, 1))
            src.keypos.setdefault(full[:i], (origin, 1, 1))
    if issues:
        raise SpecError(issues)


def as_list(overrides) -> list:
    """``overrides`` as a list: one string is one override, not one per character."""
    if overrides is None or isinstance(overrides, str):
        return [overrides] if overrides else []
    if isinstance(overrides, (bytes, dict)) or not hasattr(overrides, "__iter__"):
        raise SpecError([Issue((), "overrides are a list of `dotted.path=value` strings, e.g. "
                                   f"['train.epochs=3'], not {type(overrides).__name__}",
                               None, "error", "<overrides>", 1, 1)])
    return list(overrides)


def _override_problem(text, dotted: str, eq: str) -> str | None:
    """Why ``text`` is no override: not a string, no ``=``, no path, or an empty segment."""
    if not isinstance(text, str):
        return f"an override is a string `dotted.path=value`, e.g. train.epochs=3, not {type(text).__name__}"
    if not eq or not dotted.strip():
        return "an override is `dotted.path=value`, e.g. train.epochs=3"
    if any(not part.strip() for part in dotted.strip().split(".")):
        return f"the override path `{dotted.strip()}` has an empty segment; write `dotted.path=value`, e.g. train.epochs=3"
    return None


def _override_path(data, dotted: str, primary) -> list:
    """The path a dotted key names. In canonical data a component is ``{type: adamw,
    lr: ...}``: a segment naming the component's own type (optimizer.adamw.lr) is
    skipped, and as the last segment it names the short form's primary argument."""
    parts = [int(p) if p.lstrip("-").isdigit() else p for p in dotted.strip().split(".")]
    node, kept = data, []
    for i, part in enumerate(parts):
        if isinstance(node, dict) and node.get("type") == part and part not in node:
            if i == len(parts) - 1 and primary is not None and primary(part):
                kept.append(primary(part))
            continue
        kept.append(part)
        node = node.get(part) if isinstance(node, dict) else (
            node[part] if isinstance(node, list) and isinstance(part, int)
            and -len(node) <= part < len(node) else None)
    return kept


def _other_component(data, dotted: str, arguments) -> tuple | None:
    """(path, message) when a segment of ``dotted`` names another component than the one
    the spec has there: "the optimizer is `adamw`, not `adam`", "layer 1 is `relu`"."""
    parts = [int(p) if p.lstrip("-").isdigit() else p for p in dotted.strip().split(".")]
    node, path = data, ()
    for i, part in enumerate(parts):
        own = node.get("type") if isinstance(node, dict) else None
        args = arguments(own) if arguments and isinstance(own, str) and part != own and part not in node else None
        if args is not None and part not in args and arguments(str(part)) is not None:
            return path, _other_message(data, dotted, path, own, part, parts[i + 1:], args)
        node = node.get(part) if isinstance(node, dict) else (
            node[part] if isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node) else None)
        path += (part,)
    return None


def _unknown_input(data, parts: list, dotted: str) -> tuple | None:
    """(path, message) when ``parts`` sets a setting of a named input the spec does not have
    (`data.inputs.reveiw.length`; a whole new input, `data.inputs.extra={...}`, is allowed)."""
    inputs = data.get("data", {}).get("inputs") if isinstance(data.get("data"), dict) else None
    if len(parts) < 4 or parts[:2] != ["data", "inputs"] or not isinstance(inputs, dict) or parts[2] in inputs:
        return None
    return ("data", "inputs", parts[2]), (f"cannot set `{dotted}`: data.inputs has no input `{parts[2]}`"
                                          + did_you_mean(str(parts[2]), list(inputs)))


def _other_message(data, dotted, path, own, part, rest, args) -> str:
    what = f"the {path[0]}" if len(path) == 1 else f"layer {path[-1]}" if path[-2:-1] == ("layers",) else \
        format_path(path)
    msg = f"cannot set `{dotted}`: {what} is `{own}`, not `{part}`"
    siblings = _parent(data, path[:-1]) if path and isinstance(path[-1], int) else None
    at = [j for j, s in enumerate(siblings or []) if isinstance(s, dict) and s.get("type") == part]
    if at:
        return msg + f"; the `{part}` layer is {format_path(path[:-1] + (at[0],))}: write " \
                     f"`{'.'.join(map(str, path[:-1] + (at[0], part, *rest)))}`"
    if siblings is not None:
        return msg + f"; no layer of {format_path(path[:-1])} is a `{part}`"
    if rest and rest[0] in args:
        return msg + f"; write `{'.'.join(map(str, (*path, own, *rest)))}`"
    return msg + f" (`{own}` takes {', '.join(sorted(args - {'type', 'name'})) or 'no arguments'})"


def _parent(data, path):
    for part in path:
        data = data.get(part) if isinstance(data, dict) else data[part] if isinstance(data, list) else None
    return data if isinstance(data, list) else None


def _set(data, parts: list, value, dotted: str):
    """Set ``value`` at ``parts`` (making missing mappings on the way); (path, message)
    when the path cannot exist."""
    node, path = data, ()
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(node, dict):
            if isinstance(node.get(part), str) and node[part] == nxt:
                node[part] = {nxt: {}}          # `optimizer: adam` + optimizer.adam.lr=...
            if part not in node or node[part] is None:
                node[part] = {}
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node):
            if isinstance(node[part], str) and node[part] == nxt:
                node[part] = {nxt: {}}
            node = node[part]
        else:
            return tuple(parts[: i + 1]), f"cannot set `{dotted}`: {format_path(path) or 'the spec'} has no `{part}`"
        path = path + (part,)
    last = parts[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and -len(node) <= last < len(node):
        node[last] = value
    else:
        return tuple(parts), f"cannot set `{dotted}` here"
    return None
