"""The source text of the package's runtime functions, as generated scripts hold them,
read from the modules' files rather than imported: ``specdl codegen`` writes a torch
script without importing torch (runtime/loop.py and runtime/images.py import it). The
helpers a spec's layers and sources name (components/trust.py's HELPERS) are copied the
same way."""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path


@functools.cache
def _module(name: str) -> tuple[list[str], dict[str, ast.AST], dict[str, str]]:
    """A module's lines, its top-level definitions by name, and the module each name it
    imports with ``from . import`` comes from."""
    path = Path(importlib.util.find_spec(name).origin)
    text = path.read_text()
    tree = ast.parse(text)
    package = name.rpartition(".")[0]
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    defs.update({t.id: n for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                 if isinstance(t, ast.Name)})
    imported = {}
    for n in tree.body:
        if isinstance(n, ast.ImportFrom) and n.level:
            base = package.rsplit(".", n.level - 1)[0] if n.level > 1 else package
            for alias in n.names:
                imported[alias.asname or alias.name] = f"{base}.{n.module}" if n.module else base
    return text.splitlines(keepends=True), defs, imported


def _home(module: str, name: str) -> str:
    """The module that defines ``name`` as seen from ``module`` (following relative imports)."""
    _, defs, imported = _module(module)
    if name in defs and not isinstance(defs[name], ast.Assign):
        return module
    if name in imported:
        return _home(imported[name], name)
    raise LookupError(f"{module} has no function or class {name}")


def listed(module: str, tuple_name: str) -> list[tuple[str, str]]:
    """(module, name) of each function a module's tuple (``SCRIPT_FUNCTIONS = (...)``) names."""
    node = _module(module)[1][tuple_name]
    return [(_home(module, e.id), e.id) for e in node.value.elts]


def source(module: str, name: str) -> str:
    """A top-level function's or class's source with its decorators, as ``inspect.getsource``
    gives it, or a top-level assignment's (a constant the functions read)."""
    lines, defs, _ = _module(module)
    node = defs[name]
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])
    return "".join(lines[first - 1:node.end_lineno]).rstrip("\n") + "\n"


def helper_source(name: str) -> str:
    """A helper as a script holds it: its module's definitions that HELPERS lists for it,
    in order, two blank lines apart."""
    from ..components.trust import HELPERS

    module, names = HELPERS[name]
    return "\n\n".join(source(module, n) for n in names)


def names_read(text: str) -> set[str]:
    """The names a piece of source reads (loads)."""
    return {n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


@functools.lru_cache(maxsize=1024)
def free_names(text: str) -> frozenset[str]:
    """The names a piece of source reads and does not bind itself (arguments, assignments,
    its own imports). Cached: every codegen asks it of the same runtime functions."""
    tree = ast.parse(text)
    bound = {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
    bound |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    bound |= {a.asname or a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
              for a in n.names}
    return frozenset(names_read(text) - bound)


def needed(used: set, units: list[list[tuple[str, str]]]) -> list[tuple[str, str]]:
    """The (module, name) of the runtime functions a script needs: each that it reads
    (``used``), and each that these read in turn; in the order of ``units`` (lists of
    functions that come together: one comes, all come)."""
    home = {n: unit for unit in units for _, n in unit}
    order = [r for unit in units for r in unit]
    want, todo = set(), list(used & home.keys())
    while todo:
        fresh = set(home[todo.pop()]) - want
        want |= fresh
        todo += set().union(*(free_names(source(m, f)) for m, f in fresh)) & home.keys()
    return sorted(want, key=order.index)
