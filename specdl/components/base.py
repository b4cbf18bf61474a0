"""The registry: every component (layer, loss, optimizer, scheduler, metric, transform)
is one pydantic class holding its parameters, its shape rule, its torch factory and
its codegen expression. Nothing here imports torch at module level.
"""


from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ShapeError
from .call import Call
from .names import LayerName
from .tensor import TT

# Every part of a spec: unknown keys are errors; a bool or a string where a number
# belongs is an error, not 1 or 3; every number is finite (docs/spec.md).
STRICT = ConfigDict(extra="forbid", protected_namespaces=(), strict=True, allow_inf_nan=False)

KINDS = ("layer", "loss", "optimizer", "scheduler", "metric", "transform", "image_transform")
REGISTRY: "dict[str, dict[str, type[Component]]]" = {k: {} for k in KINDS}
GENERATION = [0]  # bumped on every registration, so cached schemas are rebuilt

PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
Prob = Annotated[float, Field(ge=0.0, lt=1.0)]
PosFloat = Annotated[float, Field(gt=0.0)]
NonNegFloat = Annotated[float, Field(ge=0.0)]


# ---------------------------------------------------------------- components
class Component(BaseModel):
    """Base of every registered component: its fields are its parameters."""

    # strict: a bool or a string where a number belongs is an error, not 1 or 3;
    # no inf/nan: every number of a spec is finite (docs/spec.md)
    model_config = ConfigDict(**STRICT, frozen=True, defer_build=True)
    kind: ClassVar[str] = ""
    type_name: ClassVar[str] = ""
    primary: ClassVar[str | None] = None

    def __init_subclass__(cls, type: str | None = None, primary: str | None = None, **kw):
        # ``class LinearSpec(Layer, type="linear", primary="out_features")`` registers the
        # class: it gains the discriminating field ``type: Literal["linear"]``.
        if type is not None:
            if "__annotations__" not in cls.__dict__:
                cls.__annotations__ = {}
            cls.__annotations__["type"] = Literal[type]
            cls.type = type
            cls.type_name, cls.primary = type, primary
        super().__init_subclass__(**kw)

    @classmethod
    def __pydantic_init_subclass__(cls, **kw):
        super().__pydantic_init_subclass__(**kw)
        if cls.__dict__.get("type_name"):
            if cls.type_name in REGISTRY[cls.kind]:
                raise ValueError(f"a {cls.kind} named `{cls.type_name}` is already registered")
            REGISTRY[cls.kind][cls.type_name] = cls
            GENERATION[0] += 1

    def changed(self, *names: str) -> dict:
        """The named parameters whose value differs from the default, in order."""
        fields = type(self).model_fields
        return {n: getattr(self, n) for n in names if getattr(self, n) != fields[n].default}

    def canonical(self) -> dict:
        """The explicit form ``{type: ..., arg: ...}`` with defaults left out."""
        body = self.model_dump(mode="json", exclude_defaults=True, exclude={"type"})
        return {"type": self.type_name, **body}


# torch arguments no layer offers -> why (a torch user writes them from habit)
EVERY_LAYER = {"inplace": "a layer never overwrites its input here (another layer may read it "
                          "again); leave it out"}


class Layer(Component):
    """A layer: ``infer`` maps input types to the output type (pure Python, no torch);
    ``ctor`` describes the torch module; functional layers give ``apply``/``expr``."""

    kind: ClassVar[str] = "layer"
    min_inputs: ClassVar[int] = 1             # how many inputs it takes
    max_inputs: ClassVar[int | None] = 1      # None: any number (merges)
    needs: ClassVar[tuple] = ()               # imports its generated code needs
    helpers: ClassVar[tuple] = ()             # HELPERS its generated code needs (besides
                                              # those its Call constructs: Call.helpers)
    ranks: ClassVar[tuple | None] = None      # accepted input ranks, batch included
    rank_hint: ClassVar[str] = ""             # e.g. "[N, C, H, W]"
    dtypes: ClassVar[tuple] = ("float32",)    # accepted input dtypes
    functional: ClassVar[bool] = False        # no module: apply()/expr() instead of ctor()
    structural: ClassVar[bool] = False        # built by the graph itself (block calls)
    examples: ClassVar[dict] = {}             # field (or "input": per-sample shapes) -> sample
                                              # values, for the generated tests
    rank_fix: ClassVar[str] = ""              # a suggestion when the rank is wrong
    refused: ClassVar[dict] = {}              # torch arguments deliberately not offered -> why
                                              # (EVERY_LAYER's are added to each class's)

    name: LayerName | None = None
    inputs: list[str] | None = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kw):
        super().__pydantic_init_subclass__(**kw)
        cls.refused = {**EVERY_LAYER, **cls.refused}

    # -- shape rule
    def check_inputs(self, xs: list[TT]) -> None:
        for x in xs:
            if self.ranks and x.rank not in self.ranks:
                want = " or ".join(f"{r}-D" for r in self.ranks)
                hint = f" {self.rank_hint}" if self.rank_hint else ""
                fix = f"; {self.rank_fix}" if self.rank_fix else ""
                raise ShapeError(f"expects a {want} input{hint}, got {x}{fix}")
            if x.dtype not in self.dtypes:
                raise ShapeError(f"expects {' or '.join(self.dtypes)} input, got {x.dtype} {x}")

    def infer(self, x: TT) -> TT:
        return x

    def infer_many(self, xs: list[TT]) -> TT:
        self.check_inputs(xs)
        return self.infer(*xs)

    # -- several inputs: by default, the first one decides
    def ctor_many(self, xs: list) -> "Call":
        return self.ctor(xs[0])

    def params_many(self, xs: list) -> int:
        return self.count_params(xs[0])

    def macs_many(self, xs: list, y: TT) -> int:
        return self.macs(xs[0], y)

    # -- cost model (summary)
    def count_params(self, x: TT) -> int:
        return 0

    def macs(self, x: TT, y: TT) -> int:
        return 0

    # -- torch
    def ctor(self, x: TT) -> Call:
        raise NotImplementedError

    def apply(self, *xs):
        raise NotImplementedError

    def expr(self, *names: str) -> str:
        raise NotImplementedError

    # A module layer whose module returns more than the tensor that flows on (an LSTM's
    # (output, state)) overrides both of these; they must agree.
    custom_call: ClassVar[bool] = False

    def call(self, module, *xs):
        return module(*xs)

    def call_code(self, attr: str, args: list[str], out: str) -> list[str]:
        return [f"{out} = {attr}({', '.join(args)})"]

    def frozen(self) -> bool:
        """Whether some of its parameters are not trained."""
        return False

    def export_issue(self) -> str | None:
        """Why this layer cannot be exported to ONNX, or None."""
        return None

    def check_warning(self) -> str | None:
        """What `check` warns of in this layer's arguments (what torch would warn of at
        every run, said once, at the layer), or None."""
        return None


def simple_layer(name: str, torch_name: str, doc: str, **fields):
    """Register a parameter-light, shape-preserving module layer (activations...)."""

    def ctor(self, x):
        own = [k for k in type(self).model_fields if k not in ("name", "inputs", "type")]
        return Call(f"nn.{torch_name}", kwargs=self.changed(*own))

    ann = {k: v[0] for k, v in fields.items()}
    ns = {"__annotations__": ann, "__doc__": doc, "ctor": ctor,
          **{k: v[1] for k, v in fields.items()}}
    return type(torch_name + "Spec", (Layer,), ns, type=name, primary=next(iter(fields), None))


