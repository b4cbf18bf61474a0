"""A user's own module, for the extension tests (imported by name, as users' code is)."""

import torch
from torch import nn


class Scale(nn.Module):
    """Multiplies by a learned per-feature scale, then repeats the features `times` times."""

    def __init__(self, features: int, times: int = 1):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(features))
        self.times = times

    def forward(self, x):
        return (x * self.scale).repeat_interleave(self.times, dim=-1)
