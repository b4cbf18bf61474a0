"""Where components stand in a spec: the one table of component sites (``SITES``), the
walk that finds every component of a spec (``component_sites``, ``kind_at``,
``used_types``), and what a component's name means wherever it stands (its arguments,
its primary argument)."""

from collections.abc import Callable
from typing import NamedTuple

from .. import components  # noqa: F401  (fills the registry)
from ..components.base import KINDS, REGISTRY


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


def _image_input(data: dict, path: tuple) -> bool:
    """The named input at ``path`` (data, inputs, name, ...) reads images (sources/csv_inputs.py)."""
    how = data["data"]["inputs"].get(path[2]) if isinstance(data["data"].get("inputs"), dict) else None
    return isinstance(how, dict) and ("image" in how or how.get("kind") == "image")
def _one_target(data: dict) -> bool:
    return not _heads(data)


def _heads(data: dict) -> bool:
    """Several outputs (spec 12.7): ``loss`` and ``metrics`` are keyed by target."""
    d = data.get("data")
    return isinstance(d, dict) and d.get("targets") is not None


def _head_tables(data: dict) -> bool:
    return _heads(data) and _tables(data)


class Site(NamedTuple):
    """Where components stand in a spec: ``pattern`` is a path whose ``"*"`` is any key
    and ``"[*]"`` any list index; ``when`` limits the site to some specs; a
    ``template`` site holds text that is read only once a block call fills it in."""

    pattern: tuple
    kind: str
    when: Callable[[dict], bool] | None = None
    template: bool = False
    at: Callable[[dict, tuple], bool] | None = None  # limits the site to some paths of a spec


# The one table of component sites: canonicalisation (which form, which registry),
# validation (the types a spec uses; no errors inside a component that failed) and
# error messages (argument or key) all read it. For one pattern the first site whose
# `when` holds is the one. A block call, as the expander wrote it, holds layers at
# CALL_LAYERS, to any depth; a block's body (a template site) is read in each call's
# expansion, where its $parameters have values.
SITES = (
    Site(("loss",), "loss", _one_target),
    Site(("loss", "*"), "loss", _heads),
    Site(("optimizer",), "optimizer"),
    Site(("scheduler",), "scheduler"),
    Site(("metrics", "[*]"), "metric", _one_target),
    Site(("metrics", "*", "[*]"), "metric", _heads),
    Site(("data", "transforms", "[*]"), "image_transform", _images),
    Site(("data", "transforms", "[*]"), "transform", _tables),
    Site(("data", "augment", "[*]"), "image_transform", _images),
    Site(("data", "target_transforms", "[*]"), "transform", _any_source),
    Site(("data", "inputs", "*", "transforms", "[*]"), "image_transform", _tables, at=_image_input),
    Site(("data", "inputs", "*", "transforms", "[*]"), "transform", _tables),  # a CSV's numeric inputs
    Site(("data", "inputs", "*", "augment", "[*]"), "image_transform", _tables),  # a CSV's image inputs
    Site(("data", "targets", "*", "transforms", "[*]"), "transform", _head_tables),
    Site(("model", "blocks", "*", "[*]"), "layer", template=True),
    Site(("model", "layers", "[*]"), "layer"),
)
CALL_LAYERS = ("layers", "[*]")


def _site(data, pattern: tuple, path: tuple) -> Site | None:
    """The site of ``pattern`` that applies to ``data`` at ``path`` (the first whose
    ``when`` and ``at`` hold), if any."""
    return next((s for s in SITES if s.pattern == pattern and (s.when is None or s.when(data))
                 and (s.at is None or s.at(data, path))), None)


PATTERNS = tuple(dict.fromkeys(s.pattern for s in SITES))


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
    for pattern in PATTERNS:
        stack = [(path, node, site) for path, node in _walk(data, pattern, ())
                 if (site := _site(data, pattern, path)) is not None and not site.template]
        while stack:
            path, node, site = stack.pop(0)
            yield path, site
            if site.kind == "layer" and is_expanded(node):
                stack[:0] = [(p, n, site) for p, n in _walk(node, CALL_LAYERS, path)]


def _matches(pattern: tuple, path: tuple) -> bool:
    return len(path) >= len(pattern) and all(
        p == x or (p == "[*]" and isinstance(x, int)) or (p == "*" and isinstance(x, str))
        for p, x in zip(pattern, path))


def kind_at(path: tuple, data) -> str | None:
    """The kind of the component at ``path`` (a canonical path), or of the one it lies
    in, if any."""
    path = tuple(path)
    return next((s.kind for p in PATTERNS if _matches(p, path) and (s := _site(data, p, path[:len(p)]))), None) \
        if isinstance(data, dict) else None


def is_expanded(item) -> bool:
    """A block call, as the expander (blocks.py) wrote it."""
    from .blocks import Expanded

    return isinstance(item, Expanded)


def arguments_of(name: str) -> set | None:
    """The arguments of the component(s) registered as ``name`` (None: no component has
    that name); overrides read it to tell `adam` under an adamw optimizer from an argument."""
    classes = [c for k in KINDS if (c := REGISTRY[k].get(name)) is not None]
    return {a for c in classes for n, f in c.model_fields.items() for a in (n, f.alias) if a} if classes else None


def primary_of(name: str) -> str | None:
    """The argument ``{name: value}`` sets, for whichever kind of component ``name`` is."""
    return next((c.primary for k in KINDS if (c := REGISTRY[k].get(name)) is not None
                 and getattr(c, "primary", None)), None)


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

