"""Data as written -> canonical data, keeping every source position: the three forms of
a component (``relu``, ``{linear: 50}``, ``{type: linear, out_features: 50}``) -> the
explicit one, with the unknown-component messages; the backbone sugar of ``model:``;
and the glue that expands block calls (blocks.py) and canonicalises every site."""

from typing import Any

from ..components.base import KINDS, REGISTRY
from ..components.scope import ALIASES as LAYER_ALIASES
from ..components.scope import unknown_layer
from ..errors import closest, did_you_mean
from . import habits
from .messages import short
from .reader import Source
from .sites import component_sites, is_expanded

BACKBONE_KEYS = ("torchvision", "weights", "num_classes", "freeze")
RESERVED_KEYS = ("name", "inputs")


def _user_types(kind: str, blocks=()) -> dict:
    """The names a spec may write for a component of ``kind``: the registry less its
    structural entries (a block call is written with the block's name), plus blocks."""
    reg = {t: c for t, c in REGISTRY[kind].items() if not getattr(c, "structural", False)}
    return {**reg, **{b: None for b in blocks}} if kind == "layer" else reg


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


_WHERE = {"layer": "model.layers", "loss": "loss", "optimizer": "optimizer", "scheduler": "scheduler",
          "metric": "metrics", "transform": "the data.transforms of tabular data (sklearn, csv, npz, synthetic)",
          "image_transform": "data.transforms or data.augment of images (image_folder, torchvision)"}
_NOT_LISTED = {("metric", "confusion_matrix"): "every classification run writes its confusion matrix "
               "(report.json, confusion.png, `specdl evaluate`); leave it out of metrics"}


def unknown_component(kind: str, name, reg, what: str, names=()) -> str:
    """``unknown <kind> `name```, with what to write instead: a did-you-mean or the list, and
    where the name belongs when it is a component of another kind (`normalize` in tabular
    transforms, `cross_entropy` in model.layers)."""
    noun = kind.replace("_", " ")
    if (kind, name) in _NOT_LISTED:
        return f"`{name}` is not {_a(noun)}: {_NOT_LISTED[kind, name]}"
    text = f"unknown {noun} `{name}`" + _unknown(kind, name, reg, what, names)
    other = next((k for k in KINDS if k != kind and isinstance(name, str) and name in REGISTRY[k]), None)
    if other:
        text += f" (`{name}` is {_a(other.replace('_', ' '))}: it belongs in {_WHERE[other]})"
    return text


def _what(value) -> str:
    """What a YAML value is, in the spec's words."""
    if value is None:
        return "nothing (null)"
    return {bool: "true/false", int: "a number", float: "a number", list: "a list"}.get(type(value), short(value))


def _move(src: Source, old: tuple, new: tuple):
    for table in (src.pos, src.keypos, src.notes):
        for k in [k for k in table if k[: len(old)] == old and k != old]:
            table[new + k[len(old):]] = table.pop(k)


def _short_form_name(noun: str, item: dict, path: tuple, src: Source, issues: list, reserved) -> str | None:
    """The one key of ``{name: argument}`` (besides name/inputs), or None, reported."""
    keys = [k for k in item if k not in reserved]
    if len(keys) == 1:
        return keys[0]
    typo = next((k for k in keys if closest(str(k), ["type"])), None)
    if typo is not None:
        issues.append(src.issue(path + (typo,), f"unknown key `{typo}`; did you mean `type`?", key=True))
    else:
        names = ", ".join(f"`{k}`" for k in keys) or "none"
        issues.append(src.issue(path, f"{_a(noun)} in short form has one key naming it "
                                f"(got {names}); or write `type: <{noun}>`"))
    return None


def _unknown(kind: str, name, reg, what: str, names=()) -> str:
    """The end of an unknown-component message: what the registry's tables of other names
    and out-of-scope constructs say (layers), else a did-you-mean."""
    known = unknown_layer(str(name), names) if kind == "layer" else habits.keras_metric(name) if kind == "metric" else None
    aliases = LAYER_ALIASES if kind == "layer" else habits.ALIASES.get(kind)
    return known or habits.spelled(name, reg, aliases) or did_you_mean(str(name), reg, what)


def canonicalize(kind: str, item, path: tuple, src: Source, issues: list, blocks=(), names=()) -> Any:
    """Turn ``relu`` / ``{linear: 50}`` / ``{type: linear, out_features: 50}`` into the
    explicit form, remapping positions so that later errors point at the user's text.
    Block calls (``blocks``: the spec's block names) keep their arguments flat; ``names``
    are the layer names written before it in its list."""
    if kind == "layer" and is_expanded(item):  # a block call, as the expander wrote it
        return type(item)(item)
    reg = _user_types(kind, blocks)
    reserved = RESERVED_KEYS if kind == "layer" else ()
    noun, what = kind.replace("_", " "), ("layers" if kind == "layer" else f"{kind}s")
    if isinstance(item, str):
        if item not in reg:
            issues.append(src.issue(path, unknown_component(kind, item, reg, what, names)))
            return None
        return {"type": item}
    if not isinstance(item, dict):
        issues.append(src.issue(path, f"{_a(noun)} is a name, `name: argument`, or a mapping with "
                                "`type`; got " + _what(item)))
        return None
    if "type" in item:
        t = item["type"]
        if not isinstance(t, str):
            issues.append(src.issue(path + ("type",), f"`type` is the name of {_a(noun)}, a string; got {_what(t)}"))
            return None
        if t not in reg:
            issues.append(src.issue(path + ("type",), unknown_component(kind, t, reg, what, names)))
            return None
        return dict(item)
    name = _short_form_name(noun, item, path, src, issues, reserved)
    if name is None:
        return None
    if name not in reg:
        issues.append(src.issue(path + (name,), unknown_component(kind, name, reg, what, names), key=True))
        return None
    arg = item[name]
    out = {"type": name, **{k: item[k] for k in reserved if k in item}}
    src.pos[path + ("type",)] = src.locate(path + (name,), key=True)
    if isinstance(arg, dict):
        _move(src, path + (name,), path)
        out.update(arg)
    elif arg is not None:
        primary = reg[name].primary if reg[name] is not None else None
        if primary is None:
            issues.append(src.issue(path + (name,), f"`{name}` takes no positional argument; "
                                    f"write its arguments as a mapping", component=name))
            return None
        src.pos[path + (primary,)] = src.locate(path + (name,))
        if path + (name,) in src.notes:  # a block's computed argument (blocks.py)
            src.notes[path + (primary,)] = src.notes[path + (name,)]
        _move(src, path + (name,), path + (primary,))
        out[primary] = arg
    return out


def blocks_of(data) -> dict:
    """The spec's ``model.blocks`` ({name: body}), or none."""
    m = data.get("model") if isinstance(data, dict) else None
    b = m.get("blocks") if isinstance(m, dict) else None
    return b if isinstance(b, dict) else {}


def _names_before(items, index) -> set:
    """The ``name``s of the layers before ``index`` in a list of layers."""
    if not isinstance(items, list) or not isinstance(index, int):
        return set()
    out = set()
    for it in items[:index]:
        inner = next(iter(it.values()), None) if isinstance(it, dict) and len(it) == 1 else None
        for d in (it, inner):
            if isinstance(d, dict) and isinstance(d.get("name"), str):
                out.add(d["name"])
    return out


def canonical_sites(src: Source, issues: list, keep_bad: bool = False) -> tuple[dict, list]:
    """A copy of the spec's data with every component in canonical form, and the paths
    of those that cannot be read (each reported once, in ``issues``): they become None,
    or stay as written with ``keep_bad``. Block bodies (template sites) stay as written:
    their layers are read in each call's expansion."""
    data = dict(src.data)
    blocks, failed = blocks_of(data), []
    for path, site in list(component_sites(data)):
        parent = data
        for p in path[:-1]:
            parent[p] = type(parent[p])(parent[p])  # a copy that keeps a block call's type
            parent = parent[p]
        out = canonicalize(site.kind, parent[path[-1]], path, src, issues, blocks, _names_before(parent, path[-1]))
        if site.kind == "layer" and isinstance(out, dict) and not keep_bad:
            from .inferred import take

            out = take(out, path, src)
        if out is None:
            failed.append(path)
        if out is not None or not keep_bad:
            parent[path[-1]] = out
    return data, failed


def desugar_backbone(src: Source, issues: list) -> dict:
    """``model: {torchvision: resnet18, weights: ..., num_classes: 10, freeze: backbone}``
    is the one-layer model ``layers: [{torchvision: {model: resnet18, ...}}]``."""
    data = dict(src.data)
    model = dict(data["model"])
    if "layers" in model:
        issues.append(src.issue(("model", "torchvision"), "give either `torchvision` (a backbone) "
                                "or `layers`; to add layers after a backbone, use a torchvision layer",
                                key=True))
        return data
    layer = {"type": "torchvision", "model": model.pop("torchvision")}
    for k in BACKBONE_KEYS[1:]:
        if k in model:
            layer[k] = model.pop(k)
    base = ("model", "layers", 0)
    for k in BACKBONE_KEYS:
        for table in (src.pos, src.keypos):
            if ("model", k) in table:
                table[base + ("model" if k == "torchvision" else k,)] = table[("model", k)]
    src.pos[base] = src.keypos.get(("model", "torchvision"), src.locate(("model",)))
    model["layers"] = [layer]
    data["model"] = model
    src.data = data
    return data


def expand_blocks(src: Source, blocks: dict, issues: list) -> dict:
    """Every block call in ``model.layers`` expanded (blocks.py), the definitions checked."""
    from .blocks import Expander

    data = dict(src.data)
    ex = Expander(blocks, src, issues)
    ex.check_definitions()
    model = dict(data["model"])
    model["layers"] = ex.layers(model.get("layers"), ("model", "layers"))
    data["model"] = model
    src.data = data
    return data

