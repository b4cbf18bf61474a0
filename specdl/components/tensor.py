"""Tensor types as the shape rules see them (``TT``: a shape with a symbolic batch and a
dtype) and the small helpers of those rules: printing a shape, normalising a dimension,
torch's int-or-tuple arguments. Pure Python: no torch."""

import math
from dataclasses import dataclass, field

from ..errors import ShapeError


@dataclass(frozen=True)
class TT:
    """A tensor type: shape with a symbolic batch ``"N"`` first, and a dtype; a named
    input's int64 ids carry their exclusive upper bound ``vocab`` (spec 12.3: a text's
    vocabulary size, categories + 1, synthetic ``high``), which no derived type keeps."""

    shape: tuple
    dtype: str = "float32"
    vocab: int | None = field(default=None, compare=False, repr=False)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def feat(self) -> tuple:
        """The per-sample shape (without the batch dimension)."""
        return tuple(self.shape[1:])

    def with_shape(self, *shape) -> "TT":
        return TT(tuple(shape), self.dtype)

    def numel(self) -> int:
        """Elements per sample."""
        return math.prod(d for d in self.shape[1:])

    def __str__(self) -> str:
        return "[" + ", ".join(str(d) for d in self.shape) + "]"


def shape_str(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def norm_dim(dim: int, rank: int, what: str = "dim") -> int:
    """Normalise a torch dimension index (batch is 0) against ``rank``."""
    if not -rank <= dim < rank:
        raise ShapeError(f"{what}={dim} is out of range for a {rank}-D input "
                         f"(valid: {-rank}..{rank - 1}; the batch is dimension 0)")
    return dim % rank


def tup(v, n: int, what: str = "") -> tuple:
    """torch's int-or-tuple convention: one number for every dimension, or a list of
    exactly one per dimension (torch's stretching of a one-item list is refused: it
    holds for some arguments and layers and not others)."""
    if isinstance(v, (tuple, list)):
        if len(v) != n:
            name = f"{what} " if what else ""
            raise ShapeError(f"{name}{list(v)} must give {n} values, one per spatial dimension "
                             f"(or be one number for all {n})")
        return tuple(v)
    return (v,) * n
