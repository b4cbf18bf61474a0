"""The closed-world pydantic schema of a spec, and the step before it that turns the
three component forms into the canonical one (keeping every source position)."""


import os
import re
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from . import components  # noqa: F401  (fills the registry)
from .components.base import GENERATION, REGISTRY, NonNegFloat, NonNegInt, PosFloat, PosInt
from .errors import Issue, SpecError, did_you_mean, format_path
from .source import Source

VERSION = 1
IMAGE_SOURCES = ("image_folder", "torchvision")
BACKBONE_KEYS = ("torchvision", "weights", "num_classes", "freeze")
RESERVED_KEYS = ("name", "inputs")
# intra-op threads: more than a few per core only slows a run down (and is usually a typo)
MAX_THREADS = 4 * (os.cpu_count() or 1)
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d{1,3})?")  # fullmatch


class Base(BaseModel):
    # strict: a bool or a string where a number belongs is an error, not 1 or 3;
    # no inf/nan: every number of a spec is finite (docs/spec.md)
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), strict=True, allow_inf_nan=False)


class Checkpoint(Base):
    """Which validation value picks the best epoch, and how often checkpoints are written."""

    monitor: str = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"
    interval: NonNegFloat = 10.0  # seconds between writes of last.pt (0: every epoch)


class EarlyStopping(Base):
    monitor: str = "val_loss"
    patience: PosInt = 10
    mode: Literal["auto", "min", "max"] = "auto"
    min_delta: NonNegFloat = 0.0


class Distributed(Base):
    """How the model is spread over the ranks under torchrun."""

    strategy: Literal["ddp", "fsdp"] = "ddp"


class Train(Base):
    epochs: PosInt = 10
    batch_size: PosInt = 32
    eval_batch_size: PosInt | None = None
    device: str = Field("auto", json_schema_extra={"pattern": f"^({_DEVICE.pattern})$"})
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    compile: bool = False
    channels_last: bool | Literal["auto"] = "auto"  # NHWC weights: auto = where measured to pay off
    grad_clip: PosFloat | None = None
    accumulate: PosInt = 1
    early_stopping: EarlyStopping | None = None
    checkpoint: Checkpoint = Checkpoint()
    deterministic: bool = False
    num_workers: NonNegInt | Literal["auto"] = "auto"  # auto: up to 4 on a GPU, none on the CPU
    threads: PosInt | Literal["auto"] = "auto"
    tensorboard: bool = False  # also write TensorBoard event files (needs `pip install tensorboard`)
    # binary (one logit) and multilabel: a label is 1 where its probability reaches this
    threshold: float = Field(0.5, gt=0.0, lt=1.0)
    distributed: Distributed = Distributed()

    @property
    def eval_chunk(self) -> int:
        """Samples per evaluation forward pass: eval_batch_size, or max(batch_size, 1024)."""
        return self.eval_batch_size or max(self.batch_size, 1024)

    @field_validator("threads")
    @classmethod
    def _threads(cls, v):
        if v != "auto" and v > MAX_THREADS:
            raise ValueError(f"{v} threads on a machine with {os.cpu_count()} cores only slows training down; "
                             f"use at most {MAX_THREADS}, or auto")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v):
        if not _DEVICE.fullmatch(v):
            raise ValueError(f"device `{v}` is not one of auto, cpu, cuda, cuda:N, mps")
        return v


class Export(Base):
    onnx: bool = False


class SpecBase(Base):
    """What every Spec class shares (``spec_class`` makes them for the registry as it
    stands, and for the component types one spec uses)."""

    _source: Any = PrivateAttr(default=None)

    def __eq__(self, other):  # the source positions are not part of a spec's value
        return isinstance(other, SpecBase) and self.model_dump() == other.model_dump()

    __hash__ = None

    def to_dict(self) -> dict:
        """The canonical plain-data form (explicit components, defaults left out)."""
        return _canonical_dump(self)

    def to_yaml(self) -> str:
        """The spec as YAML that reads back to the same spec (``dump_yaml``)."""
        from .source import dump_yaml

        return dump_yaml(self.to_dict())


KINDS = ("layer", "loss", "optimizer", "scheduler", "metric", "transform", "image_transform")
_CACHE: dict = {}


def spec_class(used: dict | None = None) -> type[SpecBase]:
    """The Spec model for the registry as it stands (rebuilt after register_layer).

    ``used`` ({kind: {type, ...}}) narrows each component union to those types: what
    validating one spec needs. Building the schema of every union is most of what
    ``specdl check`` would otherwise spend; a spec that does not validate against the
    narrowed class is validated again against the full one, for the same messages."""
    key = (GENERATION[0], None if used is None else tuple(sorted((k, tuple(sorted(v))) for k, v in used.items())))
    if key in _CACHE:
        return _CACHE[key]

    def union(kind: str):
        members = REGISTRY[kind]
        if used is not None:  # at least one member: an empty union is not a type
            members = {t: c for t, c in members.items() if t in used.get(kind, ())} or dict([next(iter(members.items()))])
        return Annotated[Union[tuple(members.values())], Field(discriminator="type")]  # noqa: UP007

    LayerU, LossU, OptU, SchedU, MetricU, TransformU, ImageTransformU = (union(k) for k in KINDS)

    # The forward references of the source and block-call models resolve in their
    # modules' namespaces when the Spec schema is built (once, below).
    from .components import structure
    from .sources import SOURCES
    from .sources import base as sources_base
    from .sources import images as sources_images

    for mod in (sources_base, sources_images, structure):
        mod.TransformUnion, mod.ImageTransformUnion, mod.LayerUnion = TransformU, ImageTransformU, LayerU
    DataU = Annotated[Union[tuple(SOURCES.values())], Field(discriminator="source")]  # noqa: UP007

    class Model(Base):
        input: list[PosInt] | None = None
        blocks: dict[str, list[Any]] = {}
        layers: list[LayerU] = Field(min_length=1)

    class Spec(SpecBase):
        """A whole spec. ``Spec.to_yaml()`` writes it back in canonical form."""

        version: Literal[1] = 1
        name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] = "spec"
        seed: NonNegInt = 0
        data: DataU
        model: Model
        loss: LossU | None = None
        optimizer: OptU = Field(default_factory=lambda: REGISTRY["optimizer"]["adam"]())
        scheduler: SchedU | None = None
        train: Train = Train()
        metrics: list[MetricU] | None = None
        export: Export = Export()

    Spec.model_rebuild(_types_namespace={"TransformUnion": TransformU, "ImageTransformUnion": ImageTransformU,
                                          "LayerUnion": LayerU})
    if len(_CACHE) > 64:  # one class per distinct set of types: keep the cache bounded
        _CACHE.clear()
    _CACHE[key] = Spec
    return Spec


def used_types(data: dict) -> dict:
    """{kind: {type, ...}} of the components a canonical spec names (the default
    optimizer included)."""
    used: dict = {k: set() for k in KINDS}
    used["optimizer"].add("adam")
    for path, kind in _component_sites(data):
        node = data
        for p in path:
            node = node[p]
        if isinstance(node, dict) and isinstance(node.get("type"), str):
            used[kind].add(node["type"])
    return used


def _canonical_dump(obj):
    from .components.base import Component

    if isinstance(obj, Component):
        return obj.canonical()
    if isinstance(obj, BaseModel):
        out = {}
        for k in type(obj).model_fields:
            v = getattr(obj, k)
            if k in obj.model_fields_set or k in ("name", "data", "model", "source"):
                out[k] = _canonical_dump(v)
        return out
    if isinstance(obj, list):
        return [_canonical_dump(v) for v in obj]
    if isinstance(obj, tuple):
        return [_canonical_dump(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _canonical_dump(v) for k, v in obj.items()}
    return obj


# ---------------------------------------------------------------- component forms
# Where components stand in a spec, and their kind.
def _component_sites(data: dict):
    if not isinstance(data, dict):
        return
    for key, kind in (("loss", "loss"), ("optimizer", "optimizer"), ("scheduler", "scheduler")):
        if data.get(key) is not None:
            yield (key,), kind
    if isinstance(data.get("metrics"), list):
        for i in range(len(data["metrics"])):
            yield ("metrics", i), "metric"
    d = data.get("data")
    if isinstance(d, dict):
        images = d.get("source") in IMAGE_SOURCES
        for key in ("transforms", "target_transforms", "augment"):
            if isinstance(d.get(key), list):
                for i in range(len(d[key])):
                    yield ("data", key, i), ("image_transform" if images and key != "target_transforms"
                                             else "transform")
    m = data.get("model")
    if isinstance(m, dict) and isinstance(m.get("layers"), list):
        yield from _layer_sites(m["layers"], ("model", "layers"))


def _layer_sites(layers: list, path: tuple):
    for i, item in enumerate(layers):
        yield path + (i,), "layer"
        if _expanded(item) and isinstance(item.get("layers"), list):
            yield from _layer_sites(item["layers"], path + (i, "layers"))


def kind_at(path: tuple) -> str | None:
    """The component kind of the item at ``path`` (a canonical path), if any."""
    p = tuple(x for x in path)
    if p[:2] == ("model", "layers") and len(p) >= 3:
        return "layer"
    if p[:2] == ("model", "blocks") and len(p) >= 4:
        return "layer"
    if p[:2] in (("data", "transforms"), ("data", "target_transforms"), ("data", "augment")) and len(p) >= 3:
        return "transform"
    if p[:1] == ("metrics",) and len(p) >= 2:
        return "metric"
    if p[:1] in (("loss",), ("optimizer",), ("scheduler",)):
        return p[0]
    return None


def _expanded(item) -> bool:
    from .blocks import Expanded

    return isinstance(item, Expanded)


def _user_types(kind: str, blocks=()) -> dict:
    """The names a spec may write for a component of ``kind``: the registry less its
    structural entries (a block call is written with the block's name), plus blocks."""
    reg = {t: c for t, c in REGISTRY[kind].items() if not getattr(c, "structural", False)}
    return {**reg, **{b: None for b in blocks}} if kind == "layer" else reg


def _primary(name: str) -> str | None:
    """The argument ``{name: value}`` sets, for whichever kind of component ``name`` is."""
    return next((c.primary for k in KINDS if (c := REGISTRY[k].get(name)) is not None
                 and getattr(c, "primary", None)), None)


def _move(src: Source, old: tuple, new: tuple):
    for table in (src.pos, src.keypos, src.notes):
        for k in [k for k in table if k[: len(old)] == old and k != old]:
            table[new + k[len(old):]] = table.pop(k)


def canonicalize(kind: str, item, path: tuple, src: Source, issues: list, blocks=()) -> Any:
    """Turn ``relu`` / ``{linear: 50}`` / ``{type: linear, out_features: 50}`` into the
    explicit form, remapping positions so that later errors point at the user's text.
    Block calls (``blocks``: the spec's block names) keep their arguments flat."""
    if kind == "layer" and _expanded(item):  # a block call, as the expander wrote it
        return type(item)(item)
    reg = _user_types(kind, blocks)
    reserved = RESERVED_KEYS if kind == "layer" else ()
    what = "layers" if kind == "layer" else f"{kind}s"
    if isinstance(item, str):
        if item not in reg:
            issues.append(src.issue(path, f"unknown {kind} `{item}`" + did_you_mean(item, reg, what)))
            return None
        return {"type": item}
    if not isinstance(item, dict):
        issues.append(src.issue(path, f"a {kind} is a name, `name: argument`, or a mapping with "
                                "`type`; got " + type(item).__name__))
        return None
    if "type" in item:
        t = item["type"]
        if not isinstance(t, str) or t not in reg:
            issues.append(src.issue(path + ("type",), f"unknown {kind} `{t}`" + did_you_mean(str(t), reg, what)))
            return None
        return dict(item)
    keys = [k for k in item if k not in reserved]
    if len(keys) != 1:
        names = ", ".join(f"`{k}`" for k in keys) or "none"
        issues.append(src.issue(path, f"a {kind} in short form has one key naming it "
                                f"(got {names}); or write `type: <{kind}>`"))
        return None
    name = keys[0]
    if name not in reg:
        issues.append(src.issue(path + (name,), f"unknown {kind} `{name}`" + did_you_mean(str(name), reg, what),
                                key=True))
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


# ---------------------------------------------------------------- validation
def _classes_in(ann) -> list:
    """BaseModel classes reachable in a field annotation."""
    origin = typing.get_origin(ann)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
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


def _strip_tags(loc: tuple, data) -> tuple:
    """Drop the discriminator tags pydantic inserts in locations inside unions."""
    out, node = [], data
    for part in loc:
        if isinstance(node, dict) and part not in node and part in (node.get("type"), node.get("source")):
            continue
        if isinstance(part, str) and part.startswith(("function-", "json-or-python")):
            continue
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


def _short(v) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
_TYPES = {"int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
          "float_parsing": "a number", "float_type": "a number", "bool_parsing": "true or false",
          "bool_type": "true or false", "string_type": "a string", "list_type": "a list",
          "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
          "tuple_type": "a list", "too_short": None, "too_long": None}


def _message(err, cls, loc, data) -> tuple[str, bool]:
    """A compiler-style message for one pydantic error; True when it is about a key."""
    typ, last, ctx = err["type"], (loc[-1] if loc else None), err.get("ctx") or {}
    got = _short(err.get("input"))
    if typ == "extra_forbidden":
        model = _model_at(cls, loc[:-1], data)
        fields = [f for f in (model.model_fields if model else []) if f != "type"]
        noun = "argument" if kind_at(loc[:-1]) else "key"
        return f"unknown {noun} `{last}`" + did_you_mean(str(last), fields), True
    if typ == "missing":
        return f"missing required `{last}`", False
    if typ == "union_tag_not_found":
        disc = ctx.get("discriminator", "type").strip("'")
        return f"missing required `{disc}`", False
    if typ == "union_tag_invalid":
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        return f"unknown value {got}" + did_you_mean(str(err.get("input")), tags), False
    if typ in _BOUNDS:
        limit = next(iter(ctx.values()))
        return f"must be {_BOUNDS[typ]} {limit}, got {got}", False
    if typ == "literal_error":
        return f"must be {ctx.get('expected')}, got {got}", False
    if typ in ("too_short", "too_long"):
        return f"needs {'at least' if typ == 'too_short' else 'at most'} {ctx.get('min_length', ctx.get('max_length'))} item(s), got {got}", False
    if typ in _TYPES:
        return f"must be {_TYPES[typ]}, got {got}", False
    if typ == "string_pattern_mismatch":
        return f"{got} is not allowed here: use letters, digits, `_`, `-` and `.`", False
    msg = err["msg"]
    if msg.lower().startswith("value error, "):
        return msg[len("value error, "):], False
    return f"{msg[0].lower() + msg[1:]}, got {got}", False


def _blocks(data) -> dict:
    m = data.get("model") if isinstance(data, dict) else None
    b = m.get("blocks") if isinstance(m, dict) else None
    return b if isinstance(b, dict) else {}


def _canonical_sites(src: Source, issues: list, keep_bad: bool = False) -> dict:
    """A copy of the spec's data with every component in canonical form (a component
    that cannot be read becomes None, or stays as written with ``keep_bad``)."""
    data = dict(src.data)
    blocks = _blocks(data)
    for path, kind in list(_component_sites(data)):
        parent = data
        for p in path[:-1]:
            parent[p] = type(parent[p])(parent[p])  # a copy that keeps a block call's type
            parent = parent[p]
        out = canonicalize(kind, parent[path[-1]], path, src, issues, blocks)
        if kind == "layer" and isinstance(out, dict) and not keep_bad:
            from .inferred import take

            out = take(out, path, src)
        if out is not None or not keep_bad:
            parent[path[-1]] = out
    return data


def _desugar_backbone(src: Source, issues: list) -> dict:
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


def _expand_blocks(src: Source, blocks: dict, issues: list) -> dict:
    from .blocks import Expander

    data = dict(src.data)
    ex = Expander(blocks, src, issues)
    ex.check_definitions()
    model = dict(data["model"])
    model["layers"] = ex.layers(model.get("layers"), ("model", "layers"))
    data["model"] = model
    src.data = data
    return data


def _unknown_keys_in_union(cls, loc, data, src) -> list[Issue]:
    """Without its discriminator, a mapping's keys are checked against every variant."""
    parent = _model_at(cls, loc[:-1], data)
    field = parent.model_fields.get(loc[-1]) if parent else None
    node = data
    for p in loc:
        node = node[p] if _has(node, p) else None
    if field is None or not isinstance(node, dict):
        return []
    allowed = {f for c in _classes_in(field.annotation) for f in c.model_fields}
    return [src.issue(loc + (k,), f"unknown key `{k}`" + did_you_mean(str(k), allowed), key=True)
            for k in node if k not in allowed]


def validate(src: Source, overrides=None):
    """Plain data (with positions) -> Spec, or SpecError listing every problem.

    Components are put in canonical form before and after the overrides, so that
    ``model.layers.0.out_features=32`` works whichever form the file used."""
    from .source import apply_overrides

    if overrides:
        if isinstance(src.data, dict):
            src.data = _canonical_sites(src, [], keep_bad=True)
        apply_overrides(src, overrides, _primary)
    data = src.data
    if not isinstance(data, dict):
        raise SpecError([src.issue((), "a spec is a mapping with `data`, `model`, `loss`, ...")])
    issues: list[Issue] = []
    version = data.get("version", VERSION)
    if version != VERSION:
        if isinstance(version, int) and version > VERSION:
            msg = (f"this spec is version {version}; this specdl reads version {VERSION} "
                   "specs: upgrade specdl")
        else:
            msg = f"unknown version {_short(version)}; the current spec version is {VERSION}"
        raise SpecError([src.issue(("version",), msg)])
    if isinstance(data.get("model"), dict) and "torchvision" in data["model"]:
        data = _desugar_backbone(src, issues)
    blocks = _blocks(data)
    if blocks:
        data = _expand_blocks(src, blocks, issues)
    data = _canonical_sites(src, issues)
    # Drop components that failed to canonicalise, so pydantic reports only other problems.
    if issues:
        data = _without_none_components(data)
    spec = None
    if not issues:  # first against the narrowed class: the usual, valid, case is fast
        try:
            spec = spec_class(used_types(data)).model_validate(data)
        except ValidationError:
            pass
    if spec is None:  # the full class, whose errors name every alternative
        cls = spec_class()
        try:
            spec = cls.model_validate(data)
        except ValidationError as e:
            issues += _issues(e, cls, data, src)
    if issues:
        raise SpecError(sorted(issues, key=lambda i: (i.file, i.line, i.col)))
    spec._source = src
    return spec


def _issues(e: ValidationError, cls, data, src) -> list[Issue]:
    """Pydantic's errors as located issues, one per location."""
    out, seen = [], set()
    for err in e.errors(include_url=False):
        loc = _strip_tags(err["loc"], data)
        if loc in seen:
            continue
        seen.add(loc)
        msg, at_key = _message(err, cls, loc, data)
        out.append(src.issue(loc, msg, _component_at(loc, data), key=at_key))
        if err["type"] == "union_tag_not_found":
            out += _unknown_keys_in_union(cls, loc, data, src)
    return out


def _without_none_components(data):
    """Replace components that failed to canonicalise with harmless placeholders, so
    list indices (and so error locations) stay those of the user's text."""
    data = dict(data)
    for key in ("loss", "optimizer", "scheduler"):
        if key in data and data[key] is None:
            data.pop(key)
    if isinstance(data.get("metrics"), list):
        data["metrics"] = [m if m is not None else {"type": "accuracy"} for m in data["metrics"]]
    if isinstance(data.get("data"), dict):
        d = data["data"] = dict(data["data"])
        for k in ("transforms", "target_transforms"):
            if isinstance(d.get(k), list):
                d[k] = [t if t is not None else {"type": "standardize"} for t in d[k]]
    if isinstance(data.get("model"), dict) and isinstance(data["model"].get("layers"), list):
        m = data["model"] = dict(data["model"])
        m["layers"] = [x if x is not None else {"type": "identity"} for x in m["layers"]]
    return data


__all__ = ["SpecBase", "spec_class", "used_types", "validate", "canonicalize", "format_path", "SpecError"]
