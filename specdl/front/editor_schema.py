"""A JSON Schema for spec files, for editors (the YAML language server) and CI linters,
generated from the pydantic models and the registry. It accepts the three component
forms (``relu``, ``linear: 50``, ``{type: linear, out_features: 50}``)."""

from __future__ import annotations

import copy
from typing import Union

from pydantic import TypeAdapter

from ..components.base import REGISTRY

RESERVED = ("name", "inputs")


def _forms(kind: str, defs: dict) -> dict:
    reg = REGISTRY[kind]
    variants: list = []
    bare = sorted(n for n, c in reg.items() if not any(f.is_required() for f in c.model_fields.values())
                  and not getattr(c, "structural", False))
    if bare:
        variants.append({"enum": bare, "description": f"a {kind} with its defaults"})
    for name, cls in sorted(reg.items()):
        if getattr(cls, "structural", False):
            continue
        title = cls.__name__
        args = copy.deepcopy(defs[title])
        args["properties"].pop("type", None)
        args["required"] = [r for r in args.get("required", []) if r != "type"]
        args["title"] = f"{name} arguments"
        defs[f"{title}Args"] = args
        variants.append({"$ref": f"#/$defs/{title}"})  # explicit: {type: name, ...}
        short = [{"$ref": f"#/$defs/{title}Args"}]
        if cls.primary:
            short.insert(0, copy.deepcopy(defs[title]["properties"][cls.primary]))
        one_key = {"type": "object", "required": [name], "additionalProperties": False,
                   "properties": {name: {"anyOf": short}}}
        if kind == "layer":
            one_key["properties"].update({k: defs[title]["properties"][k] for k in RESERVED})
        variants.append(one_key)
    if kind == "layer":  # a call of a block from model.blocks: its name, with its arguments
        variants.append({"type": "object", "minProperties": 1,
                         "propertyNames": {"not": {"enum": sorted(reg)}},
                         "description": "a call of a block defined under model.blocks"})
        variants.append({"type": "string", "not": {"enum": sorted(reg)},
                         "description": "a block (from model.blocks) with no arguments"})
    return {"anyOf": variants}


def spec_json_schema() -> dict:
    """The schema: the Spec model, every component field replaced by its three forms."""
    from .schema import spec_class

    schema = spec_class(heads=None).model_json_schema()  # one target or several
    defs = schema.setdefault("$defs", {})
    for kind in REGISTRY:
        members = tuple(REGISTRY[kind].values())
        extra = TypeAdapter(Union[members]).json_schema(ref_template="#/$defs/{model}")  # noqa: UP007
        defs.update(extra.get("$defs", {}))
    forms = {kind: _forms(kind, defs) for kind in REGISTRY}

    def kind_of(node: dict) -> str | None:
        disc = node.get("discriminator")
        if not isinstance(disc, dict) or disc.get("propertyName") != "type":
            return None
        names = set(disc.get("mapping", {}))
        return next((k for k in REGISTRY if names and names <= set(REGISTRY[k])), None)

    def walk(node):
        if isinstance(node, dict):
            kind = kind_of(node)
            if kind is not None:
                return copy.deepcopy(forms[kind])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out = walk(schema)
    out["$defs"] = walk(defs)
    tv = out["$defs"]["TorchvisionSpec"]["properties"]
    backbone = {"type": "object", "required": ["torchvision"], "additionalProperties": False,
                "description": "a torchvision backbone (shorthand for one torchvision layer)",
                "properties": {"torchvision": tv["model"], **{k: tv[k] for k in ("weights", "num_classes", "freeze")}}}
    out["$defs"]["Model"] = {"anyOf": [out["$defs"]["Model"], backbone]}
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["title"] = "specdl spec (version 1)"
    return out
