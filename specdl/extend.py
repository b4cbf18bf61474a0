"""Extending specdl from user code: a layer registered here behaves exactly like a
built-in one (check, build, codegen, schema, `specdl layers`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .components.base import GENERATION, REGISTRY, Layer
from .components.call import Call
from .components.tensor import TT
from .components.trust import TRUSTED
from .errors import ShapeError


def register_layer(name: str, *, params: dict[str, Any], shape: Callable, module: str,
                   args: Callable | None = None, primary: str | None = None, doc: str = "",
                   ranks: tuple | None = None, dtypes: tuple = ("float32",)) -> type[Layer]:
    """Register a layer.

    Args:
        name: the layer's name in specs (snake_case).
        params: ``{argument: type}`` (required) or ``{argument: (type, default)}``.
        shape: ``shape(p, x) -> TT or shape tuple``: the output for input type ``x``
            (``x.shape`` starts with the symbolic batch ``"N"``); raise ShapeError (or
            ValueError) when the input cannot be taken.
        module: import path of the ``nn.Module`` class, e.g. ``"mypkg.layers.Scale"``;
            the generated script imports it too.
        args: ``args(p, x) -> dict`` of constructor keyword arguments (default: the
            params as given).
        primary: the argument set by the short form ``name: value``.
        ranks: accepted input ranks, batch included (None: any).
        dtypes: accepted input dtypes.

    Returns:
        The new component class.
    """
    fields, ann = {}, {}
    for k, v in params.items():
        if isinstance(v, tuple):
            ann[k], fields[k] = v
        else:
            ann[k] = v

    def infer(self, x):
        try:
            out = shape(self, x)
        except ValueError as e:
            raise ShapeError(str(e)) from None
        return out if isinstance(out, TT) else TT(tuple(out), "float32")

    def ctor(self, x):
        kw = args(self, x) if args is not None else {k: getattr(self, k) for k in params}
        return Call(module, kwargs=kw)

    TRUSTED.add(module)  # registered from Python: importing it was the caller's own choice
    ns = {"__annotations__": ann, "__doc__": doc or f"User layer {module}.", "infer": infer,
          "ctor": ctor, "ranks": ranks, "dtypes": dtypes, "__module__": __name__, **fields}
    return type(f"{name.title().replace('_', '')}Spec", (Layer,), ns, type=name, primary=primary)


def unregister_layer(name: str) -> None:
    """Remove a registered layer (mostly for tests)."""
    REGISTRY["layer"].pop(name)
    GENERATION[0] += 1
