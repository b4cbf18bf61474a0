"""An image run's steps before `to_tensor` without torch: what `specdl serve --backend
onnx` does to a request's images before the raw ONNX graph (`export --with-preprocessing`,
runs/deploy.py), which takes them as uint8 [N, C, H, W] and scales and normalises them
itself. Decoding is training's (PIL, as RGB); `center_crop` and `grayscale` are
torchvision's tensor kernels in NumPy (equal to them); `resize` is PIL's bilinear filter,
where torchvision resizes the uint8 tensor with its own antialiased bilinear kernel: the
two differ by at most ``RESIZE_LEVELS`` of 255 on a few pixels (tests/test_pixels.py)."""

from __future__ import annotations

import os

import numpy as np

from ..errors import RunError

RESIZE_LEVELS = 1  # PIL's bilinear resize vs torchvision's uint8 one: at most this many levels apart
STEPS = ("resize", "center_crop", "grayscale")  # the steps before to_tensor done here


def before_to_tensor(transforms, what: str = "data.transforms") -> list:
    """The transforms before `to_tensor` (all of them where there is none), each one this
    module does the way the run's eval pipeline does it; any other is one RunError."""
    steps = list(transforms)
    names = [t.type_name for t in steps]
    steps = steps[:names.index("to_tensor")] if "to_tensor" in names else steps
    for t in steps:
        if t.type_name not in STEPS:
            raise RunError(f"--with-preprocessing decodes images without torch, with {', '.join(STEPS)} before "
                           f"to_tensor; `{t.type_name}` in {what} is not among them: serve the run with "
                           "--backend torch, or export without --with-preprocessing")
        if t.type_name == "resize" and not t.antialias:
            raise RunError(f"--with-preprocessing resizes images with PIL, whose bilinear filter antialiases; "
                           f"`resize` in {what} has antialias: false: drop it (and train again), or serve the run "
                           "with --backend torch")
    return steps


def decode(image) -> np.ndarray:
    """A file path (decoded as training decodes it) or a PIL image, as uint8 [3, H, W]."""
    from ..sources.images import load_rgb

    im = image.convert("RGB") if hasattr(image, "convert") else load_rgb(image)
    return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)


def resize(a: np.ndarray, t) -> np.ndarray:
    """``a`` [C, H, W] to the size ``t`` (a ResizeSpec) gives: each channel by PIL's
    bilinear filter (an image of that size already: as it is, as torchvision leaves it)."""
    from PIL import Image

    _, h, w = t.infer(a.shape)
    if (h, w) == a.shape[1:]:
        return a
    return np.stack([np.asarray(Image.fromarray(c).resize((w, h), Image.Resampling.BILINEAR)) for c in a])


def center_crop(a: np.ndarray, t) -> np.ndarray:
    """torchvision's center_crop: zero-padded where the crop is larger, then the crop
    whose top-left corner is round((size - crop) / 2)."""
    _, h, w = t.infer(a.shape)
    _, ih, iw = a.shape
    if h > ih or w > iw:
        top, left = max(0, (h - ih) // 2), max(0, (w - iw) // 2)
        a = np.pad(a, ((0, 0), (top, max(0, (h - ih + 1) // 2)), (left, max(0, (w - iw + 1) // 2))))
        _, ih, iw = a.shape
    top, left = int(round((ih - h) / 2.0)), int(round((iw - w) / 2.0))
    return a[:, top:top + h, left:left + w]


def grayscale(a: np.ndarray, t) -> np.ndarray:
    """torchvision's rgb_to_grayscale of uint8: 0.2989 R + 0.587 G + 0.114 B in float32,
    truncated; ``num_output_channels`` copies."""
    if len(a) == 1:
        gray = a
    else:
        r, g, b = a.astype(np.float32)
        gray = (r * np.float32(0.2989) + g * np.float32(0.587) + b * np.float32(0.114)).astype(np.uint8)[None]
    return np.repeat(gray, t.num_output_channels, 0)


DO = {"resize": resize, "center_crop": center_crop, "grayscale": grayscale}


def pixels(images, steps, want) -> np.ndarray:
    """(name, file path or PIL image) pairs decoded and through ``steps`` (from
    ``before_to_tensor``), stacked: uint8 [N, C, H, W]; each must come out at ``want``
    (the model's [C, H, W]). A file that is not a readable image is one RunError naming
    it (and ``name``, where it is not the file)."""
    out = []
    for name, image in images:
        try:
            a = decode(image)
        except RunError as e:
            raise RunError(str(e) if str(name) == str(image) else f"{name}: {e}") from None
        for t in steps:
            a = DO[t.type_name](a, t)
        if tuple(a.shape) != tuple(want):
            raise RunError(f"{name} is {list(a.shape)} after the run's transforms; the model takes "
                           f"{list(want)}: resize the image (or train with a `resize` transform)")
        out.append(a)
    return np.stack(out)


def image_files(name: str, cells, rows) -> None:
    """An image input's cells that are paths must be files (a blank cell: no image)."""
    for row, cell in zip(rows, cells):
        if isinstance(cell, (str, os.PathLike)) and not os.path.isfile(cell):
            raise RunError(f"{row}, input `{name}`: " + (f"no image file {cell} (image paths are taken from the "
                           "CSV's folder)" if cell else "no image path; give every row an image"))


def input_pixels(run, name: str, cells, rows) -> np.ndarray:
    """A named-input run's image input ``name``: its cells (file paths, PIL images) as
    its graph input, uint8 [N, C, H, W] (runs/named.py's ``encode`` ``pictures``)."""
    image_files(name, cells, rows)
    want = next(i.feat for i in run.analysis.data.inputs if i.name == name)
    steps = before_to_tensor(run.spec.data.inputs[name].transforms, f"data.inputs.{name}.transforms")
    return pixels([(f"{row}, input `{name}`", cell) for row, cell in zip(rows, cells)], steps, want)


def source_pixels(run, images):
    """An image run's ``images`` ((name, file path or PIL image) pairs) as its graph's
    ``image`` input: a ``RawInputs`` of uint8 [N, C, H, W], the names its rows and files."""
    from .inputs import RawInputs, expected_shape

    names = [name for name, _ in images]
    return RawInputs(pixels(images, before_to_tensor(run.spec.data.transforms), expected_shape(run)), names, names)
