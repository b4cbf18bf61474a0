"""The registry: every component (layer, loss, optimizer, scheduler, metric, transform)
is one pydantic class holding its parameters, its shape rule, its torch factory and
its codegen expression. Nothing here imports torch at module level.
"""


import contextlib
import functools
import keyword
import math
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..errors import RunError, ShapeError

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

# Names a layer may not take. A layer's name is its attribute on the module, so every
# public attribute of ``nn.Module`` (tests/test_security.py checks this list against the
# installed torch) is out, and so are the names the generated module code itself uses.
MODULE_ATTRS = frozenset("""
    T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda
    double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half ipu load_state_dict modules mtia named_buffers named_children
    named_modules named_parameters parameters register_backward_hook register_buffer
    register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter
    register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state
    set_submodule share_memory state_dict to to_empty train training type xpu zero_grad
""".split())
RESERVED = MODULE_ATTRS | {"input", "x", "inp", "self", "torch", "nn", "F", "super"}
IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")  # always used with fullmatch


def is_ident(v) -> bool:
    """A plain name: letters, digits and _, starting with a letter, at most 64, no keyword.
    (``fullmatch``: ``re.match`` with ``$`` would let a trailing newline through.)"""
    return isinstance(v, str) and IDENT.fullmatch(v) is not None and not keyword.iskeyword(v)


def not_a_name(v, what: str) -> str | None:
    """Why ``v`` cannot name a layer or block (``what``), or None when it can."""
    if isinstance(v, str) and keyword.iskeyword(v):
        return (f"`{v}` is a Python keyword, which the generated code cannot use as a name; "
                f"choose another (`{v}_`, say)")
    if not is_ident(v):
        return (f"{v!r} is not a valid {what}: use letters, digits and _ (a Python identifier "
                "of at most 64 characters, starting with a letter)")
    return None


def _check_name(v: str | None) -> str | None:
    if v is None:
        return v
    if why := not_a_name(v, "layer name"):
        raise ValueError(why)
    if v in RESERVED:
        raise ValueError(f"`{v}` is reserved; choose another name")
    return v


LayerName = Annotated[str, AfterValidator(_check_name)]


# ---------------------------------------------------------------- tensor types
@dataclass(frozen=True)
class TT:
    """A tensor type: shape with a symbolic batch ``"N"`` first, and a dtype."""

    shape: tuple
    dtype: str = "float32"

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def feat(self) -> tuple:
        """The per-sample shape (without the batch dimension)."""
        return tuple(self.shape[1:])

    def with_shape(self, *shape) -> "TT":
        return TT(tuple(shape), self.dtype)

    def numel(self) -> int:
        """Elements per sample."""
        return math.prod(d for d in self.shape[1:])

    def __str__(self) -> str:
        return "[" + ", ".join(str(d) for d in self.shape) + "]"


def shape_str(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def norm_dim(dim: int, rank: int, what: str = "dim") -> int:
    """Normalise a torch dimension index (batch is 0) against ``rank``."""
    if not -rank <= dim < rank:
        raise ShapeError(f"{what}={dim} is out of range for a {rank}-D input "
                         f"(valid: {-rank}..{rank - 1}; the batch is dimension 0)")
    return dim % rank


def tup(v, n: int, what: str = "") -> tuple:
    """torch's int-or-tuple convention: one number for every dimension, or a list of
    exactly one per dimension (torch's stretching of a one-item list is refused: it
    holds for some arguments and layers and not others)."""
    if isinstance(v, (tuple, list)):
        if len(v) != n:
            name = f"{what} " if what else ""
            raise ShapeError(f"{name}{list(v)} must give {n} values, one per spatial dimension "
                             f"(or be one number for all {n})")
        return tuple(v)
    return (v,) * n


# ---------------------------------------------------------------- codegen calls
class Name(str):
    """A variable of the generated script (e.g. STEPS_PER_EPOCH): rendered bare."""


def literal(v) -> str:
    """Render a validated value as Python source (never splices code)."""
    if isinstance(v, Name):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            return f'float("{v}")'
        return repr(v)
    if isinstance(v, str):
        r = repr(v)  # prefer double quotes, as a person would write
        return f'"{r[1:-1]}"' if r[0] == "'" and '"' not in v and "\\'" not in r else r
    if isinstance(v, (bool, int)) or v is None:
        return repr(v)
    if isinstance(v, tuple):
        inner = ", ".join(literal(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, list):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(x)}" for k, x in v.items()) + "}"
    if isinstance(v, Call):
        return v.code()
    raise TypeError(f"cannot render {v!r} as a literal")


NAMES = {"torch.float32", "torch.int64", "torch.bfloat16", "torch.float16"}  # Calls that are plain names
_ROOTS = {"v2": "torchvision.transforms.v2", "nn": "torch.nn", "F": "torch.nn.functional", "torch": "torch", "optim": "torch.optim",
          "metrics": "sklearn.metrics"}


# Helper functions that both build and the generated script use:
# name -> (source text, a function returning the globals it needs).
HELPERS: dict = {}


# Whether user code (a ``module:`` target) may be imported: off unless the user says so
# (``--allow-import`` on the command line, ``allow_import=True`` in Python). A context
# variable, so that it is scoped to the call that set it.
ALLOW_IMPORT: ContextVar[bool] = ContextVar("specdl_allow_import", default=False)
LIBRARIES = {"torch", "torchvision", "sklearn", "numpy"}
TRUSTED: set[str] = set()  # dotted names registered from Python (register_layer)


class ImportRefused(RunError):
    """A spec names user code and importing it was not allowed, or it is not a module."""


@contextlib.contextmanager
def allowing_imports(allow: bool):
    token = ALLOW_IMPORT.set(bool(allow))
    try:
        yield
    finally:
        ALLOW_IMPORT.reset(token)


def is_user_code(dotted: str) -> bool:
    root = dotted.split(".")[0]
    return dotted not in HELPERS and dotted not in TRUSTED and _ROOTS.get(root, root).split(".")[0] not in LIBRARIES


def resolve(dotted: str, target: bool = False):
    """``"nn.Linear"`` -> ``torch.nn.Linear`` (imports torch lazily).

    User code is imported only when allowed. A ``target`` (what a spec's ``module:``
    names) is always user code, library or not: it needs the permission too, and must be
    an ``nn.Module`` subclass, checked before anything calls it (``torch.hub.load`` or
    ``os.system`` are refused, never called)."""
    if not (target or is_user_code(dotted)):
        return _resolve(dotted)
    if not ALLOW_IMPORT.get():
        raise ImportRefused(f"the spec names your code `{dotted}`; specdl imports user code only "
                            "with --allow-import (allow_import=True in Python)")
    try:
        obj = _resolve(dotted)
    except (ImportError, AttributeError) as e:
        raise ImportRefused(f"cannot import `{dotted}`: {e}") from None
    import torch

    if target and not (isinstance(obj, type) and issubclass(obj, torch.nn.Module)):
        raise ImportRefused(f"`{dotted}` is not an nn.Module subclass; a `module:` target must be one")
    return obj


@functools.cache
def _resolve(dotted: str):
    import importlib

    if dotted in HELPERS:
        source, namespace = HELPERS[dotted]
        ns = namespace()
        exec(source, ns)  # noqa: S102 - specdl's own helper text, shipped verbatim in codegen
        return ns[dotted]
    root, _, rest = dotted.partition(".")
    parts = [_ROOTS.get(root, root), *(rest.split(".") if rest else [])]
    for i in range(len(parts), 0, -1):  # the longest importable module prefix
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            if i == 1:
                raise
            continue
        for part in parts[i:]:
            obj = getattr(obj, part)
        return obj


@dataclass(frozen=True)
class Call:
    """A constructor call, the one description that both build and codegen use."""

    fn: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    target: bool = False  # fn is a spec's `module:` target: an nn.Module class, checked

    def code(self, *lead: str, width: int = 88) -> str:
        """Python source for the call; wrapped one argument a line when longer than width."""
        if self.fn in NAMES:
            return self.fn
        parts = [*lead, *(literal(a) for a in self.args),
                 *(f"{k}={literal(v)}" for k, v in self.kwargs.items())]
        flat = f"{self.fn}({', '.join(parts)})"
        if len(flat) <= width:
            return flat
        return f"{self.fn}(\n" + "".join(f"    {p},\n" for p in parts) + ")"

    def __call__(self, *lead):
        """Construct it; nested Calls among the arguments are constructed first, in
        order, as Python evaluates the generated code."""
        if self.fn in NAMES:
            return resolve(self.fn)
        args = [a() if isinstance(a, Call) else a for a in self.args]
        kwargs = {k: v() if isinstance(v, Call) else v for k, v in self.kwargs.items()}
        return resolve(self.fn, self.target)(*lead, *args, **kwargs)

    def helpers(self) -> set[str]:
        """The specdl helpers (HELPERS) this call constructs, nested calls included: the
        generated script must carry their source."""
        out = {self.fn} & HELPERS.keys()
        for v in [*self.args, *self.kwargs.values()]:
            if isinstance(v, Call):
                out |= v.helpers()
        return out

    def imports(self) -> set[str]:
        """Modules the generated code must import for this call (user code, torchvision)."""
        out = set()
        root = self.fn.split(".")[0]
        if root not in _ROOTS and self.fn not in HELPERS:
            out.add(self.fn.rsplit(".", 1)[0])
        for v in [*self.args, *self.kwargs.values()]:
            if isinstance(v, Call):
                out |= v.imports()
        return out


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


