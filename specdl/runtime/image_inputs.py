"""Image inputs of a CSV at run time (spec 12.1, 12.5): a column of image paths beside the
other named inputs makes the source file-backed. ``ImageRows`` is one split as a data set a
DataLoader reads (its workers decoding the files): per sample, each in-memory input's row
and each image input's file through its torchvision pipeline, collated into an
``InputBatch`` that moves to the device as ``Inputs`` (runtime/inputs.py). Build calls
these; a generated script with image inputs holds their source. Reads torch, PIL and
NumPy."""

import functools

import numpy as np
import torch
from PIL import Image

from .inputs import Inputs


class InputBatch(dict):
    """A sample's named input tensors (name -> tensor): a dict, which a DataLoader collates
    (and pins) into one of the same type holding the batch; ``to`` gives the loop ``Inputs``."""

    def to(self, *args, **kwargs):
        return Inputs({k: v.to(*args, **kwargs) for k, v in self.items()})


@functools.lru_cache(maxsize=1024)
def load_image(path):
    """An image file as RGB (as ImageFolder reads it), decoded once per process while it is
    among the last 1,024 read: pictures reused by many rows are not decoded again. A file
    that does not decode is named."""
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise RuntimeError(f"{path} is not a readable image ({str(e)[:120]}); remove or replace it") from None


class ImageRows(torch.utils.data.Dataset):
    """One split of named inputs (``arrays``: name -> array of the split's rows; an image
    input's holds file paths) with its targets ``y``; ``pipelines``: image input name ->
    its v2 pipeline for this split. A sample is (InputBatch, target)."""

    def __init__(self, arrays, y, pipelines):
        self.arrays, self.pipelines = arrays, pipelines
        self.y = np.asarray(y, dtype=np.float32) if np.asarray(y).dtype.kind == "f" else np.asarray(y)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        x = InputBatch()
        for name, v in self.arrays.items():
            step = self.pipelines.get(name)
            x[name] = torch.as_tensor(v[i]) if step is None else step(load_image(v[i]))
        return x, self.y[i]


# What a script with image inputs contains
IMAGE_INPUT_FUNCTIONS = (InputBatch, load_image, ImageRows)
