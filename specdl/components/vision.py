"""Image transforms (torchvision.transforms.v2), for image sources. Each knows its effect
on the per-sample shape [C, H, W] (for ``check``) and its torchvision call (for build
and codegen). Images are read as uint8 tensors; ``to_tensor`` makes them float in
[0, 1] (added at the end when a spec leaves it out)."""

from typing import ClassVar

from pydantic import Field

from ..errors import ShapeError
from .base import Component, PosFloat, PosInt, Prob
from .call import Call


class ImageTransform(Component):
    kind: ClassVar[str] = "image_transform"
    random: ClassVar[bool] = False      # augmentation: train split only
    needs_float: ClassVar[bool] = False

    def infer(self, shape: tuple) -> tuple:
        return shape

    def calls(self) -> list:
        raise NotImplementedError

    def batched(self) -> tuple | None:
        """A random step as a batched tensor op of specdl/runtime/images.py: (function name,
        its arguments), or None where it has none (the per-sample v2 pipeline is used)."""
        return None


def _size(v) -> tuple:
    return (v, v) if isinstance(v, int) else tuple(v)


class ResizeSpec(ImageTransform, type="resize", primary="size"):
    """Resize to ``size`` (an int resizes the shorter side; [h, w] exactly)."""

    size: PosInt | list[PosInt] = Field(union_mode="left_to_right")
    antialias: bool = True

    def infer(self, shape):
        c, h, w = shape
        if isinstance(self.size, int):
            s = self.size
            return (c, s, max(1, int(s * w / h))) if h <= w else (c, max(1, int(s * h / w)), s)
        if len(self.size) != 2:
            raise ShapeError(f"size {self.size} must be one number or [height, width]")
        return (c, *self.size)

    def calls(self):
        size = self.size if isinstance(self.size, int) else list(self.size)
        return [Call("v2.Resize", (size,), self.changed("antialias"))]


class CenterCropSpec(ImageTransform, type="center_crop", primary="size"):
    """Crop the centre to ``size`` (int or [h, w])."""

    size: PosInt | list[PosInt]

    def infer(self, shape):
        h, w = _size(self.size)
        return (shape[0], h, w)

    def calls(self):
        return [Call("v2.CenterCrop", (self.size if isinstance(self.size, int) else list(self.size),))]


class RandomResizedCropSpec(ImageTransform, type="random_resized_crop", primary="size"):
    """Random crop of a random area fraction in ``scale``, resized to ``size``."""

    size: PosInt | list[PosInt]
    scale: list[float] = [0.08, 1.0]
    random: ClassVar[bool] = True

    def infer(self, shape):
        h, w = _size(self.size)
        return (shape[0], h, w)

    def calls(self):
        size = self.size if isinstance(self.size, int) else list(self.size)
        kw = {"scale": tuple(self.scale)} if self.scale != [0.08, 1.0] else {}
        return [Call("v2.RandomResizedCrop", (size,), kw)]


class RandomCropSpec(ImageTransform, type="random_crop", primary="size"):
    """Random crop to ``size`` after zero-padding by ``padding`` (CIFAR-style)."""

    size: PosInt | list[PosInt]
    padding: int = Field(0, ge=0)
    random: ClassVar[bool] = True

    def infer(self, shape):
        h, w = _size(self.size)
        if h > shape[1] + 2 * self.padding or w > shape[2] + 2 * self.padding:
            raise ShapeError(f"crop {[h, w]} is larger than the padded image {list(shape)}")
        return (shape[0], h, w)

    def calls(self):
        size = self.size if isinstance(self.size, int) else list(self.size)
        return [Call("v2.RandomCrop", (size,), self.changed("padding"))]

    def batched(self):
        return "random_crop", {"size": list(_size(self.size)), "padding": self.padding}


class RandomHorizontalFlipSpec(ImageTransform, type="random_horizontal_flip", primary="p"):
    """Mirror left-right with probability p."""

    p: Prob = 0.5
    random: ClassVar[bool] = True

    def calls(self):
        return [Call("v2.RandomHorizontalFlip", kwargs=self.changed("p"))]

    def batched(self):
        return "random_flip", {"p": self.p, "dim": -1}


class GrayscaleSpec(ImageTransform, type="grayscale", primary="num_output_channels"):
    """Convert to grayscale with 1 (or 3) channels."""

    num_output_channels: int = Field(1, ge=1, le=3)

    def infer(self, shape):
        return (self.num_output_channels, *shape[1:])

    def calls(self):
        return [Call("v2.Grayscale", kwargs=self.changed("num_output_channels"))]


class ToTensorSpec(ImageTransform, type="to_tensor"):
    """uint8 image -> float32 tensor in [0, 1] (v2.ToDtype with scale)."""

    def calls(self):
        return [Call("v2.ToDtype", (Call("torch.float32"),), {"scale": True})]


class NormalizeSpec(ImageTransform, type="normalize", primary="mean"):
    """Subtract ``mean`` and divide by ``std``, per channel (after to_tensor)."""

    mean: list[float]
    std: list[PosFloat]  # torchvision divides by it: 0 fails at build, after check
    needs_float: ClassVar[bool] = True

    def infer(self, shape):
        if len(self.mean) != shape[0] or len(self.std) != shape[0]:
            hint = ""
            if len(self.mean) == 1 and shape[0] == 3:  # a grayscale folder is read as RGB
                hint = ("; the images are read as 3-channel RGB: for grayscale images add "
                        "`grayscale` before to_tensor (1 channel), or give 3 values")
            raise ShapeError(f"mean and std need one value per channel ({shape[0]}), got "
                             f"{len(self.mean)} and {len(self.std)}{hint}")
        return shape

    def calls(self):
        return [Call("v2.Normalize", (list(self.mean), list(self.std)))]
