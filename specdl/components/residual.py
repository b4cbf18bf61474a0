"""Layers of modern residual branches: stochastic depth (drop path) and layer scale.
Both are specdl helpers, defined in specdl/runtime/layers.py: build constructs them,
and the generated script holds their source (as for the token layers)."""

from typing import ClassVar, Literal

from ..errors import ShapeError
from .base import Layer, PosFloat, Prob
from .call import Call
from .tensor import norm_dim


class StochasticDepthSpec(Layer, type="stochastic_depth", primary="p"):
    """Stochastic depth / drop path (Huang et al. 2016): while training, zeroes the whole
    input of a sample with probability p (``mode: row``; ``batch``: the whole batch at
    once) and scales the rest by 1 / (1 - p); the identity at evaluation. Put it on a
    residual branch, before the ``add``."""

    p: Prob = 0.1
    mode: Literal["row", "batch"] = "row"
    helpers = ("StochasticDepth",)
    examples: ClassVar[dict] = {"p": [0.0, 0.2, 0.5]}

    def ctor(self, x):
        return Call("StochasticDepth", (self.p,), self.changed("mode"))


class LayerScaleSpec(Layer, type="layer_scale", primary="init_value"):
    """Layer scale (CaiT, ConvNeXt): multiplies by a learned vector with one value per
    channel of dimension ``dim`` (default -1: channels last, as after a permute;
    ``dim: 1`` for [N, C, H, W]), initialised to init_value."""

    init_value: PosFloat = 1e-6
    dim: int = -1
    helpers = ("LayerScale",)
    examples: ClassVar[dict] = {"dim": [-1, 1, 2, -2], "input": [(4,), (3, 5), (2, 3, 4)]}

    def infer(self, x):
        if norm_dim(self.dim, x.rank) == 0:
            raise ShapeError("dim=0 is the batch dimension; scale a feature dimension")
        return x

    def shape_of(self, x) -> tuple:
        """The scale's shape: the channels of ``dim``, then a 1 per later dimension."""
        d = self.dim % x.rank
        return (x.shape[d],) + (1,) * (x.rank - 1 - d)

    def count_params(self, x):
        return self.shape_of(x)[0]

    def ctor(self, x):
        return Call("LayerScale", (self.shape_of(x),), self.changed("init_value"))
