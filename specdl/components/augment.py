"""Image augmentations (torchvision.transforms.v2), applied to the train split only.
None of them changes the image size, so each keeps [C, H, W] (``expand`` of rotations,
which would make the size depend on the angle, is not offered)."""

from typing import ClassVar

from pydantic import Field

from ..errors import ShapeError
from .base import NonNegFloat, Prob
from .call import Call
from .vision import ImageTransform


def _pair(v, what: str) -> list | None:
    if v is not None and len(v) != 2:
        raise ShapeError(f"{what} {v} must be two numbers [low, high]")
    return None if v is None else list(v)


class RandomVerticalFlipSpec(ImageTransform, type="random_vertical_flip", primary="p"):
    """Mirror top-bottom with probability p."""

    p: Prob = 0.5
    random: ClassVar[bool] = True

    def calls(self):
        return [Call("v2.RandomVerticalFlip", kwargs=self.changed("p"))]

    def batched(self):
        return "random_flip", {"p": self.p, "dim": -2}


class RandomRotationSpec(ImageTransform, type="random_rotation", primary="degrees"):
    """Rotate by an angle drawn from [-degrees, degrees]; corners filled with ``fill``."""

    degrees: NonNegFloat
    fill: float = 0.0
    random: ClassVar[bool] = True

    def calls(self):
        return [Call("v2.RandomRotation", (self.degrees,), self.changed("fill"))]


class ColorJitterSpec(ImageTransform, type="color_jitter", primary="brightness"):
    """Randomly change brightness, contrast, saturation (factors in [1 - x, 1 + x]) and hue
    (shift in [-hue, hue]); saturation and hue need 3 channels."""

    brightness: NonNegFloat = 0.0
    contrast: NonNegFloat = 0.0
    saturation: NonNegFloat = 0.0
    hue: float = Field(0.0, ge=0.0, le=0.5)
    random: ClassVar[bool] = True

    def infer(self, shape):
        if (self.saturation or self.hue) and shape[0] != 3:
            raise ShapeError(f"saturation and hue act on colour (3 channels); the image has {shape[0]}")
        return shape

    def calls(self):
        return [Call("v2.ColorJitter", kwargs=self.changed("brightness", "contrast", "saturation", "hue"))]

    def batched(self):
        """Brightness and contrast only (saturation and hue: the per-sample pipeline); each
        factor range as v2.ColorJitter makes it, [max(0, 1 - x), 1 + x], None for 0."""
        if self.saturation or self.hue:
            return None
        return "color_jitter", {k: [max(0.0, 1 - v), 1 + v] if v else None
                                for k, v in (("brightness", self.brightness), ("contrast", self.contrast))}


class RandomErasingSpec(ImageTransform, type="random_erasing", primary="p"):
    """With probability p, erase a random rectangle (area fraction in ``scale``, aspect
    ratio in ``ratio``) to ``value``."""

    p: Prob = 0.5
    scale: list[float] = [0.02, 0.33]
    ratio: list[float] = [0.3, 3.3]
    value: float = 0.0
    random: ClassVar[bool] = True

    def infer(self, shape):
        lo, hi = _pair(self.scale, "scale")
        if not 0 < lo <= hi <= 1:
            raise ShapeError(f"scale {self.scale} must satisfy 0 < low <= high <= 1")
        a, b = _pair(self.ratio, "ratio")
        if not 0 < a <= b:
            raise ShapeError(f"ratio {self.ratio} must satisfy 0 < low <= high")
        return shape

    def calls(self):
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in self.changed("p", "scale", "ratio", "value").items()}
        return [Call("v2.RandomErasing", kwargs=kw)]


class RandomAffineSpec(ImageTransform, type="random_affine", primary="degrees"):
    """Random rotation (±degrees), translation (fractions [tx, ty] of the size), scaling
    ([low, high]) and shear (±degrees); the size is kept, corners filled with ``fill``."""

    degrees: NonNegFloat
    translate: list[float] | None = None
    scale: list[float] | None = None
    shear: NonNegFloat | None = None
    fill: float = 0.0
    random: ClassVar[bool] = True

    def infer(self, shape):
        t = _pair(self.translate, "translate")
        if t is not None and not all(0 <= v <= 1 for v in t):
            raise ShapeError(f"translate {self.translate} must be fractions in [0, 1]")
        s = _pair(self.scale, "scale")
        if s is not None and not 0 < s[0] <= s[1]:
            raise ShapeError(f"scale {self.scale} must satisfy 0 < low <= high")
        return shape

    def calls(self):
        kw = {k: tuple(v) if isinstance(v, list) else v
              for k, v in self.changed("translate", "scale", "shear", "fill").items()}
        return [Call("v2.RandomAffine", (self.degrees,), kw)]
