"""The layout shows the stages (docs/architecture.md), and stays so: a module's stage is its
folder under specdl/ (or its name, for the few modules directly under it); each imports only
from its own stage or the ones below; runtime/ (copied into scripts) imports nothing from
specdl; script/ (codegen) never imports build/; no import cycles (function-level imports
counted); no function in specdl/ over 60 lines."""

from __future__ import annotations

import ast

import pytest

from .conftest import ROOT

PKG = ROOT / "specdl"
# The stages, lowest first, by top-level folder (or module). A module may import from its
# own stage or a lower one.
STAGES = {
    "runtime": ["runtime"],
    "foundations": ["errors", "files", "manifest"],
    "catalogue": ["components", "sources"],
    "front end": ["front"],
    "build and script": ["build", "script"],
    "finished runs": ["runs"],
    "serving": ["serving"],
    "tune": ["tuning"],
    "interface": ["api", "cli", "cli_habits", "notes", "extend", "__main__", "__init__"],
}
MAX_TOP_LEVEL = 10
MAX_LINES = 60


def _modules() -> dict[str, object]:
    out = {}
    for f in PKG.rglob("*.py"):
        parts = f.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


def _imports(mods) -> dict[str, set]:
    """Every specdl module each module imports, at any level of the file."""
    graph = {m: set() for m in mods}
    for m, f in mods.items():
        pkg = m if f.name == "__init__.py" else m.rsplit(".", 1)[0]
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.ImportFrom) and n.level > 0:
                base = pkg.split(".")[: len(pkg.split(".")) - (n.level - 1)]
                target = ".".join(base + ([n.module] if n.module else []))
                subs = [f"{target}.{a.name}" for a in n.names if f"{target}.{a.name}" in mods]
                found = subs if subs and not n.module else [target] * (target in mods) + subs
                graph[m] |= {t for t in found if t != m}
    return graph


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _stage(module: str) -> str:
    return next((s for s, names in STAGES.items() if _top(module) in names), None)


def test_every_module_has_a_stage():
    unstaged = sorted(m for m in _modules() if _stage(m) is None)
    assert not unstaged, f"add these to STAGES (and to docs/architecture.md): {unstaged}"


def test_no_module_imports_a_later_stage():
    order = list(STAGES)
    up = [f"{m} ({_stage(m)}) imports {d} ({_stage(d)})" for m, deps in _imports(_modules()).items()
          for d in deps if order.index(_stage(d)) > order.index(_stage(m))]
    assert not up, "\n".join(sorted(up))


def test_every_module_is_in_the_architecture_doc():
    """docs/architecture.md names every module (as `name.py` in its folder's table)."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    missing = [str(p.relative_to(PKG)) for p in sorted(PKG.rglob("*.py"))
               if p.name != "__init__.py" and "__pycache__" not in p.parts and f"{p.name}`" not in doc
               and f"{p.relative_to(PKG)}`" not in doc]
    assert not missing, f"add these to docs/architecture.md: {missing}"


def test_runtime_imports_nothing_from_specdl():
    """runtime/ is copied into scripts, which have no specdl to import."""
    found = [f"{m} imports {d}" for m, deps in _imports(_modules()).items() if _top(m) == "runtime"
             for d in deps if _top(d) != "runtime"]
    assert not found, found


def test_script_never_imports_build():
    """codegen writes a script without torch: it reads runtime/ as text and never imports build/."""
    found = [f"{m} imports {d}" for m, deps in _imports(_modules()).items() if _top(m) == "script"
             for d in deps if _top(d) == "build"]
    assert not found, found


def test_few_modules_directly_under_specdl():
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL, f"{len(top)} modules directly under specdl/ (at most {MAX_TOP_LEVEL}): {top}"


def test_no_import_cycles():
    graph = _imports(_modules())
    graph = {m: {d for d in deps if d != "specdl"} for m, deps in graph.items()}  # the package re-exports
    state, cycles = {}, []

    def visit(m, path):
        state[m] = "open"
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                cycles.append(" -> ".join(path[path.index(d):] + [d]))
            elif d not in state:
                visit(d, path + [d])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(cycles)


def test_the_checks_can_fail(tmp_path):
    """The cycle and stage checks see function-level imports (a cycle written there counts)."""
    mods = {"specdl.a": tmp_path / "a.py", "specdl.b": tmp_path / "b.py"}
    mods["specdl.a"].write_text("def f():\n    from .b import g\n")
    mods["specdl.b"].write_text("from .a import f\n")
    assert _imports(mods) == {"specdl.a": {"specdl.b"}, "specdl.b": {"specdl.a"}}


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_functions_stay_short(path):
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines, line {n.lineno})"
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > MAX_LINES]
    assert not long, f"split these: {long}"


def _attributes_set_on_errors(tree) -> list[str]:
    """Assignments to an attribute of an exception object: a name bound by ``except ... as
    NAME``, or assigned from a call of a class whose name ends in Error (or Exception)."""
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
            continue
        errors = {h.name for h in ast.walk(fn) if isinstance(h, ast.ExceptHandler) and h.name}
        for n in ast.walk(fn):
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call):
                f = n.value.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if name.endswith(("Error", "Exception")):
                    errors |= {t.id for t in n.targets if isinstance(t, ast.Name)}
        for n in ast.walk(fn):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(
                n, (ast.AugAssign, ast.AnnAssign)) else []
            flat = [e for t in targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
            found += [f"{e.value.id}.{e.attr} (line {n.lineno})" for e in flat
                      if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name) and e.value.id in errors]
    return sorted(set(found))


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_no_attributes_set_on_raised_errors(path):
    """What an error carries is its constructor's arguments (``RunError(msg, exit_code=)``,
    ``ShapeError(msg, index, group)``), never attributes set on it after the fact."""
    found = _attributes_set_on_errors(ast.parse(path.read_text()))
    assert not found, f"pass these to the error's constructor: {found}"


@pytest.mark.parametrize("code, expected", [
    ("try:\n    f()\nexcept ValueError as e:\n    e.index = 1\n    raise\n", ["e.index (line 4)"]),
    ("def f():\n    try:\n        g()\n    except E as err:\n        err.index, err.group = 1, 'x'\n",
     ["err.group (line 5)", "err.index (line 5)"]),
    ("def f():\n    err = RunError('no')\n    err.exit_code = 1\n    raise err\n", ["err.exit_code (line 3)"]),
    ("def f():\n    e = errors.ShapeError('no')\n    e.hint += 'x'\n", ["e.hint (line 3)"]),
    ("def f():\n    x = make()\n    x.index = 1\n    raise ShapeError('no', 1)\n", []),
    ("class E(Exception):\n    def __init__(self, c):\n        self.code = c\n", []),
])
def test_the_error_attribute_check_can_fail(code, expected):
    assert _attributes_set_on_errors(ast.parse(code)) == expected


CODE_AS_TEXT = {"exec", "eval", "compile"}


def _builtin_code_calls(tree) -> list[str]:
    """Calls of the builtins that run text as code (``exec``, ``eval``, ``compile``); an
    attribute call (``model.eval()``, ``re.compile``, ``torch.compile``) is another function."""
    return [f"{n.func.id}() (line {n.lineno})" for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in CODE_AS_TEXT]


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_no_code_as_text(path):
    """No text is run as code in specdl/: what build runs and a script holds is a real
    function or class of specdl/runtime/, copied as its source."""
    found = _builtin_code_calls(ast.parse(path.read_text()))
    assert not found, f"define these as functions instead: {found}"


def test_the_code_as_text_check_can_fail():
    tree = ast.parse("def f(s):\n    model.eval()\n    re.compile(s)\n    torch.compile(f)\n"
                     "    eval(s)\n    exec(s, {})\n    return compile(s, 'x', 'exec')\n")
    assert _builtin_code_calls(tree) == ["eval() (line 5)", "exec() (line 6)", "compile() (line 7)"]
