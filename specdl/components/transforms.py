"""Tabular transforms, fitted on the train split only. Each knows its effect on the
per-sample shape (for ``check``) and the plain functions that fit and apply it on NumPy
arrays, which ``build`` calls and ``codegen`` copies into the script."""


import math
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from ..errors import ShapeError
from .base import Component
from .call import literal
from .tensor import shape_str


# The work of each transform: plain functions, called by build and copied into generated
# scripts as they are (script.render.catalogue). fit(x) -> state on the train split;
# apply(x, state) and invert(x, state) on any split. NumPy is imported where it is used
# (check never calls these).
def standardize_fit(x):
    std = x.std(axis=0)
    std[std == 0] = 1.0
    return {"mean": x.mean(axis=0), "std": std}


def standardize_apply(x, s):
    return (x - s["mean"]) / s["std"]


def standardize_invert(x, s):
    return x * s["std"] + s["mean"]


def minmax_fit(x):
    lo, hi = x.min(axis=0), x.max(axis=0)
    span = hi - lo
    span[span == 0] = 1.0
    return {"min": lo, "span": span}


def minmax_apply(x, s):
    return (x - s["min"]) / s["span"]


def minmax_invert(x, s):
    return x * s["span"] + s["min"]


def fill_fit(x, value="mean"):
    """Each column's fill for missing values: the train split's mean or median (0 where
    the column has none), or the number ``value``."""
    import numpy as np

    if value == "mean":
        fill = np.nanmean(x, axis=0)
    elif value == "median":
        fill = np.nanmedian(x, axis=0)
    else:
        return {"fill": np.full(x.shape[1:], value)}
    return {"fill": np.where(np.isnan(fill), 0.0, fill)}


def fill_apply(x, s):
    import numpy as np

    return np.where(np.isnan(x), s["fill"], x)


def reshape_apply(x, s, shape):
    return x.reshape(len(x), *shape)


class Transform(Component):
    """A transform is its functions (``functions``: fit, apply, invert; None where it has
    none), with the transform's parameters (``args``) bound to fit or apply."""

    kind: ClassVar[str] = "transform"
    functions: ClassVar[tuple] = (None, None, None)

    @property
    def invertible(self) -> bool:
        return self.functions[2] is not None

    def args(self) -> dict:
        """The parameters the fit function (or, without one, apply) takes by keyword."""
        return {}

    def step(self) -> tuple:
        """(fit, apply, invert) as build calls them: the parameters bound."""
        import functools

        fit, apply, invert = self.functions
        bound = functools.partial(fit or apply, **self.args()) if self.args() else fit or apply
        return (bound, apply, invert) if fit else (None, bound, invert)

    def step_code(self) -> str:
        """The same triple as script source."""
        names = [f.__name__ if f else "None" for f in self.functions]
        if self.args():
            i = 0 if self.functions[0] else 1
            kw = ", ".join(f"{k}={literal(v)}" for k, v in self.args().items())
            names[i] = f"functools.partial({names[i]}, {kw})"
        return f"({', '.join(names)})"

    def infer(self, feat: tuple) -> tuple:
        return feat

    def fit(self, x) -> dict:
        return self.step()[0](x) if self.functions[0] else {}

    def apply(self, x, state: dict):
        return self.step()[1](x, state)

    def invert(self, x, state: dict):
        return self.functions[2](x, state)

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

    functions: ClassVar[tuple] = (standardize_fit, standardize_apply, standardize_invert)


class MinMaxSpec(Transform, type="minmax"):
    """Scale each column to [0, 1] by the train minimum and maximum."""

    functions: ClassVar[tuple] = (minmax_fit, minmax_apply, minmax_invert)


class ReshapeTransformSpec(Transform, type="reshape", primary="shape"):
    """Give each sample the shape ``shape`` (e.g. [1, 8, 8] for an image of 64 pixels)."""

    shape: list[int] = Field(min_length=1)
    functions: ClassVar[tuple] = (None, reshape_apply, None)

    def args(self):
        return {"shape": tuple(self.shape)}

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

    def graph(self, x, s):
        return x.reshape(x.shape[0], *self.shape)

    def restore(self, x, s, before):
        return x.reshape(len(x), *before)


class FillSpec(Transform, type="fill", primary="value"):
    """Fill missing values (NaN) per column with the train split's ``mean`` or
    ``median``, or a number. Put it first."""

    value: Annotated[float, Field(allow_inf_nan=True)] | Literal["mean", "median"] = "mean"
    functions: ClassVar[tuple] = (fill_fit, fill_apply, None)

    def args(self):
        return {"value": self.value}

    def graph(self, x, s):
        import torch

        return torch.where(torch.isnan(x), s["fill"], x)

    def restore(self, x, s, before):
        return x  # a filled value stands for itself
