"""Token layers of transformers: a learned class token, a learned position embedding,
fixed sinusoidal positions, and taking one token (select). The three modules are specdl
helpers, defined in specdl/runtime/layers.py: build constructs them, and the generated
script holds their source."""

from typing import ClassVar

from ..errors import ShapeError
from .base import Layer, PosFloat
from .call import Call
from .tensor import norm_dim


class ClassTokenSpec(Layer, type="class_token"):
    """Prepends one learned vector along dim 1 (ViT's class token): [N, L, D] ->
    [N, L+1, D]; D is inferred."""

    ranks = (3,)
    rank_hint = "[N, L, D] (batch, tokens, features)"
    helpers = ("ClassToken",)

    def infer(self, x):
        return x.with_shape("N", x.shape[1] + 1, x.shape[2])

    def count_params(self, x):
        return x.shape[2]

    def ctor(self, x):
        return Call("ClassToken", (x.shape[2],))


class PositionEmbeddingSpec(Layer, type="position_embedding", primary="init_std"):
    """Adds a learned [1, L, D] tensor (initialised N(0, init_std)) to [N, L, D]; L and
    D are inferred."""

    init_std: PosFloat = 0.02
    ranks = (3,)
    rank_hint = "[N, L, D] (batch, tokens, features)"
    helpers = ("PositionEmbedding",)

    def count_params(self, x):
        return x.shape[1] * x.shape[2]

    def ctor(self, x):
        return Call("PositionEmbedding", (x.shape[1], x.shape[2]), self.changed("init_std"))


class SinusoidalPositionSpec(Layer, type="sinusoidal_position", primary="base"):
    """Adds the fixed sine/cosine positions of the original transformer (Vaswani et al.
    2017) to [N, L, D]: sin(p / base^(2i/D)) in even features, cos in odd ones; nothing
    learned, nothing in the state_dict. L and D are inferred."""

    base: PosFloat = 10000.0
    ranks = (3,)
    rank_hint = "[N, L, D] (batch, tokens, features)"
    helpers = ("SinusoidalPosition",)
    examples: ClassVar[dict] = {"base": [10000.0, 2.0]}

    def ctor(self, x):
        return Call("SinusoidalPosition", (x.shape[1], x.shape[2]), self.changed("base"))


class SelectSpec(Layer, type="select", primary="index"):
    """Takes one index along ``dim`` and drops that dimension (torch.select):
    ``{dim: 1, index: 0}`` maps [N, L, D] to [N, D] (ViT's class token)."""

    dim: int = 1
    index: int = 0
    functional = True
    dtypes = ("float32", "int64")

    def infer(self, x):
        d = norm_dim(self.dim, x.rank)
        if d == 0:
            raise ShapeError("dim=0 is the batch dimension; select along a feature dimension")
        if not -x.shape[d] <= self.index < x.shape[d]:
            raise ShapeError(f"index={self.index} is out of range for dimension {d} of {x} "
                             f"(size {x.shape[d]})")
        return x.with_shape(*x.shape[:d], *x.shape[d + 1:])

    def apply(self, x):
        return x.select(self.dim, self.index)

    def expr(self, x):
        return f"{x}.select({self.dim}, {self.index})"
