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
    Site(("data", "inputs", "*", "transforms", "[*]"), "transform", _tables),  # a CSV's numeric inputs
    Site(("data", "targets", "*", "transforms", "[*]"), "transform", _head_tables),
    Site(("model", "blocks", "*", "[*]"), "layer", template=True),
    Site(("model", "layers", "[*]"), "layer"),
)
CALL_LAYERS = ("layers", "[*]")


def _sites_for(data) -> list[Site]:
    """The sites that apply to ``data``: one per pattern."""
    out: dict = {}
    for site in SITES:
        if site.pattern not in out and (site.when is None or site.when(data)):
            out[site.pattern] = site
    return list(out.values())


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
    for site in _sites_for(data):
        if site.template:
            continue
        stack = list(_walk(data, site.pattern, ()))
        while stack:
            path, node = stack.pop(0)
            yield path, site
            if site.kind == "layer" and is_expanded(node):
                stack[:0] = _walk(node, CALL_LAYERS, path)


def _matches(pattern: tuple, path: tuple) -> bool:
    return len(path) >= len(pattern) and all(
        p == x or (p == "[*]" and isinstance(x, int)) or (p == "*" and isinstance(x, str))
        for p, x in zip(pattern, path))


def kind_at(path: tuple, data) -> str | None:
    """The kind of the component at ``path`` (a canonical path), or of the one it lies
    in, if any."""
    return next((s.kind for s in _sites_for(data) if _matches(s.pattern, tuple(path))), None) \
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

