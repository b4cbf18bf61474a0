"""Named inputs of the array sources (spec 12.1): ``data.inputs`` of ``synthetic`` and ``npz``.

Each named input is one tensor a sample brings, a source node of the model's graph
(front/graph.py) and one keyword argument of the model's ``forward``. This module owns
what they are in a spec (the name rules, a synthetic input's shape and dtype, an npz
input's array key) and the mixin of the sources that take them. What ``check`` knows
of each input is sources/info.py's ``InputInfo``."""

from __future__ import annotations

import builtins
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from ..components.base import PosInt
from ..components.names import RESERVED, not_a_name
from .base import Base

# Names the generated forward reads besides its parameters: an input, being a parameter
# of ``forward``, must not shadow one (a layer's output is renamed instead; a parameter cannot be).
FORWARD_NAMES = frozenset({"np", "math", "functools"}) | {n for n in dir(builtins) if not n.startswith("_")}


def _check_input_name(v: str) -> str:
    if why := not_a_name(v, "input name"):
        raise ValueError(why)
    if v in RESERVED or v in FORWARD_NAMES:
        raise ValueError(f"`{v}` is reserved (the generated model's forward reads it); choose another input name")
    return v


InputName = Annotated[str, AfterValidator(_check_input_name)]


def high_of_ids(v: int, info) -> int:
    """A synthetic input's ``high`` given (a default is not validated) where its dtype is float32:
    an error, not a setting silently unused."""
    if info.data.get("dtype") == "float32":
        raise ValueError("`high` bounds int64 token ids, and this input is float32 (standard normal); "
                         "drop `high`, or set `dtype: int64`")
    return v


def inputs_of(kind):
    """The type of a source's ``inputs``: names -> ``kind``, at least one (None: one input)."""
    return Annotated[dict[InputName, kind], Field(min_length=1)] | None


class SyntheticInput(Base):
    """One synthetic input: random values of ``shape`` per sample, float32 (standard
    normal) or int64 token ids below ``high``."""

    shape: list[PosInt] = Field(min_length=1)
    dtype: Literal["float32", "int64"] = "float32"
    high: PosInt = 10

    _high = field_validator("high")(lambda v, info: high_of_ids(v, info))


class NpzInput(Base):
    """One input of an npz file: the ``array`` under that key, one row per sample
    (integers: int64 ids; floats: float32)."""

    array: str = Field(min_length=1)


# single-input keys that `inputs` replaces, per source (spec 12.1: mutually exclusive)
EXCLUSIVE = {"synthetic": ("shape", "dtype", "high", "transforms"), "npz": ("x", "transforms"),
             "csv": ("features", "categorical", "exclude", "transforms")}


class NamedInputs:
    """A source with ``inputs`` (a mapping of names to inputs, in forward's order)."""

    def exclusive_keys(self) -> list[str]:
        """The single-input keys given beside ``inputs`` (check says each at its key)."""
        return [k for k in EXCLUSIVE[self.source] if self.inputs is not None and k in self.model_fields_set]

    def fit_code(self) -> list[str]:
        """The script's lines that fit the inputs on the train split, after the split (the
        array sources fit nothing; the CSV's inputs do)."""
        return []

    def record_code(self) -> list[str]:
        """The script's lines that add what the inputs fitted to its preprocess record, as
        build's preprocess.json holds it (the array sources fit nothing)."""
        return []
