"""Structural layers: a call of a block from ``model.blocks``."""

from typing import Any, ClassVar

from pydantic import Field

from .base import Layer, PosInt


class BlockCallSpec(Layer, type="call"):
    """A call of a block defined under ``model.blocks``, written with the block's name:
    ``residual: {c: 32, repeat: 2}``. It becomes a sub-module (a ``nn.Sequential`` of
    the copies when repeat > 1)."""

    block: str
    args: dict[str, Any] = {}
    repeat: PosInt = Field(1, le=1000)
    layers: list["LayerUnion"] = Field(min_length=1)  # noqa: F821 - resolved in schema.spec_class
    structural: ClassVar[bool] = True

    def canonical(self) -> dict:
        out = {"type": self.block, **self.args}
        if self.repeat != 1:
            out["repeat"] = self.repeat
        for k in ("name", "inputs"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out
