"""Image data for training: torchvision datasets per split, with the spec's
transforms, and their labels as arrays for the metrics."""

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
    from torch.utils.data import Subset

    data = spec.data
    train_tf, eval_tf = compose(data.pipeline(train=True)), compose(data.pipeline(train=False))
    try:
        if data.source == "image_folder":
            from functools import partial

            from torchvision.datasets import ImageFolder

            from .sources.images import load_rgb, verify_images

            for split, pairs in data.scan_all()[1].items():  # fail before epoch 1, naming the file
                verify_images([p for p, _ in pairs], "root" if split == "all" else split)
            ImageFolder = partial(ImageFolder, loader=load_rgb)  # noqa: N806
            if data.root is not None:
                full_train, full_eval = ImageFolder(data.root, train_tf), ImageFolder(data.root, eval_tf)
                y = np.array(full_train.targets, dtype=np.int64)
                idx = split_indices(y, data.split, spec.seed, data.split.stratify)
                xs = {"train": Subset(full_train, idx["train"]), "val": Subset(full_eval, idx["val"]),
                      "test": Subset(full_eval, idx["test"])}
                ys = {k: y[v] for k, v in idx.items()}
            else:
                data.scan_all()  # same classes everywhere, or a clear error
                xs, ys = {}, {}
                for split in ("train", "val", "test"):
                    root = getattr(data, split)
                    if root is None:
                        xs[split], ys[split] = Subset(ImageFolder(data.train, eval_tf), []), np.zeros(0, np.int64)
                        continue
                    ds = ImageFolder(root, train_tf if split == "train" else eval_tf)
                    xs[split], ys[split] = ds, np.array(ds.targets, dtype=np.int64)
        else:
            train_full, train_eval = data.open(True, train_tf), data.open(True, eval_tf)
            test = data.open(False, eval_tf)
            y = np.asarray(train_full.targets, dtype=np.int64)
            idx = split_indices(y, _val_only(data.split), spec.seed, data.split.stratify)
            xs = {"train": Subset(train_full, idx["train"]), "val": Subset(train_eval, idx["val"]), "test": test}
            ys = {"train": y[idx["train"]], "val": y[idx["val"]], "test": np.asarray(test.targets, dtype=np.int64)}
    except SourceError as e:
        raise RunError(f"data.{e.where}: {e}") from None
    names = data.class_names()
    _check_classes(ys, analysis.data.classes, names)
    return Arrays(xs, ys, dict(ys), class_names=names)


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


