"""Named inputs at run time (spec 12.1): a model's several input tensors batched together.

``Inputs`` holds one tensor per named input and slices, moves and copies them together, as
the loop (runtime/loop.py) and the CUDA-graph step (runtime/graphs.py) treat one input
tensor; ``keyword_inputs`` is the model's forward pre-hook that hands them to ``forward``
as keyword arguments (``forward(review, movie)``). Build calls these; a generated script
with named inputs holds them as their own source. Each reads only torch."""

import torch

from .prepare import take_inputs  # NumPy: check takes it without torch


class Inputs:
    """A model's named input tensors (name -> tensor, the rows of one sample alike), which
    slice, move, clone and copy together like one tensor: ``x[idx]`` gives each input's rows."""

    def __init__(self, tensors):
        self.tensors = dict(tensors)

    def __len__(self):
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, idx):
        return Inputs({k: v[idx] for k, v in self.tensors.items()})

    def to(self, *args, **kwargs):
        return Inputs({k: v.to(*args, **kwargs) for k, v in self.tensors.items()})

    def clone(self):
        return Inputs({k: v.clone() for k, v in self.tensors.items()})

    def copy_(self, other):
        for k, v in self.tensors.items():
            v.copy_(other.tensors[k])
        return self

    def chunks(self, size, device=None):
        """Evaluation chunks of ``size`` samples, as the loop's ``chunks`` slices one tensor
        (``device``: where the tensors already are)."""
        for i in range(0, len(self), size):
            yield self[i:i + size]


def keyword_inputs(module, args, kwargs):
    """A forward pre-hook: a model called on ``Inputs`` (a batch of the loop) gets its
    tensors as keyword arguments, ``model(xb)`` running ``forward(**xb.tensors)``."""
    if len(args) == 1 and isinstance(args[0], Inputs):
        return (), {**args[0].tensors, **kwargs}
    return None


def as_inputs(arrays, dtypes, device):
    """One split's named arrays as ``Inputs`` of tensors on ``device`` (``dtypes``: name
    -> torch dtype: int64 ids stay int64, floats become float32)."""
    return Inputs({k: torch.as_tensor(v, dtype=dtypes[k]).to(device) for k, v in arrays.items()})


# What a script with named inputs contains
INPUT_FUNCTIONS = (Inputs, keyword_inputs, take_inputs, as_inputs)
