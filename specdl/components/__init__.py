"""The component registry, one family per module."""

from . import augment, conv, core, external, merge, norm, sequence, structure, tokens, training, transforms, vision  # noqa: F401
from .base import REGISTRY, TT, Call, Layer

__all__ = ["REGISTRY", "Call", "Layer", "TT", "register"]
