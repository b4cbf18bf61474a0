"""Arguments torch derives from the input (``in_features``, ``in_channels``, ...). A
spec leaves them out, as specdl infers them; one written by hand is accepted when it
agrees with the inferred value, and is otherwise a located error that says so."""

from __future__ import annotations

from ..errors import Issue

# layer type -> the arguments written by hand: (name, which input, the dimension it is);
# the input counts the float inputs, the last one standing for those not given
# (attention's key defaults to its query, its value to its key)
INFERRED = {
    "linear": [("in_features", 0, -1)], "bilinear": [("in1_features", 0, -1), ("in2_features", 1, -1)],
    **{f"conv{d}d": [("in_channels", 0, 1)] for d in (1, 2, 3)},
    **{f"conv_transpose{d}d": [("in_channels", 0, 1)] for d in (1, 2)},
    **{t: [("num_features", 0, 1)] for t in ("batchnorm1d", "batchnorm2d", "instancenorm2d")},
    "groupnorm": [("num_channels", 0, 1)],
    **{t: [("input_size", 0, -1)] for t in ("rnn", "lstm", "gru")},
    "multihead_attention": [("embed_dim", 0, -1), ("kdim", 1, -1), ("vdim", 2, -1)],
    "transformer_encoder_layer": [("d_model", 0, -1)], "transformer_encoder": [("d_model", 0, -1)],
}


def take(item: dict, path: tuple, src) -> dict:
    """Set aside the inferred arguments written in a canonical layer item (those the layer
    has no field of), to be compared once shapes are known."""
    from ..components.base import REGISTRY

    t = item.get("type")
    fields = REGISTRY["layer"][t].model_fields if t in REGISTRY["layer"] else {}
    written = [(arg, i, dim, item[arg]) for arg, i, dim in INFERRED.get(t, ()) if arg in item and arg not in fields]
    if not written:
        return item
    src.inferred[path] = written
    return type(item)({k: v for k, v in item.items() if k not in {w[0] for w in written}})


def _input(n, i: int):
    floats = [t for t in n.in_types if t.dtype != "int64"] or n.in_types
    return floats[min(i, len(floats) - 1)]


def check(graph, src) -> list[Issue]:
    """A located error for each inferred argument that disagrees with the shapes."""
    out = []

    def walk(g):
        for n in g.nodes:
            for arg, i, dim, value in src.inferred.get(n.path, ()) if n.in_types else ():
                x = _input(n, i)
                got = x.shape[dim]
                if isinstance(value, bool) or not isinstance(value, int) or value != got:
                    out.append(src.issue(n.path + (arg,), f"`{arg}` is inferred as {got} from the input "
                                         f"{x}; remove it (got {value!r})", n.type, key=True))
            for sub in n.subgraphs:
                walk(sub)
    walk(graph)
    return out
