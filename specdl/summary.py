"""The shape table of ``check``, the cost table of ``summary``, and ``layers``."""

from __future__ import annotations

from .components.base import REGISTRY
from .memory import human

_BYTES = {"float32": 4, "int64": 8}


def _console():
    import sys

    from rich.console import Console

    # markup off: user text (class labels, paths, docstrings' `[h, w]`) is never rich markup
    return Console(highlight=False, markup=False, width=None if sys.stdout.isatty() else 160)


def shape_table(a, verbose: bool = False, batch: int = 1) -> None:
    """Print the per-layer table (name, type, output shape, params [, MACs, memory])."""
    from rich import box
    from rich.table import Table

    g = a.graph
    title = f"{a.spec.name}: {len(g.nodes)} layers, {a.task}, input {g.input}"
    cols = ["layer", "type", "output", "params"] + (["MACs", "activations"] if verbose else [])
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for c in cols:
        t.add_column(c, justify="right" if c in ("params", "MACs", "activations") else "left")
    chain = _is_chain(g)
    t.add_row("input", "", str(g.input), "", *(["", ""] if verbose else []))
    total_p = total_m = total_a = 0
    for n in g.nodes:
        p, m = n.params(), n.macs() * batch
        act = n.out.numel() * _BYTES[n.out.dtype] * batch
        total_p, total_m, total_a = total_p + p, total_m + m, total_a + act
        name = n.name if chain else f"{n.name} <- {', '.join(n.inputs)}"
        t.add_row(name, n.type, str(n.out), f"{p:,}", *([human(m), human(act, "B")] if verbose else []))
    t.add_section()
    t.add_row("total", "", "", f"{total_p:,}",
              *([human(total_m), human(total_a, "B")] if verbose else []))
    con = _console()
    con.print(title, markup=False)
    con.print(t)
    out = g.output.out
    target = (f"{a.data.classes} classes" if a.task == "classification" else
              f"{a.data.classes} labels" if a.task == "multilabel" else
              "target [" + ", ".join(map(str, a.data.outputs)) + "]")
    con.print(f"output {out} -> {target}, loss {a.loss.type_name}")
    if verbose:
        con.print(f"parameters: {total_p:,} ({human(total_p * 4, 'B')} as float32); "
                  f"multiply-adds per batch of {batch}: {human(total_m)}; "
                  f"activations per batch of {batch}: {human(total_a, 'B')}")
        if _has_attention(a.graph):
            con.print("note: these multiply-adds include attention; torch's FlopCounterMode counts "
                      "scaled_dot_product_attention as zero on the CPU unless its math backend is used, "
                      "so compare with that backend (docs/cli.md)", markup=False)


ATTENTION = ("multihead_attention", "transformer_encoder_layer", "transformer_encoder")


def _has_attention(g) -> bool:
    return any(n.type in ATTENTION or (getattr(n.layer, "type_name", "") in ATTENTION)
               or any(_has_attention(sub) for sub in n.subgraphs) for n in g.nodes)


def _is_chain(g) -> bool:
    prev = "input"
    for n in g.nodes:
        if n.inputs != [prev]:
            return False
        prev = n.name
    return True


def type_text(ann, metadata=()) -> str:
    """A readable type: ``int >= 1 | list[int >= 1]``, ``'none' | 'tanh'``."""
    import types
    import typing

    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        return type_text(args[0], tuple(metadata) + tuple(args[1:]))
    bounds = []
    for m in metadata:
        for attr, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            v = getattr(m, attr, None)
            if v is not None:
                bounds.append(f"{op} {v}")
        for m2 in getattr(m, "metadata", []) or []:
            for attr, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                v = getattr(m2, attr, None)
                if v is not None:
                    bounds.append(f"{op} {v}")
    suffix = (" " + " ".join(bounds)) if bounds else ""
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if ann is type(None):
        return "null"
    if origin in (list, tuple):
        inner = ", ".join(type_text(a) for a in args if a is not Ellipsis)
        return f"list[{inner}]{suffix}"
    name = getattr(ann, "__name__", str(ann))
    return f"{name}{suffix}"


def describe_args(cls) -> list[tuple[str, str, str]]:
    """(argument, type, default) for a registered component, from its pydantic fields."""
    rows = []
    for name, f in cls.model_fields.items():
        if name in ("type", "name", "inputs"):
            continue
        default = "required" if f.is_required() else repr(f.default)
        rows.append((name, type_text(f.annotation, f.metadata), default))
    return rows


CATALOGUE = {"layer": "layer", "image_transform": "image transform"}  # what `specdl layers` lists


def layer_catalogue(name: str | None = None, markdown: bool = False) -> int:
    if markdown:
        print(catalogue_markdown())
        return 0
    con = _console()
    if name:
        return _describe(con, name)
    for kind, what in CATALOGUE.items():
        con.print(_catalogue_table(kind, what))
    return 0


BLOCK_CALL = ("A block of `model.blocks` is used like a layer, by its name, with its `$` parameters and "
              "`repeat` (1 to 1000): `residual: {c: 32, repeat: 2}` (docs/spec.md, Model).")


def _listed(kind: str) -> list:
    """The entries a spec may write, by name: the registry less its structural ones (a block
    call is written with the block's name, never as `call`)."""
    return [(n, c) for n, c in sorted(REGISTRY[kind].items()) if not getattr(c, "structural", False)]


def _describe(con, name: str) -> int:
    """One component of the catalogue: its text and arguments."""
    found = [c for k in CATALOGUE for n, c in _listed(k) if n == name]
    if not found:
        from .errors import RunError, did_you_mean

        known = [n for k in CATALOGUE for n, _ in _listed(k)]
        raise RunError(f"unknown layer or image transform `{name}`" + did_you_mean(name, known))
    cls = found[0]
    kind = "" if cls.kind == "layer" else f" ({CATALOGUE[cls.kind]}: data.transforms / data.augment)"
    con.print(f"{name}{kind}: {(cls.__doc__ or '').strip()}", markup=False)
    con.print(f"primary argument: {cls.primary or '-'}", markup=False)
    for arg, typ, default in describe_args(cls):
        con.print(f"  {arg}: {typ} = {default}", markup=False)
    return 0


def _catalogue_table(kind: str, what: str):
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for c in (what, "primary", "arguments", "what it does"):
        t.add_column(c)
    for n, cls in _listed(kind):
        args = ", ".join(a for a, _, _ in describe_args(cls))
        t.add_row(n, cls.primary or "", args, (cls.__doc__ or "").strip().split("\n")[0])
    return t


def catalogue_markdown() -> str:
    """docs/layers.md: every registered component, from the registry."""
    out = ["# Component reference", "",
           "Generated from the registry by `specdl layers --markdown > docs/layers.md`; a test keeps",
           "it current. Every component is written in any of the three forms of docs/spec.md",
           "(`relu`, `linear: 50`, `{type: linear, out_features: 50}`); the primary argument is",
           "the one the short form `name: value` sets. Arguments torch derives from the input",
           "(in_features, in_channels, num_features, ...) are inferred and never written.", ""]
    titles = {"layer": "Layers", "loss": "Losses", "optimizer": "Optimizers",
              "scheduler": "Schedulers", "metric": "Metrics", "transform": "Data transforms",
              "image_transform": "Image transforms and augmentations"}
    for kind, title in titles.items():
        out += [f"## {title}", ""] + ([BLOCK_CALL, ""] if kind == "layer" else [])
        for name, cls in _listed(kind):
            doc = " ".join((cls.__doc__ or "").split())
            out.append(f"### `{name}`")
            out.append("")
            out.append(doc)
            out.append("")
            args = describe_args(cls)
            if cls.primary:
                out.append(f"Primary argument: `{cls.primary}`.")
                out.append("")
            if args:
                out += ["| argument | type | default |", "| --- | --- | --- |"]
                out += [f"| `{a}` | {t.replace('|', chr(92) + '|')} | `{d}` |" for a, t, d in args]
                out.append("")
    return "\n".join(out)
