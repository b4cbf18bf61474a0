"""Dense, dropout, activations and the shape-only layers."""


import math
from typing import ClassVar, Literal

from pydantic import Field

from ..errors import ShapeError
from .base import Layer, NonNegFloat, PosFloat, PosInt, Prob, simple_layer
from .call import Call
from .tensor import norm_dim, shape_str


class LinearSpec(Layer, type="linear", primary="out_features"):
    """Affine map on the last dimension (torch.nn.Linear); in_features is inferred."""

    out_features: PosInt
    bias: bool = True

    def infer(self, x):
        if x.rank < 2:
            raise ShapeError(f"expects at least a 2-D input, got {x}")
        return x.with_shape(*x.shape[:-1], self.out_features)

    def count_params(self, x):
        return x.shape[-1] * self.out_features + (self.out_features if self.bias else 0)

    def macs(self, x, y):
        return math.prod(x.feat) * self.out_features

    def ctor(self, x):
        return Call("nn.Linear", (x.shape[-1], self.out_features), self.changed("bias"))


class IdentitySpec(Layer, type="identity"):
    """Passes its input through (torch.nn.Identity)."""

    dtypes = ("float32", "int64")

    def ctor(self, x):
        return Call("nn.Identity")


class DropoutSpec(Layer, type="dropout", primary="p"):
    """Zeroes elements with probability p while training (torch.nn.Dropout)."""

    p: Prob = 0.5

    def ctor(self, x):
        return Call("nn.Dropout", (self.p,))


class Dropout2dSpec(Layer, type="dropout2d", primary="p"):
    """Zeroes whole channels of [N, C, H, W] with probability p (torch.nn.Dropout2d)."""

    p: Prob = 0.5
    ranks = (4,)
    rank_hint = "[N, C, H, W]"

    def ctor(self, x):
        return Call("nn.Dropout2d", (self.p,))


class FlattenSpec(Layer, type="flatten", primary="start_dim"):
    """Flattens dimensions start_dim..end_dim into one (torch.nn.Flatten)."""

    start_dim: int = 1
    end_dim: int = -1
    dtypes = ("float32", "int64")

    def infer(self, x):
        s = norm_dim(self.start_dim, x.rank, "start_dim")
        e = norm_dim(self.end_dim, x.rank, "end_dim")
        if s > e:
            raise ShapeError(f"start_dim={self.start_dim} comes after end_dim={self.end_dim} for {x}")
        if s == 0:
            raise ShapeError("start_dim=0 would merge the batch dimension; use start_dim >= 1")
        merged = math.prod(x.shape[s:e + 1])
        return x.with_shape(*x.shape[:s], merged, *x.shape[e + 1:])

    def ctor(self, x):
        return Call("nn.Flatten", kwargs=self.changed("start_dim", "end_dim"))


class UnflattenSpec(Layer, type="unflatten", primary="sizes"):
    """Splits dimension dim into sizes (torch.nn.Unflatten)."""

    sizes: list[PosInt] = Field(min_length=1)
    dim: int = 1
    dtypes = ("float32", "int64")
    examples: ClassVar[dict] = {"sizes": [[2, 4], [2, 3], [1, 6], [2, 2, 2], [3, 2]], "dim": [1, -1, 2],
                                "input": [(8, 8), (6, 6), (6, 8), (8, 6)]}

    def infer(self, x):
        d = norm_dim(self.dim, x.rank)
        if d == 0:
            raise ShapeError("dim=0 is the batch dimension; unflatten a feature dimension")
        if math.prod(self.sizes) != x.shape[d]:
            raise ShapeError(f"sizes {self.sizes} hold {math.prod(self.sizes)} elements, "
                             f"but dimension {d} of {x} has {x.shape[d]}")
        return x.with_shape(*x.shape[:d], *self.sizes, *x.shape[d + 1:])

    def ctor(self, x):
        return Call("nn.Unflatten", (self.dim, tuple(self.sizes)))


class ReshapeSpec(Layer, type="reshape", primary="shape"):
    """Reshapes each sample to ``shape`` (per sample, no batch; one -1 allowed)."""

    shape: list[int] = Field(min_length=1)
    functional = True
    examples: ClassVar[dict] = {"shape": [[-1], [2, -1], [-1, 3], [1, -1, 1], [4, 2], [-1, -1]]}
    dtypes = ("float32", "int64")

    def infer(self, x):
        n = x.numel()
        if sum(d == -1 for d in self.shape) > 1 or any(d == 0 or d < -1 for d in self.shape):
            raise ShapeError(f"shape {self.shape}: sizes must be positive, with at most one -1")
        known = math.prod(d for d in self.shape if d != -1)
        if -1 in self.shape:
            if n % known:
                raise ShapeError(f"cannot reshape {x} ({n} per sample) to [N, {', '.join(map(str, self.shape))}]")
            shape = [n // known if d == -1 else d for d in self.shape]
        else:
            shape = list(self.shape)
            if known != n:
                raise ShapeError(f"cannot reshape {x} ({n} elements per sample) to "
                                 f"{shape_str(['N', *shape])} ({known} elements)")
        return x.with_shape("N", *shape)

    def apply(self, x):
        return x.reshape(x.shape[0], *self.shape)

    def expr(self, x):
        return f"{x}.reshape({x}.shape[0], {', '.join(map(str, self.shape))})"


class PermuteSpec(Layer, type="permute", primary="dims"):
    """Reorders dimensions; dims count the batch as 0 and must keep it first."""

    dims: list[int] = Field(min_length=2)
    functional = True
    examples: ClassVar[dict] = {"dims": [[0, 1], [0, 2, 1], [0, -1, 1], [0, 3, 1, 2], [0, 2, 3, 1],
                                         [0, 1, 1], [0, 1, 3, 2, 4]]}
    dtypes = ("float32", "int64")

    def infer(self, x):
        if len(self.dims) != x.rank:
            raise ShapeError(f"dims {self.dims} name {len(self.dims)} dimensions; the input {x} has {x.rank}")
        dims = [norm_dim(d, x.rank) for d in self.dims]
        if sorted(dims) != list(range(x.rank)):
            raise ShapeError(f"dims {self.dims} is not a permutation of 0..{x.rank - 1}")
        if dims[0] != 0:
            raise ShapeError("the batch dimension must stay first (dims[0] = 0)")
        return x.with_shape(*(x.shape[d] for d in dims))

    def apply(self, x):
        return x.permute(*self.dims)

    def expr(self, x):
        return f"{x}.permute({', '.join(map(str, self.dims))})"


class ExpandSpec(Layer, type="expand", primary="size"):
    """Repeats dimension ``dim``, of size 1, ``size`` times (torch.Tensor.expand; no copy
    is made): an LSTM autoencoder's repeated code (Keras' RepeatVector) is
    ``unflatten: {dim: 1, sizes: [1, H]}`` then ``expand: {dim: 1, size: T}``."""

    size: PosInt
    dim: int = 1
    functional = True
    examples: ClassVar[dict] = {"size": [1, 3], "dim": [1, -1, 2, -2], "input": [(1, 4), (3, 1), (1,), (2, 1, 3)]}
    dtypes = ("float32", "int64")

    def infer(self, x):
        d = norm_dim(self.dim, x.rank)
        if d == 0:
            raise ShapeError("dim=0 is the batch dimension; expand a feature dimension")
        if x.shape[d] not in (1, self.size):
            raise ShapeError(f"expand stretches a dimension of size 1; dimension {d} of {x} has "
                             f"{x.shape[d]} (make one with unflatten, e.g. sizes [1, {x.shape[d]}])")
        return x.with_shape(*x.shape[:d], self.size, *x.shape[d + 1:])

    def apply(self, x):
        d = self.dim
        return x.expand(*x.shape[:d], self.size, *(x.shape[d + 1:] if d != -1 else ()))

    def expr(self, x):
        d = self.dim
        tail = f", *{x}.shape[{d + 1}:]" if d != -1 else ""
        return f"{x}.expand(*{x}.shape[:{d}], {self.size}{tail})"


class NarrowSpec(Layer, type="narrow", primary="length"):
    """Keeps ``length`` entries of dimension ``dim`` from ``start`` on (torch.narrow; a
    negative start counts from the end): ``{start: 0, length: 8}`` is the first 8
    channels of [N, 16, H, W], a channel split (ShuffleNetV2, Res2Net, GhostNet, gMLP)."""

    length: PosInt
    start: int = 0
    dim: int = 1
    functional = True
    examples: ClassVar[dict] = {"length": [1, 2, 3], "start": [0, 1, -2, 2], "dim": [1, -1, 2]}
    dtypes = ("float32", "int64")

    def infer(self, x):
        d = norm_dim(self.dim, x.rank)
        if d == 0:
            raise ShapeError("dim=0 is the batch dimension; narrow a feature dimension")
        size = x.shape[d]
        if not -size <= self.start <= size:
            raise ShapeError(f"start={self.start} is out of range for dimension {d} of {x} (size {size})")
        begin = self.start + size if self.start < 0 else self.start
        if begin + self.length > size:
            raise ShapeError(f"start={self.start} with length={self.length} runs past the end of "
                             f"dimension {d} of {x} (size {size})")
        return x.with_shape(*x.shape[:d], self.length, *x.shape[d + 1:])

    def apply(self, x):
        return x.narrow(self.dim, self.start, self.length)

    def expr(self, x):
        return f"{x}.narrow({self.dim}, {self.start}, {self.length})"


# ---------------------------------------------------------------- activations
simple_layer("relu", "ReLU", "max(0, x) (torch.nn.ReLU).")
simple_layer("leaky_relu", "LeakyReLU", "Leaky ReLU (torch.nn.LeakyReLU).",
             negative_slope=(float, 0.01))
simple_layer("gelu", "GELU", "Gaussian error linear unit (torch.nn.GELU).",
             approximate=(Literal["none", "tanh"], "none"))
simple_layer("silu", "SiLU", "x * sigmoid(x) (torch.nn.SiLU).")
simple_layer("sigmoid", "Sigmoid", "Logistic sigmoid (torch.nn.Sigmoid).")
simple_layer("tanh", "Tanh", "Hyperbolic tangent (torch.nn.Tanh).")
simple_layer("elu", "ELU", "Exponential linear unit (torch.nn.ELU).", alpha=(PosFloat, 1.0))
simple_layer("selu", "SELU", "Scaled ELU (torch.nn.SELU).")
simple_layer("softplus", "Softplus", "Smooth ReLU (torch.nn.Softplus).",
             beta=(PosFloat, 1.0), threshold=(NonNegFloat, 20.0))
simple_layer("mish", "Mish", "x * tanh(softplus(x)) (torch.nn.Mish).")
simple_layer("hardswish", "Hardswish", "Hard swish, x * relu6(x + 3) / 6 (torch.nn.Hardswish).")
simple_layer("hardsigmoid", "Hardsigmoid", "Hard sigmoid, relu6(x + 3) / 6 (torch.nn.Hardsigmoid).")


class SinSpec(Layer, type="sin"):
    """Elementwise sine (torch.sin): SIREN's activation, sin(w0 * x) written as
    ``rescale: 30.0`` then ``sin``; with ``cos``, NeRF's positional encoding."""

    functional = True

    def apply(self, x):
        return x.sin()

    def expr(self, x):
        return f"{x}.sin()"


class CosSpec(Layer, type="cos"):
    """Elementwise cosine (torch.cos): beside ``sin``, NeRF's positional encoding."""

    functional = True

    def apply(self, x):
        return x.cos()

    def expr(self, x):
        return f"{x}.cos()"
simple_layer("relu6", "ReLU6", "min(max(0, x), 6) (torch.nn.ReLU6).")


class HardtanhSpec(Layer, type="hardtanh", primary="max_val"):
    """Clamps to [min_val, max_val] (torch.nn.Hardtanh)."""

    min_val: float = -1.0
    max_val: float = 1.0

    def infer(self, x):
        if not self.min_val < self.max_val:
            raise ShapeError(f"min_val={self.min_val} must be smaller than max_val={self.max_val}")
        return x

    def ctor(self, x):
        return Call("nn.Hardtanh", kwargs=self.changed("min_val", "max_val"))


class PReLUSpec(Layer, type="prelu", primary="num_parameters"):
    """Leaky ReLU with a learned slope, one or one per channel (torch.nn.PReLU)."""

    num_parameters: PosInt = 1
    init: float = 0.25

    def infer(self, x):
        if self.num_parameters != 1 and (x.rank < 2 or x.shape[1] != self.num_parameters):
            raise ShapeError(f"num_parameters={self.num_parameters} must be 1 or the channel "
                             f"count (dimension 1) of {x}")
        return x

    def count_params(self, x):
        return self.num_parameters

    def ctor(self, x):
        return Call("nn.PReLU", kwargs=self.changed("num_parameters", "init"))


class GLUSpec(Layer, type="glu", primary="dim"):
    """Gated linear unit (torch.nn.GLU): splits ``dim`` (default -1, the last) into halves
    a and b and gives a * sigmoid(b), so that dimension halves."""

    dim: int = -1
    examples: ClassVar[dict] = {"dim": [-1, 1, 2, -2], "input": [(4,), (6, 3), (3, 4), (2, 4, 2)]}

    def infer(self, x):
        d = norm_dim(self.dim, x.rank)
        if d == 0:
            raise ShapeError("dim=0 is the batch dimension; gate along a feature dimension")
        if x.shape[d] % 2:
            raise ShapeError(f"halves dimension {d} of {x}, so its size must be even, not {x.shape[d]}")
        return x.with_shape(*x.shape[:d], x.shape[d] // 2, *x.shape[d + 1:])

    def ctor(self, x):
        return Call("nn.GLU", kwargs=self.changed("dim"))


class _SoftmaxBase(Layer):
    dim: int = -1

    def infer(self, x):
        norm_dim(self.dim, x.rank)
        return x

    def ctor(self, x):
        return Call(f"nn.{self.torch_name}", kwargs={"dim": self.dim})


class SoftmaxSpec(_SoftmaxBase, type="softmax", primary="dim"):
    """Softmax over ``dim`` (default -1, the last; torch.nn.Softmax)."""

    torch_name: ClassVar[str] = "Softmax"


class LogSoftmaxSpec(_SoftmaxBase, type="log_softmax", primary="dim"):
    """Log-softmax over ``dim`` (default -1, the last; torch.nn.LogSoftmax)."""

    torch_name: ClassVar[str] = "LogSoftmax"
