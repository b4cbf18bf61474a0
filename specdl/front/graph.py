"""Layers -> a DAG of named nodes, and static shape inference over it (no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..components.sequence import MaskError
from ..components.tensor import TT
from ..errors import ShapeError, SpecError, did_you_mean

INPUT = "input"


@dataclass
class Node:
    """One layer in the graph, with what shape inference found."""

    name: str
    layer: object               # the validated Layer component
    inputs: list[str]
    path: tuple                 # where it stands in the spec
    in_types: list[TT] = field(default_factory=list)
    out: TT | None = None
    subgraphs: list = field(default_factory=list)  # a block call: one graph per repeat

    @property
    def type(self) -> str:
        return kind_name(self.layer)

    def params(self) -> int:
        if self.subgraphs:
            return sum(g.total_params() for g in self.subgraphs)
        return self.layer.params_many(self.in_types) if self.out else 0

    def macs(self) -> int:
        if self.subgraphs:
            return sum(n.macs() for g in self.subgraphs for n in g.nodes)
        return self.layer.macs_many(self.in_types, self.out) if self.out else 0


@dataclass
class Graph:
    input: TT
    nodes: list[Node]
    sources: dict = field(default_factory=dict)  # name -> TT: `input`, or the named inputs (spec 12.3)

    def __post_init__(self):
        self.sources = self.sources or {INPUT: self.input}

    @property
    def named(self) -> bool:
        """Whether the graph's sources are named inputs (``forward(**inputs)``)."""
        return INPUT not in self.sources

    @property
    def output(self) -> Node:
        return self.nodes[-1]

    def consumers(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {k: [] for k in self.sources}
        for n in self.nodes:
            out.setdefault(n.name, [])
            for i in n.inputs:
                out.setdefault(i, []).append(n.name)
        return out

    def total_params(self) -> int:
        return sum(n.params() for n in self.nodes)


def kind_name(layer) -> str:
    """The layer's type as the user wrote it (a block call: the block's name)."""
    return layer.block if layer.structural else layer.type_name


def build_graph(layers, input_type: TT | dict, src, base_path=("model", "layers")) -> Graph:
    """Name the layers, resolve their inputs and infer every shape. ``input_type``: the
    type of ``input``, or the named inputs' (name -> TT, spec 12.3), the graph's sources.

    Raises SpecError with every independent problem (a failed layer makes its
    dependents unknown rather than reporting them again).
    """
    sources = input_type if isinstance(input_type, dict) else {INPUT: input_type}
    issues, nodes, where = [], [], {INPUT: None}
    names, first_at = _names(layers, sources, src, base_path, issues)
    types: dict[str, TT | None] = dict(sources)
    for i, (layer, name) in enumerate(zip(layers, names)):
        path = base_path + (i,)
        inputs = list(layer.inputs) if layer.inputs else [names[i - 1] if i else INPUT]
        node = Node(name, layer, inputs, path)
        nodes.append(node)
        bad = False
        for j, ref in enumerate(inputs):
            if ref in types:
                continue
            bad = True
            if ref == INPUT and INPUT not in sources:  # no `inputs:` on the first layer, or `input` named
                at = path + ("inputs", j) if layer.inputs else path
                issues.append(src.issue(at, "the model has named inputs (" + ", ".join(sources) + "), not one "
                                        f"`input`: say which this layer takes, e.g. `inputs: [{next(iter(sources))}]`",
                                        kind_name(layer)))
                continue
            if ref in first_at and first_at[ref] >= i:
                why = ("refers to itself" if first_at[ref] == i else
                       f"refers to `{ref}`, which comes later (layer {first_at[ref]}); a layer "
                       "can only take earlier layers as input, so this would be a cycle")
            else:
                why = f"no layer named `{ref}` before this one" + did_you_mean(ref, list(types))
            issues.append(src.issue(path + ("inputs", j), why, kind_name(layer)))
        arity = _arity(layer, len(inputs))
        if arity:
            issues.append(src.issue(path + ("inputs",), arity, kind_name(layer)))
            bad = True
        if bad or any(types.get(r) is None for r in inputs):
            types.setdefault(name, None)
            continue
        node.in_types = [types[r] for r in inputs]
        try:
            if layer.structural:
                node.out = _infer_block(node, src, issues)
            else:
                node.out = layer.infer_many(node.in_types)
        except ShapeError as e:
            hint = "" if isinstance(e, MaskError) else _ids_hint(node, sources)  # a mask's message says its fix
            issues.append(src.issue(path, str(e) + hint, kind_name(layer)))
        types.setdefault(name, node.out)
        where[name] = i
    if issues:
        raise SpecError(_dedupe(issues))
    return Graph(next(iter(sources.values())), nodes, dict(sources))


def _names(layers, sources, src, base_path, issues) -> tuple[list, dict]:
    """Each layer's name, and where each name is first given; a name given twice, or a
    source's (`input`, a named input), is an issue."""
    names = [ly.name or f"{kind_name(ly)}_{i}" for i, ly in enumerate(layers)]
    first_at = {}
    for i, (layer, name) in enumerate(zip(layers, names)):
        if name in first_at or name in sources or name == INPUT:
            also = f"the input `{name}` of data.inputs" if name in sources and name != INPUT else \
                f"layer {first_at.get(name, 'input')}"
            issues.append(src.issue(base_path + (i, "name"), f"duplicate layer name `{name}` (also "
                                    f"{also}); names must be unique", kind_name(layer)))
        first_at.setdefault(name, i)
    return names, first_at


def _ids_hint(node: Node, sources: dict) -> str:
    """For a float layer fed a named input of token ids (spec 12.4): what to put first."""
    ids = any(r != INPUT and r in sources and sources[r].dtype == "int64" for r in node.inputs)
    takes_ids = "int64" in getattr(node.layer, "dtypes", ()) or node.layer.structural
    return "; token ids are indices: put an embedding first" if ids and not takes_ids else ""


def _arity(layer, n: int) -> str | None:
    """What is wrong with giving ``layer`` n inputs, or None."""
    lo, hi = layer.min_inputs, layer.max_inputs
    if lo <= n <= (hi or n):
        return None
    want = (f"{lo}" if lo == hi else f"{lo} or more" if hi is None else f"{lo} to {hi}")
    said = f"takes {want} input{'s' if hi != 1 else ''}, got {n}"
    if n < lo:
        return f"{said}; list them, e.g. `inputs: [a, b]`"
    if layer.structural:
        return (f"{said}: a block has one input, its `input`; merge the tensors before the call "
                "(`concat`, then `narrow` them apart inside), or write the layers that take "
                "several inputs outside the block")
    return said


def _infer_block(node: Node, src, issues: list) -> TT | None:
    """Shapes through a block call: its body, once per repeat, each copy fed by the last."""
    x = node.in_types[0]
    for _ in range(node.layer.repeat):
        try:
            g = build_graph(node.layer.layers, x, src, node.path + ("layers",))
        except SpecError as e:
            issues.extend(e.issues)
            return None
        node.subgraphs.append(g)
        x = g.output.out
    return x


def _dedupe(issues):
    seen, out = set(), []
    for i in issues:
        if i.render() not in seen:
            seen.add(i.render())
            out.append(i)
    return out
