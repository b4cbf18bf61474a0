"""Example data for the bundled image specs, written locally (nothing is downloaded):
a small image folder of class-separable pictures, and a resnet18 state_dict standing
in for pretrained weights."""

from __future__ import annotations

from pathlib import Path

CLASSES = ("circles", "stripes", "squares")


def _image(kind: str, rng, size: int):
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size] / size
    cx, cy = rng.uniform(0.3, 0.7, 2)
    if kind == "circles":
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < rng.uniform(0.04, 0.09)
    elif kind == "stripes":
        mask = np.sin((yy + rng.uniform()) * rng.uniform(14, 22)) > 0
    else:
        half = rng.uniform(0.15, 0.3)
        mask = (abs(xx - cx) < half) & (abs(yy - cy) < half)
    base = rng.uniform(0, 90, 3)
    fg = rng.uniform(150, 255, 3)
    img = np.where(mask[..., None], fg, base) + rng.normal(0, 12, (size, size, 3))
    return np.clip(img, 0, 255).astype("uint8")


def write_images(root: Path, per_class: int = 60, size: int = 32, seed: int = 0) -> Path:
    """``root/<class>/<n>.png`` for three shape classes."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for kind in CLASSES:
        d = Path(root) / kind
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(_image(kind, rng, size)).save(d / f"{i:03d}.png")
    return Path(root)


def write_weights(path: Path, model: str = "resnet18", seed: int = 0) -> Path:
    """A torchvision model's freshly initialised state_dict (seeded), saved atomically."""
    import torch
    import torchvision

    from .checkpoint import save_atomic

    torch.manual_seed(seed)
    net = torchvision.models.get_model(model)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_atomic(net.state_dict(), Path(path))
    return Path(path)


def write_all(out: Path = Path("data")) -> list[Path]:
    return [write_images(Path(out) / "shapes"), write_weights(Path(out) / "checkpoints" / "resnet18.pth")]
