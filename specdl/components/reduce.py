"""Reductions over feature dimensions (mean, max, sum), a constant scale, and the sub-pixel
rearrangements (pixel_shuffle, pixel_unshuffle)."""

from typing import Annotated, ClassVar

from pydantic import Field

from ..errors import ShapeError
from .base import Layer, PosInt
from .call import Call
from .tensor import norm_dim


class _Reduce(Layer):
    dim: int | Annotated[list[int], Field(min_length=1)]
    keepdim: bool = False
    functional = True
    method: ClassVar[str] = ""
    examples: ClassVar[dict] = {"dim": [1, -1, [1, 2], [2, 3], [-1, -2], 2]}

    def dims(self, rank: int) -> list[int]:
        dims = [norm_dim(d, rank) for d in (self.dim if isinstance(self.dim, list) else [self.dim])]
        if 0 in dims:
            raise ShapeError(f"dim=0 is the batch dimension; {self.type_name} over feature dimensions")
        if len(set(dims)) < len(dims):
            raise ShapeError(f"dim {self.dim} names a dimension twice")
        return dims

    def infer(self, x):
        dims = self.dims(x.rank)
        if self.keepdim:
            return x.with_shape(*(1 if i in dims else d for i, d in enumerate(x.shape)))
        return x.with_shape(*(d for i, d in enumerate(x.shape) if i not in dims))

    def _dim_arg(self):
        return tuple(self.dim) if isinstance(self.dim, list) else self.dim

    def apply(self, x):
        return getattr(x, self.method)(dim=self._dim_arg(), keepdim=self.keepdim)

    def expr(self, x):
        keep = ", keepdim=True" if self.keepdim else ""
        return f"{x}.{self.method}(dim={self._dim_arg()!r}{keep})"


class MeanSpec(_Reduce, type="mean", primary="dim"):
    """Mean over ``dim`` (one index or a list; the batch is 0): ``mean: 1`` averages the
    tokens of [N, L, D] to [N, D]; ``{dim: [2, 3], keepdim: true}`` is global average
    pooling of [N, C, H, W] to [N, C, 1, 1]."""

    method: ClassVar[str] = "mean"


class MaxSpec(_Reduce, type="max", primary="dim"):
    """Maximum over ``dim`` (one index or a list; torch.amax): ``{dim: 1, keepdim: true}``
    is CBAM's channel max of [N, C, H, W], [N, 1, H, W]."""

    method: ClassVar[str] = "amax"


class SumSpec(_Reduce, type="sum", primary="dim"):
    """Sum over ``dim`` (one index or a list; the batch is 0): attention pooling's weighted
    sum of the steps of [N, T, D] (``sum: 1``, after a ``mul`` by the softmax weights)."""

    method: ClassVar[str] = "sum"


class RescaleSpec(Layer, type="rescale", primary="factor"):
    """Multiplies by a constant ``factor`` (not learned): residual scaling (Inception-ResNet's
    0.1), 1 / sqrt(d) before a softmax."""

    factor: float
    functional = True
    examples: ClassVar[dict] = {"factor": [0.1, 2.0, -1.0, 0.0]}

    def apply(self, x):
        return x * self.factor

    def expr(self, x):
        return f"{x} * {self.factor!r}"


class PixelShuffleSpec(Layer, type="pixel_shuffle", primary="upscale_factor"):
    """Sub-pixel upsampling (ESPCN; torch.nn.PixelShuffle): [N, C * r * r, H, W] ->
    [N, C, H * r, W * r], r the upscale_factor."""

    upscale_factor: PosInt
    ranks = (4,)
    rank_hint = "[N, C, H, W]"
    examples: ClassVar[dict] = {"upscale_factor": [1, 2, 3], "input": [(4, 2, 3), (8, 1, 2), (9, 2, 2), (3, 2, 2)]}

    def infer(self, x):
        r2 = self.upscale_factor ** 2
        if x.shape[1] % r2:
            raise ShapeError(f"the {x.shape[1]} channels of {x} must be a multiple of "
                             f"upscale_factor^2 = {r2}")
        r = self.upscale_factor
        return x.with_shape("N", x.shape[1] // r2, x.shape[2] * r, x.shape[3] * r)

    def ctor(self, x):
        return Call("nn.PixelShuffle", (self.upscale_factor,))


class PixelUnshuffleSpec(Layer, type="pixel_unshuffle", primary="downscale_factor"):
    """The inverse of pixel_shuffle (torch.nn.PixelUnshuffle): [N, C, H * r, W * r] ->
    [N, C * r * r, H, W], r the downscale_factor; H and W must be multiples of r."""

    downscale_factor: PosInt
    ranks = (4,)
    rank_hint = "[N, C, H, W]"
    examples: ClassVar[dict] = {"downscale_factor": [1, 2, 3], "input": [(1, 4, 4), (2, 6, 3), (3, 6, 6)]}

    def infer(self, x):
        r = self.downscale_factor
        if x.shape[2] % r or x.shape[3] % r:
            raise ShapeError(f"height and width of {x} must be multiples of downscale_factor {r}")
        return x.with_shape("N", x.shape[1] * r * r, x.shape[2] // r, x.shape[3] // r)

    def ctor(self, x):
        return Call("nn.PixelUnshuffle", (self.downscale_factor,))
