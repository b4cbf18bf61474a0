"""Tabular transforms, fitted on the train split only. Each knows its effect on the
per-sample shape (for ``check``), how to fit and apply itself on NumPy arrays (for
``build``) and the lines of code that do the same (for ``codegen``)."""


import math
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from ..errors import ShapeError
from .base import Component, literal, shape_str


class Transform(Component):
    kind: ClassVar[str] = "transform"
    invertible: ClassVar[bool] = False

    def infer(self, feat: tuple) -> tuple:
        return feat

    def fit(self, x) -> dict:
        return {}

    def apply(self, x, state: dict):
        return x

    def invert(self, x, state: dict):
        raise NotImplementedError

    def code(self, v: str) -> list[str]:
        """Lines that fit on ``{v}_train`` and apply to ``{v}_train``, ``{v}_val``, ``{v}_test``."""
        raise NotImplementedError

    def invert_code(self, expr: str, v: str) -> str:
        raise NotImplementedError

    def graph(self, x, state: dict):
        """``apply`` with torch ops on a batch with a symbolic size (the ONNX graph of
        ``export --with-preprocessing``); ``state`` holds tensors. Elementwise transforms
        share ``apply``."""
        return self.apply(x, state)

    def restore(self, x, state: dict, before: tuple):
        """Transformed samples back to raw ones of shape ``before`` (to verify an export
        on raw rows rebuilt from the run's saved examples)."""
        if self.invertible:
            return self.invert(x, state)
        raise NotImplementedError


class StandardizeSpec(Transform, type="standardize"):
    """Subtract the train mean and divide by the train standard deviation, per column."""

    invertible: ClassVar[bool] = True

    def fit(self, x):
        std = x.std(axis=0)
        std[std == 0] = 1.0
        return {"mean": x.mean(axis=0), "std": std}

    def apply(self, x, s):
        return (x - s["mean"]) / s["std"]

    def invert(self, x, s):
        return x * s["std"] + s["mean"]

    def code(self, v):
        return [f"{v}_mean, {v}_std = {v}_train.mean(axis=0), {v}_train.std(axis=0)",
                f"{v}_std[{v}_std == 0] = 1.0",
                f"{v}_train, {v}_val, {v}_test = [({v} - {v}_mean) / {v}_std for {v} in ({v}_train, {v}_val, {v}_test)]"]

    def invert_code(self, expr, v):
        return f"{expr} * {v}_std + {v}_mean"


class MinMaxSpec(Transform, type="minmax"):
    """Scale each column to [0, 1] by the train minimum and maximum."""

    invertible: ClassVar[bool] = True

    def fit(self, x):
        lo, hi = x.min(axis=0), x.max(axis=0)
        span = hi - lo
        span[span == 0] = 1.0
        return {"min": lo, "span": span}

    def apply(self, x, s):
        return (x - s["min"]) / s["span"]

    def invert(self, x, s):
        return x * s["span"] + s["min"]

    def code(self, v):
        return [f"{v}_min, {v}_span = {v}_train.min(axis=0), {v}_train.max(axis=0) - {v}_train.min(axis=0)",
                f"{v}_span[{v}_span == 0] = 1.0",
                f"{v}_train, {v}_val, {v}_test = [({v} - {v}_min) / {v}_span for {v} in ({v}_train, {v}_val, {v}_test)]"]

    def invert_code(self, expr, v):
        return f"{expr} * {v}_span + {v}_min"


class ReshapeTransformSpec(Transform, type="reshape", primary="shape"):
    """Give each sample the shape ``shape`` (e.g. [1, 8, 8] for an image of 64 pixels)."""

    shape: list[int] = Field(min_length=1)

    def infer(self, feat):
        n = math.prod(feat)
        known = math.prod(d for d in self.shape if d != -1)
        if sum(d == -1 for d in self.shape) > 1 or any(d == 0 or d < -1 for d in self.shape):
            raise ShapeError(f"shape {self.shape}: sizes must be positive, with at most one -1")
        if -1 in self.shape:
            if n % known:
                raise ShapeError(f"cannot reshape samples of {shape_str(feat)} to {self.shape}")
            return tuple(n // known if d == -1 else d for d in self.shape)
        if known != n:
            raise ShapeError(f"cannot reshape samples of {shape_str(feat)} ({n} values) to "
                             f"{self.shape} ({known} values)")
        return tuple(self.shape)

    def apply(self, x, s):
        return x.reshape(len(x), *self.shape)

    def graph(self, x, s):
        return x.reshape(x.shape[0], *self.shape)

    def restore(self, x, s, before):
        return x.reshape(len(x), *before)

    def code(self, v):
        dims = ", ".join(map(str, self.shape))
        return [f"{v}_train, {v}_val, {v}_test = [{v}.reshape(len({v}), {dims}) for {v} in ({v}_train, {v}_val, {v}_test)]"]


class FillSpec(Transform, type="fill", primary="value"):
    """Fill missing values (NaN) per column with the train split's ``mean`` or
    ``median``, or a number. Put it first."""

    value: Annotated[float, Field(allow_inf_nan=True)] | Literal["mean", "median"] = "mean"

    def fit(self, x):
        import numpy as np

        if isinstance(self.value, str):
            fill = getattr(np, f"nan{self.value}")(x, axis=0)
            return {"fill": np.where(np.isnan(fill), 0.0, fill)}  # an all-missing column gets 0
        return {"fill": np.full(x.shape[1:], self.value)}

    def apply(self, x, s):
        import numpy as np

        return np.where(np.isnan(x), s["fill"], x)

    def graph(self, x, s):
        import torch

        return torch.where(torch.isnan(x), s["fill"], x)

    def restore(self, x, s, before):
        return x  # a filled value stands for itself

    def code(self, v):
        if isinstance(self.value, str):
            fn = {"mean": "np.nanmean", "median": "np.nanmedian"}[self.value]  # names written whole
            fit = [f"{v}_fill = {fn}({v}_train, axis=0)",
                   f"{v}_fill = np.where(np.isnan({v}_fill), 0.0, {v}_fill)  # an all-missing column gets 0"]
        else:
            fit = [f"{v}_fill = np.full({v}_train.shape[1:], {literal(self.value)})"]
        return fit + [f"{v}_train, {v}_val, {v}_test = [np.where(np.isnan({v}), {v}_fill, {v}) "
                      f"for {v} in ({v}_train, {v}_val, {v}_test)]"]
