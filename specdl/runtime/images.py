"""Image folders that keep up: each image decoded once into a uint8 cache [N, C, H, W]
(in memory when it fits, else memory-mapped from a file beside the data), batches sliced
from it, and the random augmentations applied to a whole batch at once as tensor ops on
the training device, drawing from the seeded shuffle generator.

Each function here is copied verbatim into generated scripts (``SCRIPT_FUNCTIONS``); it
reads only its arguments and what such a script imports (torch, np, os, json, hashlib,
functools, Path, Image from PIL)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def cache_memory():
    """Bytes an image cache may take in memory: a quarter of the machine's memory, or the
    SPECDL_CACHE_MEMORY environment variable; a larger cache is memory-mapped instead."""
    if os.environ.get("SPECDL_CACHE_MEMORY"):
        return int(os.environ["SPECDL_CACHE_MEMORY"])
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (AttributeError, ValueError, OSError):
        return 2**30


def cache_places(root):
    """Where an image folder's cache may live, in order: `.specdl-cache` beside the folder,
    then the user's cache directory (XDG_CACHE_HOME or ~/.cache) when that one cannot be
    written (a read-only data folder)."""
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [Path(root).resolve().parent / ".specdl-cache", home / "specdl" / "images"]


def cache_name(root, files, pre):
    """The cache's file name: the folder's name, a hash of the decoding steps, and a hash
    of every file's name (relative to the folder), size, modification time, inode and
    status-change time; a changed file, or changed steps, give a new name. The last two
    catch a file rewritten in place with its name, size and mtime kept (`cp -p`, `rsync -a`,
    `tar x`): no tool can set a ctime, and writing a file sets it."""
    steps = hashlib.sha256(repr(pre).encode()).hexdigest()[:8]
    listing = hashlib.sha256()
    for f in files:
        st = os.stat(f)
        listing.update(json.dumps([os.path.relpath(f, root), st.st_size, st.st_mtime_ns, st.st_ino,
                                   st.st_ctime_ns]).encode())
    return f"{Path(root).resolve().name}-{steps}-{listing.hexdigest()[:16]}"


def decode_images(files, pre, make=np.empty):
    """Decode each image (RGB, as ImageFolder reads it), apply ``pre`` (v2.ToImage and the
    deterministic steps before the cache) and store it in a uint8 array [N, C, H, W] made
    by ``make(shape)`` once the first image's shape is known. A file that does not decode
    is named."""
    out = None
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                img = pre(im.convert("RGB")).as_subclass(torch.Tensor)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise RuntimeError(f"{f} is not a readable image ({str(e)[:120]}); remove or replace it") from None
        if out is None:
            out = make((len(files), *img.shape))
        if tuple(img.shape) != out.shape[1:]:
            raise RuntimeError(f"{f} is {list(img.shape)} pixels after decoding but {files[0]} is "
                               f"{list(out.shape[1:])}; add `resize: [H, W]` to data.transforms")
        out[i] = img.numpy()
    return out


def write_cache(data, head, files, pre):
    """Decode the images straight into a memory-mapped temporary file (never all of them in
    memory at once) and rename it to ``data``; the JSON ``head``, written last the same
    way, marks the cache complete. Earlier versions of the folder's cache are removed."""
    tmp = data.with_name(f"{data.name}.{os.getpid()}.tmp")
    try:
        x = decode_images(files, pre, lambda shape: np.memmap(tmp, dtype=np.uint8, mode="w+", shape=shape))
        x.flush()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, data)
    tmp.write_text(json.dumps({"shape": list(x.shape), "files": len(files)}))
    os.replace(tmp, head)
    for old in data.parent.glob(f"{data.name.rsplit('-', 1)[0]}-*.json"):
        if old != head:
            old.unlink(missing_ok=True)
            old.with_name(old.name[:-len(".json")] + ".u8").unlink(missing_ok=True)


def read_cache(data, head):
    """The cache file, memory-mapped copy-on-write (never written through)."""
    shape = tuple(json.loads(head.read_text())["shape"])
    if data.stat().st_size != int(np.prod(shape)):
        raise ValueError(f"{data} does not hold {shape} bytes")
    return np.memmap(data, dtype=np.uint8, mode="c", shape=shape)


def image_cache(root, files, pre, memory=None):
    """The images of ``files`` (under the folder ``root``) after ``pre``, as a uint8 tensor
    [N, C, H, W]: read from the cache file when one matches the files and steps, else
    decoded once and written atomically. Kept in memory when it fits in ``memory`` bytes
    (cache_memory()), memory-mapped from the file otherwise."""
    memory = cache_memory() if memory is None else memory
    name = cache_name(root, files, pre)
    for place in cache_places(root):
        data, head = place / f"{name}.u8", place / f"{name}.json"
        try:
            place.mkdir(parents=True, exist_ok=True)
            if not head.exists():
                write_cache(data, head, files, pre)
            try:
                mapped = read_cache(data, head)
            except (ValueError, KeyError, TypeError):  # damaged (cut short, header unreadable): made again
                write_cache(data, head, files, pre)
                mapped = read_cache(data, head)
        except OSError:
            continue  # not writable here: the next place
        return torch.from_numpy(np.array(mapped) if mapped.nbytes <= memory else mapped)
    return torch.from_numpy(decode_images(files, pre))  # nowhere to write: in memory only


def image_folder(root, pre):
    """An image folder (``root/<class>/<image>``, classes the sorted sub-folders, as
    ImageFolder lists them) through the cache: the images [N, C, H, W] uint8, the labels."""
    from torchvision.datasets import ImageFolder

    folder = ImageFolder(root)
    return image_cache(root, [p for p, _ in folder.samples], pre), np.array(folder.targets, dtype=np.int64)


def folder_splits(read, folders, split):
    """The train, val and test splits of image folders, each as (images, rows, labels): the
    split's rows index the images. ``read(folder, train)`` gives a folder's images (after
    the train split's steps, or the eval splits') and labels; ``folders``: one ``root``,
    its rows split by ``split(labels)`` (split_rows, seeded), or separate ``train``,
    ``val`` (None: no validation) and ``test`` folders, each a split as it is."""
    if folders.get("root"):
        x, y = read(folders["root"], True)
        x_eval = read(folders["root"], False)[0]
        return {k: (x if k == "train" else x_eval, r, y[r]) for k, r in split(y).items()}
    test = read(folders["test"], False)
    found = {"train": read(folders["train"], True), "val": read(folders["val"], False) if folders.get("val")
             else (test[0], test[1][:0]), "test": test}
    return {k: (x, np.arange(len(y)), y) for k, (x, y) in found.items()}


def cache_reader(pre_train, pre_eval):
    """folder_splits' ``read`` through the uint8 cache (image_folder): the steps before the
    cache of the train split, or of the eval splits; a folder read with the same steps
    twice (the same repr, as cache_name keys them) is decoded once."""
    pre_eval = pre_train if repr(pre_eval) == repr(pre_train) else pre_eval
    cached = functools.cache(image_folder)
    return lambda folder, train: cached(folder, pre_train if train else pre_eval)


def dataset_reader(train_tf, eval_tf, **options):
    """folder_splits' ``read`` per sample: an ImageFolder data set (``options``: its
    loader, ...) with the train or the eval pipeline, and its labels."""
    from torchvision.datasets import ImageFolder

    def read(folder, train):
        data = ImageFolder(folder, train_tf if train else eval_tf, **options)
        return data, np.array(data.targets, dtype=np.int64)

    return read


def random_flip(x, generator, p=0.5, dim=-1):
    """Each image of the batch mirrored along ``dim`` (-1: left-right, -2: top-bottom) with
    probability p (as v2.RandomHorizontalFlip / RandomVerticalFlip: when a uniform draw is
    below p); one gather, each image reading its pixels in its own order."""
    flip = (torch.rand(len(x), generator=generator) < p).to(x.device)
    size = x.shape[dim]
    ahead = torch.arange(size, device=x.device)
    order = torch.where(flip[:, None], size - 1 - ahead, ahead)
    shape = [len(x), 1, 1, 1]
    shape[dim] = size
    return x.gather(dim, order.view(shape).expand_as(x))


def random_crop(x, generator, size, padding=0):
    """Each image zero-padded by ``padding`` on every side, then cropped to ``size`` [h, w]
    at its own offset, drawn uniformly over the positions that fit (as v2.RandomCrop); one
    gather of each crop's pixels from the flattened padded images."""
    n, c, height, width = x.shape
    h, w = size
    top = torch.randint(0, height + 2 * padding - h + 1, (n,), generator=generator).to(x.device)
    left = torch.randint(0, width + 2 * padding - w + 1, (n,), generator=generator).to(x.device)
    padded = torch.nn.functional.pad(x, (padding,) * 4) if padding else x
    wide = width + 2 * padding
    pixels = (torch.arange(h, device=x.device)[:, None] * wide + torch.arange(w, device=x.device)).view(1, 1, -1)
    start = (top * wide + left).view(n, 1, 1)
    return padded.reshape(n, c, -1).gather(2, (pixels + start).expand(n, c, -1)).view(n, c, h, w)


def color_jitter(x, generator, brightness=None, contrast=None):
    """Per image, brightness and contrast factors drawn uniformly from their [low, high]
    ranges (None: left alone), applied in an order drawn per image, as v2.ColorJitter does
    on uint8 images (blends with black, and with the grayscale mean, clamped to 0..255)."""
    n = len(x)
    draws = [None if r is None else (r[0] + (r[1] - r[0]) * torch.rand(n, generator=generator)).to(x.device)
             for r in (brightness, contrast)]
    brightness_first = (torch.rand(n, generator=generator) < 0.5).to(x.device).view(-1, 1, 1, 1)

    def bright(img, f):
        return img.float().mul(f.view(-1, 1, 1, 1)).clamp_(0, 255).to(torch.uint8)

    def contrast_(img, f):
        if img.shape[1] == 3:
            gray = img[:, 0].mul(0.2989).add_(img[:, 1], alpha=0.587).add_(img[:, 2], alpha=0.114)
            gray = gray.unsqueeze(1).floor_()
        else:
            gray = img.float()
        mean = gray.mean(dim=(-3, -2, -1), keepdim=True)
        f = f.view(-1, 1, 1, 1)
        return img.float().mul(f).add_(mean * (1.0 - f.double()).float()).clamp_(0, 255).to(torch.uint8)

    b, c = draws
    if b is None or c is None:
        return bright(x, b) if c is None else contrast_(x, c) if b is None else x
    return torch.where(brightness_first, contrast_(bright(x, b), c), bright(contrast_(x, c), b))


def image_batches(x, rows, y, batch_size, generator, device, augment=(), post=None, rank=0, world=1):
    """Shuffled batches of the cached images ``x[rows]``: sliced, moved to ``device``,
    augmented as a whole batch (each of ``augment`` is fn(batch, generator)), then made
    float by ``post`` (the steps after augmentation: to_tensor, normalize, ...). Under data
    parallelism each rank takes its share of every global batch. The order is drawn as
    loop.batches draws it, but kept on the CPU: the cache is in host memory (only the
    labels index on ``device``)."""
    perm = torch.randperm(len(rows), generator=generator)
    for i in range(0, len(rows), batch_size):
        idx = perm[i:i + batch_size]
        if world > 1:
            idx = idx[rank::world]
        xb = x[rows[idx]].to(device, non_blocking=True)
        for step in augment:
            xb = step(xb, generator)
        yield post(xb), y[idx.to(y.device)]


def image_chunks(x, rows, size, device, post):
    """A split's cached images in evaluation chunks, moved to ``device`` and made float by
    ``post`` (no augmentation)."""
    for i in range(0, len(rows), size):
        yield post(x[rows[i:i + size]].to(device, non_blocking=True))


# What a generated script that reads an image folder may contain (those it reads), in order.
SCRIPT_FUNCTIONS = (cache_memory, cache_places, cache_name, decode_images, write_cache, read_cache, image_cache,
                    image_folder, folder_splits, cache_reader, dataset_reader, random_flip, random_crop, color_jitter, image_batches, image_chunks)
