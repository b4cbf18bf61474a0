"""Named inputs in ``check`` (spec 12.3-12.4): the graph's sources made from the data's
named inputs, and what check proves of them besides the shapes: every input is taken by
some layer, ``model.input`` is not given beside them, an embedding fed an input covers
its ids."""

from __future__ import annotations

from ..components.tensor import TT
from ..errors import Issue


def graph_sources(info) -> dict | None:
    """name -> TT of the named inputs ([N, *shape]), in forward's order; None for one input."""
    if not info.inputs:
        return None
    return {i.name: TT(("N", *i.feat), i.dtype, None if i.max_token is None else i.max_token + 1) for i in info.inputs}


def exclusive_issues(spec, src) -> list[Issue]:
    """A single-input key of the source given beside ``data.inputs`` (spec 12.1: exclusive)."""
    keys = getattr(spec.data, "exclusive_keys", list)()
    what = {"synthetic": "shape and dtype", "npz": "array"}.get(spec.data.source, "columns")
    return [src.issue(("data", k), f"`{k}` and `inputs` cannot both be given: " + (
        "named inputs take no source-level transforms" if k == "transforms" else
        f"with named inputs, each input says its own {what}"), key=True) for k in keys]


def input_issues(spec, info, graph, src) -> list[Issue]:
    """What is wrong with the named inputs of an analysed spec (none for one input)."""
    if not info.inputs:
        return []
    issues = []
    if spec.model.input is not None:
        issues.append(src.issue(("model", "input"), "model.input and data.inputs cannot both be given: each named "
                                "input has its own shape; leave model.input out"))
    takers = graph.consumers()
    issues += [src.issue(("data", "inputs", name), f"input {name} is declared but no layer takes it; remove it "
                         "or add it to a concat", key=True) for name in graph.sources if not takers.get(name)]
    tops = {i.name: i.max_token for i in info.inputs}
    for n in graph.nodes:
        top = tops.get(n.inputs[0]) if n.type == "embedding" else None
        if top is not None and n.layer.num_embeddings is not None and top >= n.layer.num_embeddings:
            issues.append(src.issue(n.path + ("num_embeddings",), f"the input {n.inputs[0]} holds token ids up to "
                                    f"{top}, but num_embeddings is {n.layer.num_embeddings}; use {top + 1} or more",
                                    "embedding"))
    return issues
