"""Convolutions and pooling, 1-D to 3-D, with one shared output-size rule."""


import math
from typing import ClassVar, Literal

from ..errors import ShapeError
from .base import Layer, NonNegInt, PosInt
from .call import Call
from .tensor import TT, tup

Size = PosInt | list[PosInt]
Pad = NonNegInt | list[NonNegInt]
_DIMS = {1: "[N, C, L]", 2: "[N, C, H, W]", 3: "[N, C, D, H, W]"}


def out_size(size: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    """torch's output length for a window of size k, stride s, padding p, dilation d."""
    span = size + 2 * p - d * (k - 1) - 1
    if ceil:
        n = -(-span // s) + 1
        if (n - 1) * s >= size + p:
            n -= 1
        return n
    return span // s + 1


class _Spatial(Layer):
    nd: ClassVar[int] = 2

    @classmethod
    def __pydantic_init_subclass__(cls, **kw):
        super().__pydantic_init_subclass__(**kw)
        cls.ranks = (cls.nd + 2,)
        cls.rank_hint = _DIMS[cls.nd]
        fixes = {1: "did you mean conv1d on [N, C, L]", 2: "did you mean conv1d, or a reshape before it?",
                 3: "add a reshape before it"}
        cls.rank_fix = fixes[cls.nd] if cls.nd != 1 else "add a reshape or unflatten before it"

    def spatial(self, x: TT) -> tuple:
        return tuple(x.shape[2:])

    def per_dim(self, *names: str) -> list:
        """The named arguments, each as one value per spatial dimension."""
        return [tup(getattr(self, n), self.nd, n) for n in names]


class _Conv(_Spatial):
    examples: ClassVar[dict] = {"groups": [1, 2]}
    out_channels: PosInt
    kernel_size: Size
    stride: Size = 1
    padding: Pad | Literal["same", "valid"] = 0
    dilation: Size = 1
    groups: PosInt = 1
    bias: bool = True
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"

    def infer(self, x):
        cin = x.shape[1]
        if cin % self.groups or self.out_channels % self.groups:
            raise ShapeError(f"groups={self.groups} must divide in_channels={cin} and "
                             f"out_channels={self.out_channels}")
        k, s, d = self.per_dim("kernel_size", "stride", "dilation")
        if self.padding == "same" and any(v != 1 for v in s):
            raise ShapeError("padding='same' needs stride 1")
        sizes = []
        for i, n in enumerate(self.spatial(x)):
            self.check_padding_mode(n, self.pads(i, k[i], d[i]), x)
            if self.padding == "same":
                sizes.append(n)
                continue
            p = 0 if self.padding == "valid" else self.per_dim("padding")[0][i]
            o = out_size(n, k[i], s[i], p, d[i])
            if o < 1:
                raise ShapeError(f"kernel_size {k[i]} (dilation {d[i]}) is larger than the padded "
                                 f"input size {n + 2 * p} of {x}; use a smaller kernel or more padding")
            sizes.append(o)
        return x.with_shape("N", self.out_channels, *sizes)

    def pads(self, i: int, k: int, d: int) -> tuple:
        """The (before, after) padding of spatial dimension i, as torch computes it."""
        if self.padding == "same":  # torch puts the odd one after
            total = d * (k - 1)
            return total // 2, total - total // 2
        p = 0 if self.padding == "valid" else self.per_dim("padding")[0][i]
        return p, p

    def check_padding_mode(self, n: int, pads: tuple, x) -> None:
        """reflect padding must be smaller than the size it pads, circular at most that."""
        most = max(pads)
        if (self.padding_mode == "reflect" and most >= n) or (self.padding_mode == "circular" and most > n):
            rule = "smaller than" if self.padding_mode == "reflect" else "at most"
            raise ShapeError(f"padding_mode {self.padding_mode} pads {most} on a side of a spatial "
                             f"size {n} of {x}; that padding must be {rule} the size")

    def count_params(self, x):
        k = math.prod(tup(self.kernel_size, self.nd))
        return self.out_channels * (x.shape[1] // self.groups) * k + (self.out_channels if self.bias else 0)

    def check_warning(self) -> str | None:
        """padding 'same' that pads unevenly (an even kernel, odd dilation): torch warns of
        the padded copy it makes at every call."""
        if self.padding != "same":
            return None
        k, d = self.per_dim("kernel_size", "dilation")
        uneven = [self.pads(i, k[i], d[i]) for i in range(self.nd) if d[i] * (k[i] - 1) % 2]
        if not uneven:
            return None
        return (f"padding 'same' with kernel_size {self.kernel_size} pads unevenly ({uneven[0][0]} before, "
                f"{uneven[0][1]} after): torch makes a zero-padded copy of the input at every call (time and "
                "memory); use an odd kernel_size, or a `pad` layer before it and padding 0")

    def macs(self, x, y):
        k = math.prod(tup(self.kernel_size, self.nd))
        return y.numel() * (x.shape[1] // self.groups) * k

    def ctor(self, x):
        kw = self.changed("stride", "padding", "dilation", "groups", "bias", "padding_mode")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}
        ks = tuple(self.kernel_size) if isinstance(self.kernel_size, list) else self.kernel_size
        return Call(f"nn.Conv{self.nd}d", (x.shape[1], self.out_channels, ks), kw)


class Conv1dSpec(_Conv, type="conv1d", primary="out_channels"):
    """1-D convolution over [N, C, L] (torch.nn.Conv1d); in_channels is inferred."""

    nd: ClassVar[int] = 1


class Conv2dSpec(_Conv, type="conv2d", primary="out_channels"):
    """2-D convolution over [N, C, H, W] (torch.nn.Conv2d); in_channels is inferred."""

    nd: ClassVar[int] = 2


class Conv3dSpec(_Conv, type="conv3d", primary="out_channels"):
    """3-D convolution over [N, C, D, H, W] (torch.nn.Conv3d); in_channels is inferred."""

    nd: ClassVar[int] = 3


class _ConvT(_Spatial):
    examples: ClassVar[dict] = {"output_padding": [0, 1, [1, 0]], "groups": [1, 2]}
    out_channels: PosInt
    kernel_size: Size
    stride: Size = 1
    padding: Pad = 0
    output_padding: Pad = 0
    dilation: Size = 1
    groups: PosInt = 1
    bias: bool = True

    def infer(self, x):
        cin = x.shape[1]
        if cin % self.groups or self.out_channels % self.groups:
            raise ShapeError(f"groups={self.groups} must divide in_channels={cin} and out_channels={self.out_channels}")
        k, s, p, op, d = self.per_dim("kernel_size", "stride", "padding", "output_padding", "dilation")
        sizes = []
        for i, n in enumerate(self.spatial(x)):
            if op[i] >= max(s[i], d[i]):
                raise ShapeError(f"output_padding {op[i]} must be smaller than stride {s[i]} or dilation {d[i]}")
            o = (n - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1
            if o < 1:
                raise ShapeError(f"padding {p[i]} leaves no output for {x}")
            sizes.append(o)
        return x.with_shape("N", self.out_channels, *sizes)

    def count_params(self, x):
        k = math.prod(tup(self.kernel_size, self.nd))
        return x.shape[1] * (self.out_channels // self.groups) * k + (self.out_channels if self.bias else 0)

    def macs(self, x, y):
        k = math.prod(tup(self.kernel_size, self.nd))
        return x.numel() * (self.out_channels // self.groups) * k

    def ctor(self, x):
        kw = self.changed("stride", "padding", "output_padding", "dilation", "groups", "bias")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}
        ks = tuple(self.kernel_size) if isinstance(self.kernel_size, list) else self.kernel_size
        return Call(f"nn.ConvTranspose{self.nd}d", (x.shape[1], self.out_channels, ks), kw)


class ConvTranspose1dSpec(_ConvT, type="conv_transpose1d", primary="out_channels"):
    """Transposed 1-D convolution (torch.nn.ConvTranspose1d)."""

    nd: ClassVar[int] = 1


class ConvTranspose2dSpec(_ConvT, type="conv_transpose2d", primary="out_channels"):
    """Transposed 2-D convolution, e.g. U-Net upsampling (torch.nn.ConvTranspose2d)."""

    nd: ClassVar[int] = 2


class ConvTranspose3dSpec(_ConvT, type="conv_transpose3d", primary="out_channels"):
    """Transposed 3-D convolution over [N, C, D, H, W] (torch.nn.ConvTranspose3d), e.g. 3-D
    U-Net upsampling."""

    nd: ClassVar[int] = 3


class _Pool(_Spatial):
    kernel_size: Size
    stride: Size | None = None
    padding: Pad = 0
    ceil_mode: bool = False
    torch_name: ClassVar[str] = ""
    has_dilation: ClassVar[bool] = False
    unpadded_window: ClassVar[bool] = False  # torch wants the window inside the unpadded input

    def infer(self, x):
        k, p = self.per_dim("kernel_size", "padding")
        s = k if self.stride is None else self.per_dim("stride")[0]
        d = self.per_dim("dilation")[0] if self.has_dilation else (1,) * self.nd
        sizes = []
        for i, n in enumerate(self.spatial(x)):
            if 2 * p[i] > k[i]:
                raise ShapeError(f"padding {p[i]} must be at most half of kernel_size {k[i]}")
            if self.unpadded_window and n < k[i]:
                raise ShapeError(f"kernel_size {k[i]} is larger than the input size {n} of {x} "
                                 f"({self.type_name} needs the window inside the unpadded input)")
            o = out_size(n, k[i], s[i], p[i], d[i], self.ceil_mode)
            if o < 1:
                raise ShapeError(f"kernel_size {k[i]} is larger than the input size {n + 2 * p[i]} "
                                 f"of {x}; use a smaller window, or fewer poolings before it")
            sizes.append(o)
        return x.with_shape("N", x.shape[1], *sizes)

    def ctor(self, x):
        names = ["stride", "padding"] + (["dilation"] if self.has_dilation else []) + ["ceil_mode"]
        names += [n for n in ("count_include_pad",) if n in type(self).model_fields]
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in self.changed(*names).items()}
        ks = tuple(self.kernel_size) if isinstance(self.kernel_size, list) else self.kernel_size
        return Call(f"nn.{self.torch_name}", (ks,), kw)


class _MaxPool(_Pool):
    dilation: Size = 1
    has_dilation: ClassVar[bool] = True
    refused = {"return_indices": "the indices would feed max-unpooling, which is outside the language "
                                 "(no layer passes a second value on); upsample with `upsample` or "
                                 "`conv_transpose2d`"}


class _AvgPool(_Pool):
    count_include_pad: bool = True


class MaxPool1dSpec(_MaxPool, type="maxpool1d", primary="kernel_size"):
    """Max over windows of [N, C, L] (torch.nn.MaxPool1d); stride defaults to kernel_size."""

    nd: ClassVar[int] = 1
    torch_name: ClassVar[str] = "MaxPool1d"


class MaxPool2dSpec(_MaxPool, type="maxpool2d", primary="kernel_size"):
    """Max over windows of [N, C, H, W] (torch.nn.MaxPool2d); stride defaults to kernel_size."""

    nd: ClassVar[int] = 2
    torch_name: ClassVar[str] = "MaxPool2d"


class AvgPool1dSpec(_AvgPool, type="avgpool1d", primary="kernel_size"):
    """Mean over windows of [N, C, L] (torch.nn.AvgPool1d)."""

    nd: ClassVar[int] = 1
    torch_name: ClassVar[str] = "AvgPool1d"


class AvgPool2dSpec(_AvgPool, type="avgpool2d", primary="kernel_size"):
    """Mean over windows of [N, C, H, W] (torch.nn.AvgPool2d)."""

    nd: ClassVar[int] = 2
    torch_name: ClassVar[str] = "AvgPool2d"


WINDOWS_3D = {"input": [(2, 8, 8, 8), (3, 9, 7, 8), (1, 6, 9, 6)]}  # inputs a 3-D window fits (the layer tests)


class MaxPool3dSpec(_MaxPool, type="maxpool3d", primary="kernel_size"):
    """Max over windows of [N, C, D, H, W] (torch.nn.MaxPool3d); stride defaults to kernel_size."""

    nd: ClassVar[int] = 3
    torch_name: ClassVar[str] = "MaxPool3d"
    examples: ClassVar[dict] = WINDOWS_3D


class AvgPool3dSpec(_AvgPool, type="avgpool3d", primary="kernel_size"):
    """Mean over windows of [N, C, D, H, W] (torch.nn.AvgPool3d)."""

    nd: ClassVar[int] = 3
    torch_name: ClassVar[str] = "AvgPool3d"
    examples: ClassVar[dict] = WINDOWS_3D
    unpadded_window: ClassVar[bool] = True


class _Adaptive(_Spatial):
    output_size: PosInt | list[PosInt | None]
    torch_name: ClassVar[str] = ""

    def infer(self, x):
        want = self.per_dim("output_size")[0]
        if self.nd == 1 and want[0] is None:
            raise ShapeError("output_size must be a number for a 1-D pool")
        return x.with_shape("N", x.shape[1], *(n if w is None else w for n, w in zip(self.spatial(x), want)))

    def ctor(self, x):
        out = tuple(self.output_size) if isinstance(self.output_size, list) else self.output_size
        if self.nd == 1 and isinstance(out, tuple):
            out = out[0]
        return Call(f"nn.{self.torch_name}", (out,))


class AdaptiveAvgPool1dSpec(_Adaptive, type="adaptive_avgpool1d", primary="output_size"):
    """Averages [N, C, L] down to output_size (torch.nn.AdaptiveAvgPool1d)."""

    nd: ClassVar[int] = 1
    torch_name: ClassVar[str] = "AdaptiveAvgPool1d"


class AdaptiveAvgPool2dSpec(_Adaptive, type="adaptive_avgpool2d", primary="output_size"):
    """Averages [N, C, H, W] down to output_size, e.g. 1 for global pooling."""

    nd: ClassVar[int] = 2
    torch_name: ClassVar[str] = "AdaptiveAvgPool2d"


class AdaptiveMaxPool2dSpec(_Adaptive, type="adaptive_maxpool2d", primary="output_size"):
    """Max over [N, C, H, W] down to output_size (torch.nn.AdaptiveMaxPool2d)."""

    nd: ClassVar[int] = 2
    torch_name: ClassVar[str] = "AdaptiveMaxPool2d"


class AdaptiveAvgPool3dSpec(_Adaptive, type="adaptive_avgpool3d", primary="output_size"):
    """Averages [N, C, D, H, W] down to output_size (torch.nn.AdaptiveAvgPool3d)."""

    nd: ClassVar[int] = 3
    torch_name: ClassVar[str] = "AdaptiveAvgPool3d"


class AdaptiveMaxPool1dSpec(_Adaptive, type="adaptive_maxpool1d", primary="output_size"):
    """Max over [N, C, L] down to output_size (torch.nn.AdaptiveMaxPool1d), e.g. 1 for
    max-over-time pooling."""

    nd: ClassVar[int] = 1
    torch_name: ClassVar[str] = "AdaptiveMaxPool1d"


class AdaptiveMaxPool3dSpec(_Adaptive, type="adaptive_maxpool3d", primary="output_size"):
    """Max over [N, C, D, H, W] down to output_size (torch.nn.AdaptiveMaxPool3d)."""

    nd: ClassVar[int] = 3
    torch_name: ClassVar[str] = "AdaptiveMaxPool3d"


class ChannelShuffleSpec(Layer, type="channel_shuffle", primary="groups"):
    """Channel shuffle (ShuffleNet; as torch.nn.ChannelShuffle) over [N, C, ...]: the C =
    groups x k channels, seen as [groups, k], are transposed to [k, groups], so that the
    next grouped convolution sees channels from every group."""

    groups: PosInt
    functional = True
    examples: ClassVar[dict] = {"groups": [1, 2, 3, 4], "input": [(6, 4, 4), (4, 3), (8, 2, 2, 2), (12, 5)]}

    def infer(self, x):
        if x.rank < 2:
            raise ShapeError(f"expects [N, C, ...] (at least 2-D), got {x}")
        if x.shape[1] % self.groups:
            raise ShapeError(f"groups={self.groups} must divide the {x.shape[1]} channels of {x}")
        return x

    def apply(self, x):
        return x.unflatten(1, (self.groups, -1)).transpose(1, 2).flatten(1, 2)

    def expr(self, x):
        return f"{x}.unflatten(1, ({self.groups}, -1)).transpose(1, 2).flatten(1, 2)"
