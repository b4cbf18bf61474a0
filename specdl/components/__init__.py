"""The component registry, one family per module."""

from . import (  # noqa: F401
    augment,
    conv,
    core,
    external,
    merge,
    norm,
    reduce,
    residual,
    sequence,
    structure,
    tokens,
    training,
    transforms,
    vision,
)
from .base import REGISTRY, Layer
from .call import Call
from .tensor import TT

__all__ = ["REGISTRY", "Call", "Layer", "TT", "register"]
