"""Arguments torch derives from the input (``in_features``, ``in_channels``, ...). A
spec leaves them out, as specdl infers them; one written by hand is accepted when it
agrees with the inferred value, and is otherwise a located error that says so."""

from __future__ import annotations

from ..errors import Issue

# layer type -> (the argument written by hand, the input dimension it is)
INFERRED = {
    "linear": ("in_features", -1), "bilinear": ("in1_features", -1),
    **{f"conv{d}d": ("in_channels", 1) for d in (1, 2, 3)},
    **{f"conv_transpose{d}d": ("in_channels", 1) for d in (1, 2)},
    "batchnorm1d": ("num_features", 1), "batchnorm2d": ("num_features", 1), "instancenorm2d": ("num_features", 1),
    "groupnorm": ("num_channels", 1), "rnn": ("input_size", -1), "lstm": ("input_size", -1),
    "gru": ("input_size", -1), "multihead_attention": ("embed_dim", -1),
    "transformer_encoder_layer": ("d_model", -1), "transformer_encoder": ("d_model", -1),
}


def take(item: dict, path: tuple, src) -> dict:
    """Set aside an inferred argument written in a canonical layer item (when the layer
    has no field of that name), to be compared once shapes are known."""
    from ..components.base import REGISTRY

    t = item.get("type")
    arg, dim = INFERRED.get(t, (None, None))
    if arg is None or arg not in item or arg in REGISTRY["layer"][t].model_fields:
        return item
    src.inferred[path] = (arg, dim, item[arg])
    return type(item)({k: v for k, v in item.items() if k != arg})


def check(graph, src) -> list[Issue]:
    """A located error for each inferred argument that disagrees with the shapes."""
    out = []

    def walk(g):
        for n in g.nodes:
            if n.path in src.inferred and n.in_types:
                arg, dim, value = src.inferred[n.path]
                got = n.in_types[0].shape[dim]
                if isinstance(value, bool) or not isinstance(value, int) or value != got:
                    out.append(src.issue(n.path + (arg,), f"`{arg}` is inferred as {got} from the input "
                                         f"{n.in_types[0]}; remove it (got {value!r})", n.type, key=True))
            for sub in n.subgraphs:
                walk(sub)
    walk(graph)
    return out
