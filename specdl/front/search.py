"""The `search` section: its schema (distributions, sampler, pruner, trials). The proof
`specdl check` gives of a search space is specdl/front/__init__.py's ``prove_search``; running a
search is specdl/tuning/run.py's. Nothing here imports torch or Optuna."""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from ..components.base import STRICT, PosInt

KEY = re.compile(r"[A-Za-z_][\w-]*(\.[\w-]+)*")  # an override path: train.batch_size, model.layers.0.linear
Scalar = bool | int | float | str  # bool first: strict mode keeps true a bool, 1 an int
FloatPair = Annotated[list[float], Field(min_length=2, max_length=2)]  # [low, high]
IntPair = Annotated[list[int], Field(min_length=2, max_length=2)]
DISTRIBUTIONS = ("uniform", "log_uniform", "int", "choice")
GRID_MAX = 100_000  # points of a grid search (each one a trial; Optuna holds the whole grid)


class Base(BaseModel):
    model_config = STRICT


class Distribution(Base):
    """One search dimension: exactly one of ``uniform: [lo, hi]``, ``log_uniform: [lo, hi]``,
    ``int: [lo, hi]`` (with ``step`` and ``log``), ``choice: [a, b, ...]``."""

    uniform: FloatPair | None = None
    log_uniform: FloatPair | None = None
    int_: IntPair | None = Field(None, alias="int")
    choice: list[Scalar] | None = Field(None, min_length=1)
    step: PosInt | None = None
    log: bool = False

    @model_validator(mode="after")
    def _one_kind(self):
        given = [k for k in DISTRIBUTIONS if self.bounds_of(k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(DISTRIBUTIONS)} (got {', '.join(given) or 'none'})")
        kind, b = given[0], self.bounds_of(given[0])
        if kind != "int" and (self.step is not None or self.log):
            raise ValueError("`step` and `log` go with an `int` range")
        if kind == "choice":
            if len({json.dumps(v) for v in b}) != len(b):
                raise ValueError("a choice lists each value once")
            return self
        lo, hi = b
        if not lo < hi:
            raise ValueError(f"the range [{lo}, {hi}] is empty: give [low, high] with low < high")
        if (kind == "log_uniform" or self.log) and lo <= 0:
            raise ValueError(f"a log range starts above 0 (got {lo})")
        if self.step is not None and self.log:
            raise ValueError("an int range takes `step` or `log`, not both")
        if self.step is not None and (hi - lo) % self.step:
            raise ValueError(f"the step {self.step} does not divide the range [{lo}, {hi}]; "
                             f"end it at {hi - (hi - lo) % self.step}")
        return self

    def bounds_of(self, kind: str):
        return self.int_ if kind == "int" else getattr(self, kind)

    @property
    def kind(self) -> str:
        return next(k for k in DISTRIBUTIONS if self.bounds_of(k) is not None)

    def corners(self) -> list:
        """The values `check` tries: both bounds of a range, every choice."""
        return list(self.bounds_of(self.kind))

    def points(self) -> int | None:
        """How many values there are, where finitely many (choice, int range); else None."""
        if self.kind == "choice":
            return len(self.choice)
        if self.kind == "int" and not self.log:
            lo, hi = self.int_
            return (hi - lo) // (self.step or 1) + 1
        return None

    def grid(self) -> list | None:
        """Every value, where there are finitely many (choice, int range); else None."""
        if self.points() is None:
            return None
        if self.kind == "choice":
            return list(self.choice)
        lo, hi = self.int_
        return list(range(lo, hi + 1, self.step or 1))


class Search(Base):
    """`search:`: what `specdl tune` varies, how it samples and prunes, for how many trials."""

    trials: PosInt = 20
    metric: str | None = None  # default: train.checkpoint.monitor
    mode: Literal["auto", "min", "max"] = "auto"
    sampler: Literal["tpe", "random", "grid"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    space: dict[str, Distribution] = Field(min_length=1)

    @model_validator(mode="after")
    def _keys(self):
        for key in self.space:
            if not KEY.fullmatch(key):
                raise ValueError(f"`{key}` is not an override path (like train.batch_size or "
                                 "optimizer.adamw.lr)")
            if key.split(".")[0] in ("search", "name", "version"):
                raise ValueError(f"`{key}`: a search varies how a spec trains, not its `{key.split('.')[0]}`")
        if self.sampler == "grid":
            flat = [k for k, d in self.space.items() if d.points() is None]
            if flat:
                raise ValueError(f"the grid sampler needs finite dimensions (choice, or int with step); "
                                 f"`{flat[0]}` is a continuous range")
            size = math.prod(d.points() for d in self.space.values())
            if size > GRID_MAX:
                raise ValueError(f"the grid holds {size} points, more than a search can visit "
                                 f"(at most {GRID_MAX}); give the int ranges a `step`, or narrow them")
        return self

    def monitor_overrides(self) -> list[str]:
        """The overrides that make each trial's best epoch the one the search ranks by."""
        out = [f"train.checkpoint.monitor={self.metric}"] if self.metric else []
        return out + ([f"train.checkpoint.mode={self.mode}"] if self.mode != "auto" else [])


def override(key: str, value: Any) -> str:
    """``key=value`` with the value as YAML reads it back (JSON is YAML; 1e+16 too, as
    SpecLoader reads exponents)."""
    return f"{key}={json.dumps(value)}"


def without_search(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "search"}
