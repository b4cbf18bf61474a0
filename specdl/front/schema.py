"""The closed-world pydantic schema of a spec, and the step before it that turns the
three component forms into the canonical one (keeping every source position)."""


import os
import re
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, NamedTuple, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from .. import components  # noqa: F401  (fills the registry)
from ..components.base import GENERATION, KINDS, REGISTRY, NonNegFloat, NonNegInt, PosFloat, PosInt
from ..components.scope import ALIASES as LAYER_ALIASES
from ..components.scope import unknown_layer
from ..errors import Issue, SpecError, closest, did_you_mean, format_path
from . import habits
from .reader import Source

VERSION = 1
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
    # the training step in a CUDA graph: auto = on CUDA where it is safe and the step launch-bound
    cuda_graphs: bool | Literal["auto"] = "auto"
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
        from .reader import dump_yaml

        return dump_yaml(self.to_dict())


# The component unions that models outside this module name by forward reference.
FORWARD = {"LayerUnion": "layer", "TransformUnion": "transform", "ImageTransformUnion": "image_transform"}
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

    unions = {k: union(k) for k in KINDS}
    LayerU, LossU, OptU, SchedU, MetricU = (unions[k] for k in ("layer", "loss", "optimizer", "scheduler", "metric"))
    forward = {name: unions[kind] for name, kind in FORWARD.items()}

    # The forward references of the source and block-call models resolve in their
    # modules' namespaces when the Spec schema is built (once, below).
    from ..components import structure
    from ..sources import SOURCES
    from ..sources import base as sources_base
    from ..sources import images as sources_images
    from .search import Search

    for mod in (sources_base, sources_images, structure):
        vars(mod).update(forward)
    DataU = Annotated[Union[tuple(SOURCES.values())], Field(discriminator="source")]  # noqa: UP007

    class Model(Base):
        input: list[PosInt] | None = None
        blocks: dict[str, list[Any]] = {}
        layers: list[LayerU] = Field(min_length=1)

    class Spec(SpecBase):
        """A whole spec. ``Spec.to_yaml()`` writes it back in canonical form."""

        version: Literal[1] = 1
        name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] = "spec"
        seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0  # numpy's and scikit-learn's seeds are 32-bit
        data: DataU
        model: Model
        loss: LossU | None = None
        optimizer: OptU = Field(default_factory=lambda: REGISTRY["optimizer"]["adam"]())
        scheduler: SchedU | None = None
        train: Train = Train()
        metrics: list[MetricU] | None = None
        export: Export = Export()
        search: Search | None = None  # what `specdl tune` varies; build ignores it

    Spec.model_rebuild(_types_namespace=forward)
    if len(_CACHE) > 64:  # one class per distinct set of types: keep the cache bounded
        _CACHE.clear()
    _CACHE[key] = Spec
    return Spec


def used_types(data: dict) -> dict:
    """{kind: {type, ...}} of the components a canonical spec names (the default
    optimizer included)."""
    used: dict = {k: set() for k in KINDS}
    used["optimizer"].add("adam")
    for path, site in component_sites(data):
        node = data
        for p in path:
            node = node[p]
        if isinstance(node, dict) and isinstance(node.get("type"), str):
            used[site.kind].add(node["type"])
    return used


def _canonical_dump(obj):
    from ..components.base import Component

    if isinstance(obj, Component):
        return obj.canonical()
    if isinstance(obj, BaseModel):
        out = {}
        for k, f in type(obj).model_fields.items():
            v = getattr(obj, k)
            if k in obj.model_fields_set or k in ("name", "data", "model", "source"):
                out[f.alias or k] = _canonical_dump(v)
        return out
    if isinstance(obj, list):
        return [_canonical_dump(v) for v in obj]
    if isinstance(obj, tuple):
        return [_canonical_dump(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _canonical_dump(v) for k, v in obj.items()}
    return obj


# ---------------------------------------------------------------- component sites
def _source(data: dict) -> str | None:
    """The data source a spec names, if it is one (until it is, what its transforms are
    is not known: they are read once the source is right)."""
    from ..sources import SOURCES

    d = data.get("data")
    s = d.get("source") if isinstance(d, dict) else None
    return s if isinstance(s, str) and s in SOURCES else None


def _images(data: dict) -> bool:
    """An image source (its files read per sample): its transforms are image transforms."""
    from ..sources import SOURCES

    s = _source(data)
    return s is not None and SOURCES[s].file_backed


def _tables(data: dict) -> bool:
    return _source(data) is not None and not _images(data)


def _any_source(data: dict) -> bool:
    return _source(data) is not None


class Site(NamedTuple):
    """Where components stand in a spec: ``pattern`` is a path whose ``"*"`` is any key
    and ``"[*]"`` any list index; ``when`` limits the site to some specs; a
    ``template`` site holds text that is read only once a block call fills it in."""

    pattern: tuple
    kind: str
    when: Callable[[dict], bool] | None = None
    template: bool = False


# The one table of component sites: canonicalisation (which form, which registry),
# validation (the types a spec uses; no errors inside a component that failed) and
# error messages (argument or key) all read it. For one pattern the first site whose
# `when` holds is the one. A block call, as the expander wrote it, holds layers at
# CALL_LAYERS, to any depth; a block's body (a template site) is read in each call's
# expansion, where its $parameters have values.
SITES = (
    Site(("loss",), "loss"),
    Site(("optimizer",), "optimizer"),
    Site(("scheduler",), "scheduler"),
    Site(("metrics", "[*]"), "metric"),
    Site(("data", "transforms", "[*]"), "image_transform", _images),
    Site(("data", "transforms", "[*]"), "transform", _tables),
    Site(("data", "augment", "[*]"), "image_transform", _images),
    Site(("data", "target_transforms", "[*]"), "transform", _any_source),
    Site(("model", "blocks", "*", "[*]"), "layer", template=True),
    Site(("model", "layers", "[*]"), "layer"),
)
CALL_LAYERS = ("layers", "[*]")


def _sites_for(data) -> list[Site]:
    """The sites that apply to ``data``: one per pattern."""
    out: dict = {}
    for site in SITES:
        if site.pattern not in out and (site.when is None or site.when(data)):
            out[site.pattern] = site
    return list(out.values())


def _steps(node, step):
    """The (key, child) pairs of ``node`` one pattern step matches."""
    if step == "[*]":
        return list(enumerate(node)) if isinstance(node, list) else []
    if step == "*":
        return list(node.items()) if isinstance(node, dict) else []
    return [(step, node[step])] if isinstance(node, dict) and node.get(step) is not None else []


def _walk(node, pattern: tuple, path: tuple):
    if not pattern:
        yield path, node
        return
    for key, child in _steps(node, pattern[0]):
        yield from _walk(child, pattern[1:], path + (key,))


def component_sites(data):
    """(path, site) of every component in ``data`` (a block call's layers included, a
    block's body not)."""
    if not isinstance(data, dict):
        return
    for site in _sites_for(data):
        if site.template:
            continue
        stack = list(_walk(data, site.pattern, ()))
        while stack:
            path, node = stack.pop(0)
            yield path, site
            if site.kind == "layer" and _expanded(node):
                stack[:0] = _walk(node, CALL_LAYERS, path)


def _matches(pattern: tuple, path: tuple) -> bool:
    return len(path) >= len(pattern) and all(
        p == x or (p == "[*]" and isinstance(x, int)) or (p == "*" and isinstance(x, str))
        for p, x in zip(pattern, path))


def kind_at(path: tuple, data) -> str | None:
    """The kind of the component at ``path`` (a canonical path), or of the one it lies
    in, if any."""
    return next((s.kind for s in _sites_for(data) if _matches(s.pattern, tuple(path))), None) \
        if isinstance(data, dict) else None


def _expanded(item) -> bool:
    from .blocks import Expanded

    return isinstance(item, Expanded)


def _user_types(kind: str, blocks=()) -> dict:
    """The names a spec may write for a component of ``kind``: the registry less its
    structural entries (a block call is written with the block's name), plus blocks."""
    reg = {t: c for t, c in REGISTRY[kind].items() if not getattr(c, "structural", False)}
    return {**reg, **{b: None for b in blocks}} if kind == "layer" else reg


def _arguments(name: str) -> set | None:
    """The arguments of the component(s) registered as ``name`` (None: no component has
    that name); overrides read it to tell `adam` under an adamw optimizer from an argument."""
    classes = [c for k in KINDS if (c := REGISTRY[k].get(name)) is not None]
    return {a for c in classes for n, f in c.model_fields.items() for a in (n, f.alias) if a} if classes else None


def _primary(name: str) -> str | None:
    """The argument ``{name: value}`` sets, for whichever kind of component ``name`` is."""
    return next((c.primary for k in KINDS if (c := REGISTRY[k].get(name)) is not None
                 and getattr(c, "primary", None)), None)


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
    return {bool: "true/false", int: "a number", float: "a number", list: "a list"}.get(type(value), _short(value))


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
    known = unknown_layer(str(name), names) if kind == "layer" else None
    aliases = LAYER_ALIASES if kind == "layer" else habits.ALIASES.get(kind)
    return known or habits.spelled(name, reg, aliases) or did_you_mean(str(name), reg, what)


def canonicalize(kind: str, item, path: tuple, src: Source, issues: list, blocks=(), names=()) -> Any:
    """Turn ``relu`` / ``{linear: 50}`` / ``{type: linear, out_features: 50}`` into the
    explicit form, remapping positions so that later errors point at the user's text.
    Block calls (``blocks``: the spec's block names) keep their arguments flat; ``names``
    are the layer names written before it in its list."""
    if kind == "layer" and _expanded(item):  # a block call, as the expander wrote it
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


# ---------------------------------------------------------------- validation
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
    """Drop the discriminator tags pydantic inserts in locations inside unions."""
    out, node = [], data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in (node.get("type"), node.get("source")) and (
                part not in node or (i + 1 < len(loc) and not _has(node[part], loc[i + 1]))):
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
        why = getattr(_model_at(cls, loc[:-1], data), "refused", {}).get(last)
        if why:
            return f"`{last}` is not offered: {why}", True
        fields = _fields_at(cls, loc[:-1], data)
        noun = "argument" if kind_at(loc[:-1], data) else "key"
        if primary := _own_name(loc, data):
            return (f"unknown argument `{last}`; its primary argument is `{primary}`: write `{last}: "
                    f"{_short(err.get('input'))}` or `{last}: {{{primary}: {_short(err.get('input'))}}}`"), True
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
        return f"unknown value {_short(tag)}" + did_you_mean(str(tag), tags), False
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


def _blocks(data) -> dict:
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


def _canonical_sites(src: Source, issues: list, keep_bad: bool = False) -> tuple[dict, list]:
    """A copy of the spec's data with every component in canonical form, and the paths
    of those that cannot be read (each reported once, in ``issues``): they become None,
    or stay as written with ``keep_bad``. Block bodies (template sites) stay as written:
    their layers are read in each call's expansion."""
    data = dict(src.data)
    blocks, failed = _blocks(data), []
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


def validate(src: Source, overrides=None):
    """Plain data (with positions) -> Spec, or SpecError listing every problem.

    Components are put in canonical form before and after the overrides, so that
    ``model.layers.0.out_features=32`` works whichever form the file used."""
    from .reader import apply_overrides

    if overrides:
        if isinstance(src.data, dict):
            src.data, _ = _canonical_sites(src, [], keep_bad=True)
        apply_overrides(src, overrides, _primary, _arguments)
    data = src.data
    if not isinstance(data, dict):
        raise SpecError([src.issue((), "a spec is a mapping with `data`, `model`, `loss`, ...")])
    _check_version(src, data.get("version", VERSION))
    issues: list[Issue] = []
    if isinstance(data.get("model"), dict) and "torchvision" in data["model"]:
        data = _desugar_backbone(src, issues)
    blocks = _blocks(data)
    if blocks:
        data = _expand_blocks(src, blocks, issues)
    # A component that failed to canonicalise is None: pydantic's errors there are dropped.
    data, failed = _canonical_sites(src, issues)
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
            issues += _issues(e, cls, data, src, failed)
    if issues:
        raise SpecError(_one_per_problem(issues))
    spec._source = src
    return spec


def _check_version(src: Source, version) -> None:
    if version == VERSION:
        return
    if isinstance(version, int) and version > VERSION:
        msg = f"this spec is version {version}; this specdl reads version {VERSION} specs: upgrade specdl"
    else:
        msg = f"unknown version {_short(version)}; the current spec version is {VERSION}"
    raise SpecError([src.issue(("version",), msg)])


def _one_per_problem(issues: list[Issue]) -> list[Issue]:
    """In source order, without repeats: a mistake in a block's body is found in every
    call's expansion, at the same place with the same message and the same note but for
    its position (the call); the first call reports it."""
    out, seen = [], set()
    for i in sorted(issues, key=lambda i: (i.file, i.line, i.col)):
        key = (i.file, i.line, i.col, i.severity, i.message, tuple(n[-1] for n in i.notes))
        if not i.notes or key not in seen:
            seen.add(key)
            out.append(i)
    return out


def _issues(e: ValidationError, cls, data, src, failed=()) -> list[Issue]:
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
            out.append(src.issue(_at_tag(err, loc, src), msg, _component_at(loc, data), key=at_key))
    return out


def _at_tag(err, loc: tuple, src) -> tuple:
    """An unknown discriminator (`source: sklearnx`) is located at its value, not at the mapping."""
    if err["type"] != "union_tag_invalid":
        return loc
    disc = str((err.get("ctx") or {}).get("discriminator", "type")).strip("'")
    return loc + (disc,) if loc + (disc,) in src.pos else loc


def _own_name(loc: tuple, data) -> str | None:
    """The primary argument, when an unknown key repeats its component's name (`linear: {linear: 3}`)."""
    return _primary(loc[-1]) if loc and loc[-1] == _component_at(loc[:-1], data) else None


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


__all__ = ["SpecBase", "spec_class", "used_types", "validate", "canonicalize", "format_path", "SpecError"]
