"""The model classes of a generated script, as a person would write them: one class per
block definition, whose constructor takes what differs between its uses (the block's
parameters: ``Residual(16)``, ``Residual(32)``), then ``Model``.

Each use of a block is expanded and sized by the graph; its constructor calls come from
the registry (``Call``), as ``build`` makes them. The uses of one definition are compared
call by call: values that differ become constructor parameters, named after the block
argument they follow (else ``in_channels``/``in_features`` when they follow the input,
else ``<layer>_<argument>``). Uses whose structure differs (other layers, another
forward) get classes of their own, so the merge can never change the model."""

from __future__ import annotations

import builtins
import dataclasses
import keyword
import re
from dataclasses import dataclass, field

from ..components.call import Call, Name, literal
from ..front.graph import INPUT

# Names a forward() or __init__ reads besides its own variables: a layer output or a
# parameter never takes one of these (a layer named `max` gets `max_out`).
FORWARD_READS = frozenset({"x", "inp", "self", "torch", "nn", "F", "np", "math", "functools", "super"})


# Model's last constructor line where it takes named inputs: called on a batch of the loop
# (runtime/inputs.py's Inputs), it gets them as keyword arguments
KEYWORD_HOOK = "self.register_forward_pre_hook(keyword_inputs, with_kwargs=True)  # model(batch): forward(**batch)"


def camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_") if p) or "Block"


def safe_var(name: str, taken: set) -> str:
    """``name``, or ``name_out`` (then more ``_``) where it would shadow what code reads."""
    if name in FORWARD_READS or hasattr(builtins, name) or keyword.iskeyword(name):
        name = f"{name}_out"
    while name in taken:
        name += "_"
    return name


# ------------------------------------------------------------------ calls as leaves
def leaves_in(call: Call, path=()):
    """(path, value, the function of the call it is an argument of)."""
    for i, v in enumerate(call.args):
        yield from leaves_in(v, path + (i,)) if isinstance(v, Call) else [(path + (i,), v, call.fn)]
    for k, v in call.kwargs.items():
        yield from leaves_in(v, path + (k,)) if isinstance(v, Call) else [(path + (k,), v, call.fn)]


def skeleton(call: Call):
    """The call with its literal values left out: what two uses must share."""
    parts = [skeleton(v) if isinstance(v, Call) else None for v in call.args]
    kw = tuple((k, skeleton(v) if isinstance(v, Call) else None) for k, v in call.kwargs.items())
    return (call.fn, tuple(parts), kw)


def substitute(call: Call, names: dict, path=()) -> Call:
    """The call with the values at ``names``' paths replaced by those names."""
    def one(v, p):
        if isinstance(v, Call):
            return substitute(v, names, p)
        return Name(names[p]) if p in names else v
    return dataclasses.replace(call, args=tuple(one(v, path + (i,)) for i, v in enumerate(call.args)),
                               kwargs={k: one(v, path + (k,)) for k, v in call.kwargs.items()})


@dataclass
class Use:
    """One use of a block definition (one repeat of one call): its code with values."""

    args: dict                 # the call's block arguments
    input_shape: tuple
    init: list                 # [(attribute, Call or _Pending, layer)]
    forward: list              # [(line, output shape)]
    made: Call | None = None   # how the enclosing code constructs it (filled in later)
    sources: dict = field(default_factory=dict)  # the graph's sources: `input`, or the named inputs

    def key(self):
        return (tuple((a, skeleton(_resolved(c))) for a, c, _ in self.init), tuple(ln for ln, _ in self.forward))


@dataclass
class ModelWriter:
    """Writes the classes for an analysed graph; ``spec_names`` collects the names the
    spec put in the code (for codeguard)."""

    definitions: dict = field(default_factory=dict)   # block name -> its definition (for $param order)
    reserved: frozenset = frozenset()                 # class names taken by the rest of the script
    classes: list = field(default_factory=list)
    needs: set = field(default_factory=set)
    helpers: set = field(default_factory=set)
    spec_names: set = field(default_factory=set)
    _uses: dict = field(default_factory=dict)         # block -> [Use], in order of first use
    _params: dict = field(default_factory=dict)       # class written -> its parameter names

    def model(self, graph, outputs: tuple = ()) -> list[dict]:
        """The classes of the model (``outputs``: several outputs' head layers, which forward returns)."""
        top = self.use_of(graph, {}, outputs)
        for block, uses in self._uses.items():
            self.write_block(block, uses)
        self.add("Model", top, [], None, [top])
        return self.classes

    # -- one graph -> one Use, nested block calls recorded first (inner classes first)
    def use_of(self, graph, args: dict, outputs: tuple = ()) -> Use:
        init = [(n.name, self.constructor(n), n.layer) for n in graph.nodes if not n.layer.functional]
        self.spec_names |= {n.name for n in graph.nodes}
        return Use(args, graph.input.shape, init, self.forward(graph, outputs), sources=graph.sources)

    def constructor(self, node) -> Call:
        if node.subgraphs:
            made = []
            for g in node.subgraphs:
                use = self.use_of(g, dict(node.layer.args))
                self._uses.setdefault(node.layer.block, []).append(use)
                made.append(use)
            return _Pending(made)
        call = node.layer.ctor_many(node.in_types)
        self.needs |= {f"import {m}" for m in call.imports()}
        self.helpers |= set(node.layer.helpers) | call.helpers()
        if call.imports():  # user code (a module: target, a registered layer): its names
            self.spec_names |= {*call.fn.split("."), *call.kwargs}
        return call

    def forward(self, graph, outputs: tuple = ()) -> list:
        """forward's lines: ``x`` flows along a chain, a value taken later gets its name;
        named inputs (spec 12.3) are forward's parameters, under their own names; several
        outputs' heads (``outputs``) are returned, one value each."""
        consumers = graph.consumers()
        named = [k for k in graph.sources if graph.named]
        order = (named or [INPUT]) + [n.name for n in graph.nodes]
        taken = set(order) | FORWARD_READS
        var = {k: k for k in named}
        for i, name in enumerate(order[len(named):], len(named)):
            nxt = order[i + 1] if i + 1 < len(order) else None
            if (name not in outputs and consumers.get(name, []) == [nxt]) or nxt is None:
                var[name] = "x"
            else:
                var[name] = "inp" if name == INPUT else safe_var(name, taken - {name})
                taken.add(var[name])
        self.spec_names |= set(var.values())
        lines = [] if var.get(INPUT, "x") == "x" else [("inp = x", None)]
        for n in graph.nodes:
            args = [var[i] for i in n.inputs]
            self.needs |= set(n.layer.needs)
            code = ([f"{var[n.name]} = {n.layer.expr(*args)}"] if n.layer.functional
                    else n.layer.call_code(f"self.{n.name}", args, var[n.name]))
            lines += [(ln, None) for ln in code[:-1]] + [(code[-1], n.out.shape)]
        returned = ", ".join(var[h] for h in outputs) if outputs else var[graph.nodes[-1].name]
        return lines + [(f"return {returned}", None)]

    # -- the uses of one definition -> classes
    def write_block(self, block: str, uses: list) -> None:
        _align(uses)
        groups: dict = {}
        for use in uses:
            groups.setdefault(use.key(), []).append(use)
        for k, group in enumerate(groups.values()):
            params = self.parameters(block, group)
            name = self.class_name(camel(block) + (str(k + 1) if k else ""))
            self.add(name, group[0], params, block, group)

    def parameters(self, block: str, group: list) -> list:
        """[(name, values per use, [(attribute, path)])]: the positions whose value differs."""
        order = _params_in(self.definitions.get(block, []))
        groups: dict = {}  # values per use -> (candidate names, values, places): equal values, one parameter
        for i, (attr, _, _) in enumerate(group[0].init):
            vectors, fns = {}, {}
            for use in group:
                for path, v, fn in leaves_in(_resolved(use.init[i][1])):
                    vectors.setdefault(path, []).append(v)
                    fns[path] = fn
            for path, vals in vectors.items():
                key = tuple(literal(v) for v in vals)
                if len(set(key)) == 1:
                    continue
                arg = _block_arg(vals, group, order)  # the block argument these values follow
                inner = self._params.get(fns[path], [])  # an argument of a class of ours: its name there
                name = arg or (inner[path[-1]] if isinstance(path[-1], int) and path[-1] < len(inner)
                               else _name_for(attr, path, vals, group, order))
                entry = groups.setdefault(key, ([], vals, []))
                entry[0].append((name, arg is not None))
                entry[2].append((attr, path))
        out, taken = [], set(FORWARD_READS)
        # block arguments claim their names first; derived names give way (`c_`)
        for names, vals, places in sorted(groups.values(), key=lambda g: not any(a for _, a in g[0])):
            name = next((n for n, is_arg in names if is_arg), names[0][0])  # a block argument's name first
            name = safe_var(name, taken)
            taken.add(name)
            out.append((name, vals, places))
        return sorted(out, key=lambda p: order.index(p[0]) if p[0] in order else len(order))

    def add(self, name: str, first: Use, params: list, block, group: list) -> None:
        subs = {}
        for pname, _, places in params:
            for attr, path in places:
                subs.setdefault(attr, {})[path] = pname
        init = [f"self.{a} = {substitute(_resolved(c), subs.get(a, {})).code()}" for a, c, _ in first.init]
        named = {k: v for k, v in first.sources.items() if k != INPUT}  # forward's parameters (spec 12.6)
        init += [KEYWORD_HOOK] * bool(named)
        fwd = [(ln, _shape_text(i, first, group, params)) for i, (ln, _) in enumerate(first.forward)]
        width = max(len(ln) for ln, _ in fwd)
        forward = [(ln.ljust(width) + "  " + note).rstrip() if note else ln for ln, note in fwd]
        for j, use in enumerate(group):
            use.made = Call(name, tuple(vals[j] for _, vals, _ in params))
        names = [p for p, _, _ in params]
        self._params[name] = names
        self.spec_names |= {name, *names}
        doc = "The network that the `model` of the spec describes." if block is None else (
            f"Block `{block}` of the spec" + (f", built as {name}({', '.join(names)})." if names else "."))
        shape = _named_shapes(named) or "(" + ", ".join(_dims(first.input_shape, group, params, "input")) + ")"
        self.classes.append({"name": name, "doc": doc, "params": names, "init": init, "forward": forward,
                             "args": ", ".join(named) or "x", "input_shape": shape})

    def class_name(self, name: str) -> str:
        if name in self.reserved or name == "Model":  # a block `model`, `data_loader`...
            name += "Block"
        base, k = name, 2
        while name in {c["name"] for c in self.classes}:
            name, k = f"{base}{k}", k + 1
        return name


class _Pending:
    """A block call's constructor: known once the classes of its uses are written."""

    def __init__(self, uses: list):
        self.uses = uses


def _resolved(call):
    """A block call's constructor once its classes are written; other calls as they are."""
    if isinstance(call, _Pending):
        made = [u.made for u in call.uses]
        return made[0] if len(made) == 1 else Call("nn.Sequential", tuple(made))
    return call


def _align(uses: list) -> None:
    """Where uses call the same constructor with other keywords (``changed()`` leaves
    defaults out), give each the keywords it lacks at the layer's default, in the
    layer's field order, so that they compare position by position."""
    from pydantic_core import PydanticUndefined

    for i in range(len(uses[0].init)):
        rows = [u.init[i] for u in uses if len(u.init) > i]
        calls = [c for _, c, _ in rows]
        if any(not isinstance(c, Call) for c in calls) or len({c.fn for c in calls}) != 1:
            continue
        keys = {k for c in calls for k in c.kwargs}
        if all(set(c.kwargs) == keys for c in calls):
            continue
        for u in uses:
            attr, call, layer = u.init[i]
            fields = type(layer).model_fields
            if not all(k in call.kwargs or (k in fields and fields[k].default is not PydanticUndefined) for k in keys):
                continue  # no default to fill in: these uses stay apart
            kw = {**call.kwargs, **{k: fields[k].default for k in keys if k not in call.kwargs}}
            rank = {f: j for j, f in enumerate(fields)}
            kw = dict(sorted(kw.items(), key=lambda kv: rank.get(kv[0], len(rank))))
            u.init[i] = (attr, dataclasses.replace(call, kwargs=kw), layer)


def _params_in(node) -> list:
    """The $params of a block definition, in order of first appearance."""
    out: list = []
    if isinstance(node, str):
        from ..front.block_expr import names_in

        m = re.fullmatch(r"\$([A-Za-z][A-Za-z0-9_]*)", node)
        return [m[1]] if m else [n for n in names_in(node) if n] if "$" in node else []
    items = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for v in items:
        out += [p for p in _params_in(v) if p not in out]
    return out


def _block_arg(vals, group, order) -> str | None:
    """The block argument whose value, use by use, these values are."""
    for p in order:
        if all(p in u.args and literal(u.args[p]) == literal(v) for u, v in zip(group, vals)):
            return p
    return None


def _name_for(attr, path, vals, group, order) -> str:
    if (p := _block_arg(vals, group, order)) is not None:
        return p
    for dim, what in ((1, "in_channels"), (-1, "in_features")):
        if all(len(u.input_shape) > 1 and u.input_shape[dim] == v for u, v in zip(group, vals)):
            return what
    key = path[-1] if isinstance(path[-1], str) else f"arg{path[-1]}"
    return f"{attr}_{key}"


def _dims(shape, group, params, which, i=None) -> list:
    """A shape for a comment: a dimension that differs between uses is named after the
    parameter with the same values, else written ``?``."""
    out = []
    spatial = {4: "..HW", 5: ".DHW"}.get(len(shape), "")
    for d, v in enumerate(shape):
        vals = [u.input_shape[d] if which == "input" else u.forward[i][1][d] for u in group]
        if len(set(map(str, vals))) == 1:
            out.append(str(v))
            continue
        named = next((p for p, pv, _ in params if [str(x) for x in pv] == [str(x) for x in vals]), None)
        out.append(named or (spatial[d] if d < len(spatial) and spatial[d] != "." else "?"))
    return out


def _shape_text(i, first, group, params):
    shape = first.forward[i][1]
    return None if shape is None else "# (" + ", ".join(_dims(shape, group, params, "out", i)) + ")"


def _named_shapes(named: dict) -> str:
    """The comment on forward's named inputs, ``review: (N, 48), movie: (N)``; without the
    spaces in each shape where the line would pass 120 characters (ruff's line length)."""
    text = ", ".join(f"{k}: ({', '.join(map(str, v.shape))})" for k, v in named.items())
    if len(f"    def forward(self, {', '.join(named)}):  # {text}") > 120:
        return ", ".join(f"{k}: ({','.join(map(str, v.shape))})" for k, v in named.items())
    return text
