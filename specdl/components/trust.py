"""Which code a spec may name and how a dotted name becomes an object: library names
(``nn.Linear``) and specdl's helpers (``specdl.runtime``) always, user code only with
``--allow-import``."""

import contextlib
import functools
from contextvars import ContextVar

from ..errors import RunError

# The roots a spec's dotted names may start with, and the modules they stand for
ROOTS = {"v2": "torchvision.transforms.v2", "nn": "torch.nn", "F": "torch.nn.functional", "torch": "torch",
         "optim": "torch.optim", "metrics": "sklearn.metrics"}

# specdl's helpers, the classes and functions a spec's layers and sources construct or
# call by name: name -> (the runtime module defining it, what a script holds of that
# module for it, in order). Build imports the helper; a script holds that source.
HELPERS = {
    **{name: ("specdl.runtime.layers", (name,)) for name in (
        "ClassToken", "SequencePool", "padding_mask", "last_step", "PositionEmbedding", "SinusoidalPosition", "StochasticDepth", "LayerScale", "backbone")},
    "synthetic_data": ("specdl.runtime.tabular", ("synthetic_data",)),
    "synthetic_inputs": ("specdl.runtime.tabular", ("synthetic_inputs",)),
    "read_csv": ("specdl.runtime.csv", ("MISSING_CELLS", "missing_cell", "open_csv", "read_rows", "read_table",
                                        "csv_numbers", "money_cell", "as_number", "csv_number", "_target_numbers",
                                        "read_csv")),
}

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
    return dotted not in HELPERS and dotted not in TRUSTED and ROOTS.get(root, root).split(".")[0] not in LIBRARIES


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
        return getattr(importlib.import_module(HELPERS[dotted][0]), dotted)
    root, _, rest = dotted.partition(".")
    parts = [ROOTS.get(root, root), *(rest.split(".") if rest else [])]
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

