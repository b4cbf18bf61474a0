"""The closed-world pydantic model of a spec: its sections (train, checkpoint, early
stopping, distributed, export), ``SpecBase`` (equality, ``to_dict``, ``to_yaml``) and
``spec_class``, which builds the Spec class from the component registry as it stands."""

import os
import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, PrivateAttr, field_validator

from .. import components  # noqa: F401  (fills the registry)
from ..components.base import GENERATION, KINDS, REGISTRY, STRICT, NonNegFloat, NonNegInt, PosFloat, PosInt

VERSION = 1
# intra-op threads: more than a few per core only slows a run down (and is usually a typo)
MAX_THREADS = 4 * (os.cpu_count() or 1)
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d{1,3})?")  # fullmatch


class Base(BaseModel):
    model_config = STRICT  # unknown keys, a bool or a string for a number, inf/nan: errors


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


Probability = Annotated[float, Field(gt=0.0, lt=1.0)]


class HeadsTrain(Train):
    """``train`` of several outputs (spec 12.7): ``threshold`` one for every binary and
    multilabel head, or per target."""

    threshold: Probability | dict[str, Probability] = 0.5

    def threshold_of(self, target: str) -> float:
        t = self.threshold
        return t.get(target, 0.5) if isinstance(t, dict) else t


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


def spec_class(used: dict | None = None, heads: bool | None = False) -> type[SpecBase]:
    """The Spec model for the registry as it stands (rebuilt after register_layer).

    ``used`` ({kind: {type, ...}}) narrows each component union to those types: what
    validating one spec needs. Building the schema of every union is most of what
    ``specdl check`` would otherwise spend; a spec that does not validate against the
    narrowed class is validated again against the full one, for the same messages.

    ``heads``: a spec with ``data.targets`` (spec 12.7), whose ``loss`` and ``metrics`` are
    keyed by target and which may weigh the losses (``loss_weights``); None: either form
    (the editor's JSON Schema)."""
    key = (GENERATION[0], heads, None if used is None else tuple(sorted((k, tuple(sorted(v))) for k, v in used.items())))
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

    DataU = _data_union(forward)
    from .search import Search

    class Model(Base):
        input: list[PosInt] | None = None
        blocks: dict[str, list[Any]] = {}
        layers: list[LayerU] = Field(min_length=1)
        outputs: dict[str, str] | None = None  # target name -> head layer (spec 12.7)

    LossT, MetricsT = _keyed(LossU, list[MetricU], heads)
    TrainT = Train if heads is False else HeadsTrain

    class Spec(SpecBase):
        """A whole spec. ``Spec.to_yaml()`` writes it back in canonical form."""

        version: Literal[1] = 1
        name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] = "spec"
        seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0  # numpy's and scikit-learn's seeds are 32-bit
        data: DataU
        model: Model
        loss: LossT | None = None
        loss_weights: dict[str, NonNegFloat] | None = None  # several outputs: target -> weight (default 1.0)
        optimizer: OptU = Field(default_factory=lambda: REGISTRY["optimizer"]["adam"]())
        scheduler: SchedU | None = None
        train: TrainT = TrainT()
        metrics: MetricsT | None = None
        export: Export = Export()
        search: Search | None = None  # what `specdl tune` varies; build ignores it

    Spec.model_rebuild(_types_namespace=forward)
    if len(_CACHE) > 64:  # one class per distinct set of types: keep the cache bounded
        _CACHE.clear()
    _CACHE[key] = Spec
    return Spec


def _resolve(modules, forward: dict) -> None:
    """The forward references of ``modules`` name this Spec class's unions: their namespaces
    hold them, and the models nested in a source (a module's ``REBUILT``: model -> field ->
    union name), whose types pydantic keeps as it first resolved them, are given them."""
    for mod in modules:
        vars(mod).update(forward)
        for model, fields in getattr(mod, "REBUILT", {}).items():
            for field, union in fields.items():
                model.model_fields[field].annotation = list[forward[union]]
            model.model_rebuild(force=True)


def _data_union(forward: dict):
    """The union of the data sources, the forward references of the source and block-call
    models resolving in their modules' namespaces when the Spec schema is built."""
    from ..components import structure
    from ..sources import SOURCES
    from ..sources import base as sources_base
    from ..sources import csv_inputs as sources_csv_inputs
    from ..sources import images as sources_images
    from ..sources import targets as sources_targets

    _resolve((sources_base, sources_images, sources_csv_inputs, sources_targets, structure), forward)
    return Annotated[Union[tuple(SOURCES.values())], Field(discriminator="source")]  # noqa: UP007


def _keyed(loss, metrics, heads: bool | None) -> tuple:
    """The types of ``loss`` and ``metrics``: one target's, keyed by target (several
    outputs), or either (None)."""
    if heads is None:
        return loss | dict[str, loss], metrics | dict[str, metrics]
    return (dict[str, loss], dict[str, metrics]) if heads else (loss, metrics)


def _canonical_dump(obj):
    """Plain data: components in canonical form, a field only where it was set (name,
    data, model and source always)."""
    from ..components.base import Component

    if isinstance(obj, Component) or callable(getattr(obj, "canonical", None)):  # a component, a named input
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


__all__ = ["FORWARD", "VERSION", "SpecBase", "spec_class"]
