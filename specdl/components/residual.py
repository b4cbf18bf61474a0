"""Layers of modern residual branches: stochastic depth (drop path) and layer scale.
Both are specdl helper classes: build runs this very text, and the generated script
contains it verbatim (as for the token layers)."""

from typing import ClassVar, Literal

from ..errors import ShapeError
from .base import Layer, PosFloat, Prob
from .call import Call
from .tensor import norm_dim
from .tokens import _torch_globals
from .trust import HELPERS

STOCHASTIC_DEPTH_HELPER = '''\
class StochasticDepth(nn.Module):
    """Drops the whole input per sample ("row") or per batch ("batch") with probability
    p while training, scaling what is kept by 1 / (1 - p); the identity otherwise."""

    def __init__(self, p, mode="row"):
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        shape = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        keep = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1.0 - self.p)
        return x * keep.div_(1.0 - self.p)

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode}"
'''

LAYER_SCALE_HELPER = '''\
class LayerScale(nn.Module):
    """Multiplies by a learned per-channel vector, initialised to init_value; shape is
    the scale's shape, broadcast against x (channels last, or [C, 1, 1])."""

    def __init__(self, shape, init_value=1e-06):
        super().__init__()
        self.scale = nn.Parameter(torch.full(shape, float(init_value)))

    def forward(self, x):
        return x * self.scale
'''

HELPERS["StochasticDepth"] = (STOCHASTIC_DEPTH_HELPER, _torch_globals)
HELPERS["LayerScale"] = (LAYER_SCALE_HELPER, _torch_globals)


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
