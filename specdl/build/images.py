"""Image data for training, per split, with their labels as arrays for the metrics: an
image source through the uint8 cache and batched augmentation (specdl/runtime/images.py)
where its pipeline allows, else data sets read per sample by DataLoaders. Each source
(sources/images.py) owns its splits; nothing here branches on which source it is."""

from __future__ import annotations

from ..errors import RunError, SourceError
from .arrays import Arrays, _check_classes


def compose(calls):
    from torchvision.transforms import v2

    return v2.Compose([c() for c in calls])


def prepare_images(spec, analysis) -> Arrays:
    """The splits of an image source, as the source prepares them: through the uint8 cache
    where its pipeline allows, else data sets decoded per sample by a DataLoader."""
    data = spec.data
    try:
        data.verify()  # fail before epoch 1, naming the file
        if data.uses_cache():
            xs, ys = cached_splits(spec)
        else:
            xs, ys = data.datasets(compose(data.pipeline(train=True)), compose(data.pipeline(train=False)), spec.seed)
    except SourceError as e:
        raise RunError(f"data.{e.where}: {e}") from None
    names = data.class_names()
    _check_classes(ys, analysis.data.classes, names)
    return Arrays(xs, ys, dict(ys), class_names=names)


class CachedImages:
    """A split of a cached image folder: the uint8 cache ``x``, the split's ``rows`` in it,
    the batched augmentation (train) and the steps run on each batch (``post``). Indexed
    like a data set, (image, label) per sample, for what reads a few samples (export)."""

    def __init__(self, x, rows, y, augment, post):
        import torch

        self.x, self.rows, self.y = x, torch.as_tensor(rows, dtype=torch.int64), y
        self.augment, self.post = augment, post

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.post(self.x[self.rows[i:i + 1]])[0], int(self.y[i])


def _plan_steps(plan):
    """A cache plan's (pre, augment, post) as callables: v2.Compose of the Calls, and each
    batched step as functools.partial of its runtime function."""
    from functools import partial

    from ..runtime import images

    pre, augment, post = plan
    return compose(pre), [partial(getattr(images, fn), **kw) for fn, kw in augment], compose(post)


def cached_splits(spec) -> tuple[dict, dict]:
    """The three splits of an image source read through the cache, as the generated
    script's data section does (the source's ``cached``, given the runtime's functions)."""
    data = spec.data
    steps = _plan_steps(data.cache_plan(True)), _plan_steps(data.cache_plan(False))
    try:
        return data.cached(CachedImages, steps, spec.seed)
    except RuntimeError as e:  # an image that does not decode, named
        raise RunError(str(e)) from None


def loader(dataset, batch_size: int, shuffle: bool, generator, workers: int, device, sampler=None):
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      generator=generator if shuffle and sampler is None else None,
                      num_workers=workers, pin_memory=device.type == "cuda", persistent_workers=workers > 0)


