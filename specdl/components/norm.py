"""Normalisation layers; the feature counts torch asks for are inferred."""


import math
from typing import ClassVar

from pydantic import Field

from ..errors import ShapeError
from .base import Layer, PosFloat, PosInt
from .call import Call


class _BatchNorm(Layer):
    eps: PosFloat = 1e-5
    momentum: float = Field(0.1, ge=0.0, le=1.0)
    affine: bool = True
    torch_name: ClassVar[str] = ""

    def count_params(self, x):
        return 2 * x.shape[1] if self.affine else 0

    def ctor(self, x):
        return Call(f"nn.{self.torch_name}", (x.shape[1],), self.changed("eps", "momentum", "affine"))


class BatchNorm1dSpec(_BatchNorm, type="batchnorm1d"):
    """Batch normalisation over [N, C] or [N, C, L] (torch.nn.BatchNorm1d); C is inferred."""

    ranks = (2, 3)
    rank_hint = "[N, C] or [N, C, L]"
    rank_fix = "did you mean batchnorm2d?"
    torch_name: ClassVar[str] = "BatchNorm1d"


class BatchNorm2dSpec(_BatchNorm, type="batchnorm2d"):
    """Batch normalisation over [N, C, H, W] (torch.nn.BatchNorm2d); C is inferred."""

    ranks = (4,)
    rank_hint = "[N, C, H, W]"
    rank_fix = "did you mean batchnorm1d?"
    torch_name: ClassVar[str] = "BatchNorm2d"


class BatchNorm3dSpec(_BatchNorm, type="batchnorm3d"):
    """Batch normalisation over [N, C, D, H, W] (torch.nn.BatchNorm3d); C is inferred."""

    ranks = (5,)
    rank_hint = "[N, C, D, H, W]"
    rank_fix = "did you mean batchnorm2d?"
    torch_name: ClassVar[str] = "BatchNorm3d"


class InstanceNorm2dSpec(Layer, type="instancenorm2d"):
    """Instance normalisation over [N, C, H, W] (torch.nn.InstanceNorm2d)."""

    ranks = (4,)
    rank_hint = "[N, C, H, W]"
    eps: PosFloat = 1e-5
    affine: bool = False

    def infer(self, x):
        if x.shape[2] * x.shape[3] < 2:
            raise ShapeError(f"normalises over H x W, so it needs more than one spatial element; got {x}")
        return x

    def count_params(self, x):
        return 2 * x.shape[1] if self.affine else 0

    def ctor(self, x):
        return Call("nn.InstanceNorm2d", (x.shape[1],), self.changed("eps", "affine"))


class LayerNormSpec(Layer, type="layernorm", primary="normalized_shape"):
    """Layer normalisation over the trailing dimensions (torch.nn.LayerNorm); by default
    the last dimension, inferred."""

    normalized_shape: list[PosInt] | PosInt | None = None
    eps: PosFloat = 1e-5
    elementwise_affine: bool = True

    def shape_of(self, x) -> tuple:
        """The normalised shape, as torch is given it (``infer`` checks it fits)."""
        if self.normalized_shape is None:
            return (x.shape[-1],)
        ns = self.normalized_shape
        return tuple(ns) if isinstance(ns, list) else (ns,)

    def infer(self, x):
        if x.rank < 2:
            raise ShapeError(f"expects at least a 2-D input, got {x}")
        ns = self.shape_of(x)
        if len(ns) >= x.rank or tuple(x.shape[-len(ns):]) != ns:
            raise ShapeError(f"normalized_shape {list(ns)} must equal the trailing dimensions of {x}")
        return x

    def count_params(self, x):
        return 2 * math.prod(self.shape_of(x)) if self.elementwise_affine else 0

    def ctor(self, x):
        shape = self.shape_of(x)
        return Call("nn.LayerNorm", (shape[0] if len(shape) == 1 else shape,),
                    self.changed("eps", "elementwise_affine"))


class GroupNormSpec(Layer, type="groupnorm", primary="num_groups"):
    """Group normalisation over [N, C, ...] (torch.nn.GroupNorm); C is inferred."""

    num_groups: PosInt
    eps: PosFloat = 1e-5
    affine: bool = True
    ranks = (2, 3, 4, 5)

    def infer(self, x):
        if x.shape[1] % self.num_groups:
            raise ShapeError(f"num_groups={self.num_groups} must divide the {x.shape[1]} channels of {x}")
        return x

    def count_params(self, x):
        return 2 * x.shape[1] if self.affine else 0

    def ctor(self, x):
        return Call("nn.GroupNorm", (self.num_groups, x.shape[1]), self.changed("eps", "affine"))


class LocalResponseNormSpec(Layer, type="local_response_norm", primary="size"):
    """Local response normalisation across channels (AlexNet; torch.nn.LocalResponseNorm)
    over [N, C, ...]: each value divided by (k + alpha / size * sum of squares over
    ``size`` neighbouring channels) ** beta."""

    size: PosInt
    alpha: float = Field(1e-4, ge=0.0)
    beta: float = Field(0.75, ge=0.0)
    k: float = Field(1.0, gt=0.0)
    ranks = (3, 4, 5)
    rank_hint = "[N, C, L], [N, C, H, W] or [N, C, D, H, W]"

    def ctor(self, x):
        return Call("nn.LocalResponseNorm", (self.size,), self.changed("alpha", "beta", "k"))
