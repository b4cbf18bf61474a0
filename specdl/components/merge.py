"""Merges: layers that take several named inputs (residuals, skips, branches)."""


from ..errors import ShapeError
from .base import Layer
from .tensor import TT, norm_dim


def broadcast(xs: list[TT]) -> TT:
    """torch broadcasting over static shapes; the symbolic batch N matches only N or 1."""
    rank = max(x.rank for x in xs)
    out = []
    for i in range(1, rank + 1):
        dims = {x.shape[-i] for x in xs if x.rank >= i} - {1}
        if len(dims) > 1:
            raise ShapeError("cannot broadcast " + ", ".join(map(str, xs)) +
                             f": dimension {rank - i} differs ({', '.join(map(str, sorted(dims, key=str)))})")
        out.append(dims.pop() if dims else 1)
    out.reverse()
    if "N" in out[1:]:  # a shorter input's batch met a feature dimension of size 1
        raise ShapeError("cannot broadcast " + ", ".join(map(str, xs)) + ": inputs of different "
                         f"ranks would stretch the batch over dimension {out.index('N', 1)}; "
                         "give them the same rank (unflatten or reshape one)")
    return TT(tuple(out), xs[0].dtype)


class _Elementwise(Layer):
    min_inputs = 2
    max_inputs = None
    functional = True

    def infer(self, *xs):
        if len({x.dtype for x in xs}) > 1:
            raise ShapeError("inputs have different dtypes: " + ", ".join(x.dtype for x in xs))
        return broadcast(list(xs))


class AddSpec(_Elementwise, type="add"):
    """Elementwise sum of two or more inputs, broadcast as torch does (sizes align from
    the last dimension; a size of 1 stretches): residual connections, biases."""

    def apply(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out

    def expr(self, *names):
        return " + ".join(names)


class MulSpec(_Elementwise, type="mul"):
    """Elementwise product of two or more inputs, broadcast as torch does: sizes align
    from the last dimension and a size of 1 stretches, so [N, C, H, W] * [N, C, 1, 1] is a
    channel gate (squeeze-and-excitation)."""

    def apply(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out

    def expr(self, *names):
        return " * ".join(names)


class ConcatSpec(Layer, type="concat", primary="dim"):
    """Concatenates two or more inputs along ``dim`` (default 1, the channels/features)."""

    dim: int = 1
    min_inputs = 2
    max_inputs = None
    functional = True

    def infer(self, *xs):
        rank = xs[0].rank
        if any(x.rank != rank for x in xs):
            pool = "; pool the sequence first (sequence_pool)" if {x.rank for x in xs} == {2, 3} else ""
            raise ShapeError("inputs have different ranks: " + ", ".join(map(str, xs)) + pool)
        d = norm_dim(self.dim, rank)
        if d == 0:
            raise ShapeError("dim=0 is the batch dimension; concatenate along a feature dimension")
        for i in range(rank):
            if i != d and len({x.shape[i] for x in xs}) > 1:
                raise ShapeError(f"inputs differ in dimension {i} (only dim={self.dim} may differ): "
                                 + ", ".join(map(str, xs)))
        return xs[0].with_shape(*xs[0].shape[:d], sum(x.shape[d] for x in xs), *xs[0].shape[d + 1:])

    def apply(self, *xs):
        import torch

        return torch.cat(list(xs), dim=self.dim)

    def expr(self, *names):
        return f"torch.cat([{', '.join(names)}], dim={self.dim})"


class SubSpec(_Elementwise, type="sub"):
    """The first input minus the second, broadcast as torch does (highway networks'
    ``h - x``; ``inputs: [a, b]`` gives a - b)."""

    max_inputs = 2

    def apply(self, a, b):
        return a - b

    def expr(self, a, b):
        return f"{a} - {b}"


class StackSpec(Layer, type="stack", primary="dim"):
    """Stacks two or more inputs of the same shape along a new ``dim`` (default 1):
    k inputs [N, D] give [N, k, D], the tokens of a transformer over the inputs
    (Ludwig's transformer combiner: per-input ``linear: D``, then ``stack``)."""

    dim: int = 1
    min_inputs = 2
    max_inputs = None
    functional = True
    dtypes = ("float32", "int64")

    def infer(self, *xs):
        if len({(x.shape, x.dtype) for x in xs}) > 1:
            raise ShapeError("stack takes inputs of one shape and dtype: " + ", ".join(f"{x.dtype} {x}" for x in xs))
        d = norm_dim(self.dim, xs[0].rank + 1)
        if d == 0:
            raise ShapeError("dim=0 is the batch dimension; stack along a feature dimension")
        return xs[0].with_shape(*xs[0].shape[:d], len(xs), *xs[0].shape[d:])

    def apply(self, *xs):
        import torch

        return torch.stack(list(xs), dim=self.dim)

    def expr(self, *names):
        return f"torch.stack([{', '.join(names)}], dim={self.dim})"
