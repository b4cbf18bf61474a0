"""Image data for training, per split, with their labels as arrays for the metrics: an
image folder through the uint8 cache and batched augmentation (specdl/runtime/images.py)
where its pipeline allows, else torchvision data sets read per sample by DataLoaders."""

from __future__ import annotations

import os

import numpy as np

from .errors import RunError
from .sources import SourceError
from .splits import Arrays, _check_classes, split_indices


def compose(calls):
    from torchvision.transforms import v2

    return v2.Compose([c() for c in calls])


def prepare_images(spec, analysis) -> Arrays:
    data = spec.data
    try:
        if data.source == "image_folder":
            from .sources.images import verify_images

            for split, pairs in data.scan_all()[1].items():  # fail before epoch 1, naming the file
                verify_images([p for p, _ in pairs], "root" if split == "all" else split)
        xs, ys = cached_splits(spec) if data.uses_cache() else _dataset_splits(spec)
    except SourceError as e:
        raise RunError(f"data.{e.where}: {e}") from None
    names = data.class_names()
    _check_classes(ys, analysis.data.classes, names)
    return Arrays(xs, ys, dict(ys), class_names=names)


def _dataset_splits(spec) -> tuple[dict, dict]:
    """The splits as torchvision data sets, each sample decoded and transformed by a
    DataLoader (the per-sample v2 pipeline)."""
    from functools import partial

    from torch.utils.data import Subset
    from torchvision.datasets import ImageFolder

    from .sources.images import load_rgb

    data = spec.data
    train_tf, eval_tf = compose(data.pipeline(train=True)), compose(data.pipeline(train=False))
    if data.source == "torchvision":
        train_full, train_eval = data.open(True, train_tf), data.open(True, eval_tf)
        test = data.open(False, eval_tf)
        y = np.asarray(train_full.targets, dtype=np.int64)
        idx = split_indices(y, _val_only(data.split), spec.seed, data.split.stratify)
        xs = {"train": Subset(train_full, idx["train"]), "val": Subset(train_eval, idx["val"]), "test": test}
        return xs, {"train": y[idx["train"]], "val": y[idx["val"]], "test": np.asarray(test.targets, dtype=np.int64)}
    ImageFolder = partial(ImageFolder, loader=load_rgb)  # noqa: N806
    if data.root is not None:
        full_train, full_eval = ImageFolder(data.root, train_tf), ImageFolder(data.root, eval_tf)
        y = np.array(full_train.targets, dtype=np.int64)
        idx = split_indices(y, data.split, spec.seed, data.split.stratify)
        xs = {"train": Subset(full_train, idx["train"]), "val": Subset(full_eval, idx["val"]),
              "test": Subset(full_eval, idx["test"])}
        return xs, {k: y[v] for k, v in idx.items()}
    xs, ys = {}, {}
    for split in ("train", "val", "test"):
        root = getattr(data, split)
        if root is None:
            xs[split], ys[split] = Subset(ImageFolder(data.train, eval_tf), []), np.zeros(0, np.int64)
            continue
        ds = ImageFolder(root, train_tf if split == "train" else eval_tf)
        xs[split], ys[split] = ds, np.array(ds.targets, dtype=np.int64)
    return xs, ys


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

    from .runtime import images

    pre, augment, post = plan
    return compose(pre), [partial(getattr(images, fn), **kw) for fn, kw in augment], compose(post)


def cached_splits(spec) -> tuple[dict, dict]:
    """The three splits of an image folder read through the cache, as the generated
    script's data section does: one folder split by ``split``, or a folder per split."""
    from .runtime.images import image_folder

    data = spec.data
    (pre_t, aug, post_t), (pre_e, _, post_e) = _plan_steps(data.cache_plan(True)), _plan_steps(data.cache_plan(False))
    try:
        if data.root is not None:
            x_train, y = image_folder(data.root, pre_t)
            x_eval = x_train if repr(pre_t) == repr(pre_e) else image_folder(data.root, pre_e)[0]
            idx = split_indices(y, data.split, spec.seed, data.split.stratify)
            ys = {k: y[v] for k, v in idx.items()}
            return {"train": CachedImages(x_train, idx["train"], ys["train"], aug, post_t),
                    **{k: CachedImages(x_eval, idx[k], ys[k], (), post_e) for k in ("val", "test")}}, ys
        xs, ys = {}, {}
        for k in ("train", "test", "val"):
            if getattr(data, k) is None:  # no validation folder
                xs[k], ys[k] = CachedImages(xs["test"].x, [], [], (), post_e), np.zeros(0, np.int64)
                continue
            x, ys[k] = image_folder(getattr(data, k), pre_t if k == "train" else pre_e)
            xs[k] = CachedImages(x, np.arange(len(x)), ys[k], aug if k == "train" else (),
                                 post_t if k == "train" else post_e)
        return {k: xs[k] for k in ("train", "val", "test")}, {k: ys[k] for k in ("train", "val", "test")}
    except RuntimeError as e:  # an image that does not decode, named
        raise RunError(str(e)) from None


def _val_only(split):
    """A torchvision set brings its own test split: only val is held out of train."""
    return type(split)(val=split.val, test=0.0, stratify=split.stratify)


# `num_workers: auto`, as one expression: specdl evaluates this very text, and the
# generated script contains it verbatim (DEVICE being its device), so the two agree.
AUTO_WORKERS = 'max(0, min(4, (os.cpu_count() or 1) - 1)) if DEVICE.type == "cuda" else 0'


def workers(setting, device) -> int:
    """DataLoader worker processes: the spec's number, or on ``auto`` up to 4 on a GPU
    (which would otherwise wait for the decoding) and none on the CPU, where workers
    compete with training for the cores (docs/performance.md)."""
    if setting != "auto":
        return setting
    return eval(AUTO_WORKERS, {"os": os, "DEVICE": device})  # noqa: S307 - the constant above


def loader(dataset, batch_size: int, shuffle: bool, generator, workers: int, device, sampler=None):
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      generator=generator if shuffle and sampler is None else None,
                      num_workers=workers, pin_memory=device.type == "cuda", persistent_workers=workers > 0)


