"""The last guard of codegen: every identifier in the rendered script's syntax tree is
one that specdl itself writes (the template, the helper sources, the registry's and the
sources' code) or one the spec named (layer names, block classes, ``module:`` targets
and their argument names). Anything else means a value reached the script as code: an
internal error that stops codegen, never a script that runs it."""

from __future__ import annotations

import ast
import builtins
import functools
import re
from pathlib import Path

from ..errors import RunError

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Never allowed unless the template itself writes them (it writes none of these but
# getattr): names that reach the interpreter, the file system or other processes.
DENY = frozenset("""
    eval exec compile __import__ getattr setattr delattr globals locals vars open input breakpoint
    exit quit help system popen spawn subprocess pickle marshal ctypes builtins importlib
    __builtins__ __class__ __subclasses__ __globals__ __dict__ __code__ __reduce__ __bases__ __mro__
""".split())


class UnsafeCode(RunError):
    """Generated code holds something specdl did not write (an internal error)."""


BARE = re.compile(r"(?<![.\w])[A-Za-z_][A-Za-z0-9_]*")  # an identifier not after a dot
DOTTED = re.compile(r"(?<=\.)[A-Za-z_][A-Za-z0-9_]*")  # an identifier after a dot


def _own_texts() -> list[str]:
    """The template's text and the helper sources: the script specdl writes around values."""
    from ..files import templates_dir

    return [p.read_text() for p in sorted(templates_dir().rglob("*.j2"))] + helper_texts()


def helper_texts() -> list[str]:
    """Each helper's source as a script holds it (specdl/runtime/, read as text)."""
    from ..components.trust import HELPERS
    from .runtime_source import helper_source

    return [helper_source(name) for name in HELPERS]


@functools.cache
def emitted() -> tuple[frozenset, frozenset]:
    """(bare names, attribute names) specdl can write. Bare: those the template and the
    helper sources write bare. Attributes: all of their identifiers. Both: those of the
    package's own modules (where every emitter lives), less DENY and dunders."""
    texts = _own_texts()
    # a denied name counts only where specdl writes it as code: bare in a helper's syntax
    # tree (never a word of its docstring or comments), or after a dot (`torch.compile`)
    attrs = {n for t in texts for n in IDENT.findall(t)} - DENY
    attrs |= {n for t in texts for n in DOTTED.findall(t)} & DENY
    written = (script_names() - DENY) | (_helper_code_names() & DENY)
    here = Path(__file__).resolve().parents[1]
    rest = {n for p in here.rglob("*.py") for n in IDENT.findall(p.read_text())}
    # the runtime functions a script copies from the package: their attributes (`Image.open`)
    copied = [*(here / "runtime").glob("*.py")]
    attrs |= {n for p in copied for n, _, is_bare in identifiers(ast.parse(p.read_text())) if not is_bare} & DENY
    # and the special methods their classes define (runtime/inputs.py's Inputs slices like a tensor)
    written |= {n.name for p in copied for n in ast.walk(ast.parse(p.read_text()))
                if isinstance(n, ast.FunctionDef) and n.name.startswith("__")} - DENY
    rest = {n for n in rest - DENY if not (n.startswith("__") and n.endswith("__"))}
    # the transforms name their statistics after the array: f"{v}_mean" for v in x, y
    rest |= {v + n for n in rest if n.startswith("_") and not n.startswith("__") for v in "xy"}
    return frozenset(written | rest), frozenset(attrs | rest)


def _helper_code_names() -> set:
    """The names the helper sources use bare, from their syntax trees."""
    return {n for src in helper_texts() for n, _, is_bare in identifiers(ast.parse(src)) if is_bare}


@functools.cache
def script_names() -> frozenset:
    """Names the script itself defines or reads bare (the template's and the helpers'
    text): a class of the spec's must not take one."""
    return frozenset(n for t in _own_texts() for n in BARE.findall(t))


def identifiers(tree: ast.AST):
    """(identifier, line, bare) for every name, attribute, keyword, import, definition
    and argument in a syntax tree; ``bare`` is False for attributes and keywords."""
    for node in ast.walk(tree):
        names: list = []
        bare = True
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names, bare = [node.attr], False
        elif isinstance(node, ast.keyword) and node.arg:
            names, bare = [node.arg], False
        elif isinstance(node, ast.alias):
            names = [*node.name.split("."), *([node.asname] if node.asname else [])]
        elif isinstance(node, ast.ImportFrom):
            names = (node.module or "").split(".")
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names = [node.name]
        elif isinstance(node, ast.arg):
            names = [node.arg]
        for n in names:
            if n:
                yield n, getattr(node, "lineno", 0), bare


def guard(script: str, spec_names=()) -> None:
    """Raise UnsafeCode unless ``script`` parses and every identifier in it is one specdl
    writes (a bare name only where specdl writes it bare) or one the spec named."""
    try:
        tree = ast.parse(script)
    except SyntaxError as e:
        raise UnsafeCode(f"internal error: the generated script does not parse (line {e.lineno}: "
                         f"{e.msg}); please report this spec") from None
    public = {n for n in dir(builtins) if not n.startswith("_")} - DENY
    bare, attrs = emitted()
    spec = set(spec_names)
    for name, line, is_bare in identifiers(tree):
        if name not in (bare if is_bare else attrs) and name not in public | spec:
            raise UnsafeCode(f"internal error: the generated script would use `{name}` (line {line}), "
                             "which specdl does not write and the spec did not name; codegen stopped")
