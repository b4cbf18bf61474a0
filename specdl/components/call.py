"""``Call``: a constructor call, the one description that build constructs and codegen
writes, and ``literal``, which renders a validated value as Python source."""

import math
from dataclasses import dataclass, field

from .trust import HELPERS, ROOTS, resolve


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
        if root not in ROOTS and self.fn not in HELPERS:
            out.add(self.fn.rsplit(".", 1)[0])
        for v in [*self.args, *self.kwargs.values()]:
            if isinstance(v, Call):
                out |= v.imports()
        return out
