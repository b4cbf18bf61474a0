"""The arguments of scikit-learn's data generators, typed as layer arguments are: a
string where a number belongs (``noise: "abc"``) is a located error in ``check``, not a
failure inside scikit-learn. Defaults come from ``info.GENERATORS``, the one table."""

from __future__ import annotations

import functools
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, create_model

from .info import GENERATORS

Count = Annotated[int, Strict(), Field(ge=1, le=10_000_000)]
Whole = Annotated[int, Strict(), Field(ge=0, le=10_000_000)]
Real = Annotated[float, Strict(), Field(allow_inf_nan=False)]
NonNeg = Annotated[float, Strict(), Field(ge=0.0, allow_inf_nan=False)]
Fraction = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]
Point = list[Annotated[float, Strict(), Field(allow_inf_nan=False)]]

TYPES = {
    "n_samples": Count, "n_features": Count, "n_informative": Whole, "n_redundant": Whole,
    "n_classes": Annotated[int, Strict(), Field(ge=2, le=100_000)], "n_clusters_per_class": Count,
    "class_sep": Real, "flip_y": Fraction, "n_targets": Count, "noise": NonNeg | None, "bias": Real,
    "centers": Count | Annotated[list[Point], Field(min_length=1)], "cluster_std": NonNeg,
}


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


@functools.cache
def arguments_model(generator: str) -> type[BaseModel]:
    """The pydantic model of one generator's arguments."""
    fields = {k: (TYPES[k], default) for k, default in GENERATORS[generator].items()}
    return create_model(f"{generator}_args", __base__=_Args, **fields)


def check_arguments(generator: str, params: dict) -> None:
    """Raise ValueError naming the first argument of the wrong type or range."""
    try:
        arguments_model(generator).model_validate(params)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        key = ".".join(str(p) for p in err["loc"] if isinstance(p, int) or p in params)  # no union tags
        msg = err["msg"][0].lower() + err["msg"][1:]
        raise ValueError(f"`{generator}` argument `{key}`: {msg}, got {err['input']!r}") from None
