"""Image folders that keep up (issue 14, point 6): a 10,000-image folder of 32x32 PNGs
(10 classes), read side by side in one run by

* the hand-written pipeline: torchvision.datasets.ImageFolder + DataLoader with the
  same transforms (RandomCrop(32, padding=4), RandomHorizontalFlip, ToDtype, Normalize),
  the same model (cifar_cnn's SmallCNN) and the same split; measured with 0 and with 2
  DataLoader workers (the two a careful hand-writer would try on a 2-core machine), the
  faster taken as the baseline;
* `specdl build` of the equivalent spec (the uint8 cache and batched augmentation).

Prints samples/s from the second epoch on, for the data pipeline alone (each batch read,
augmented and moved to the device) and for training end to end (each epoch: training and
validation), and the ratios. The folder is written once, under the temp directory.

    python bench/image_pipeline.py [--model cifar|light] [--epochs 3] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FOLDER = Path(tempfile.gettempdir()) / "specdl-bench-png10k"
MEAN, STD = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]

# The model on both sides: the spec's layers, and the same network written by hand.
# "cifar": the article's SmallCNN; "light": one strided convolution, a model whose step
# costs less than decoding its images (as a GPU makes most small models), where the data
# pipeline is what training waits for.
MODELS = {
    "cifar": ("""    - conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
    - relu
    - maxpool2d: 2
    - conv2d: {out_channels: 32, kernel_size: 3, padding: 1}
    - relu
    - maxpool2d: 2
    - flatten
    - linear: 10
""", lambda nn: nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(32 * 8 * 8, 10))),
    "light": ("""    - conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
    - relu
    - maxpool2d: 2
    - flatten
    - linear: 10
""", lambda nn: nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(8 * 8 * 8, 10))),
}

SPEC = """name: bench-images
seed: 0
data:
  source: image_folder
  root: {root}
  split: {{val: 0.1, test: 0.1, stratify: true}}
  augment: [random_horizontal_flip, {{random_crop: {{size: 32, padding: 4}}}}]
  transforms: [to_tensor, {{normalize: {{mean: {mean}, std: {std}}}}}]
model:
  layers:
{layers}loss: cross_entropy
optimizer: {{adam: {{lr: 1.0e-3}}}}
train: {{epochs: {epochs}, batch_size: {batch}, device: {device}, threads: {threads}}}
metrics: [accuracy]
"""


def write_folder(n: int = 10_000, classes: int = 10) -> Path:
    """10 classes of 32x32 RGB PNGs: a class colour and stripe frequency, plus noise."""
    if (FOLDER / "DONE").exists():
        return FOLDER
    from PIL import Image

    rng = np.random.default_rng(0)
    xx = np.arange(32)[None, :]
    for i in range(n):
        k = i % classes
        base = np.sin(xx * (k + 1) * 0.3)[..., None] * 60 + np.array([20 * k, 255 - 20 * k, 128])
        img = np.clip(base + rng.normal(0, 30, (32, 32, 3)), 0, 255).astype(np.uint8)
        (FOLDER / f"c{k}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(FOLDER / f"c{k}" / f"{i:05d}.png")
    (FOLDER / "DONE").write_text("")
    return FOLDER


def settings(spec: Path, device: str) -> dict:
    """The torch settings specdl picks for the spec (threads, oneDNN, channels-last), which
    the hand-written side uses too (as bench/hand.py does): the two sides then differ in
    the data pipeline only."""
    import torch

    import specdl
    from specdl.front.plan import plan

    p = plan(specdl.check(spec), device)
    return {"threads": p.threads or torch.get_num_threads(), "onednn": p.onednn if device == "cpu" else True,
            "channels_last": p.channels_last}


def hand_written(epochs: int, batch: int, workers: int, device: str, use: dict, train: bool = True) -> list[float]:
    """The pipeline a person writes: ImageFolder + DataLoader; samples/s per epoch (``train``
    False: the data pipeline alone, each batch read and moved to the device)."""
    import torch

    torch.set_num_threads(use["threads"])
    torch.backends.mkldnn.enabled = use["onednn"]
    torch.backends.nnpack.set_flags(use["onednn"])
    from sklearn.model_selection import train_test_split
    from torch import nn
    from torch.utils.data import DataLoader, Subset
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import v2

    torch.manual_seed(0)
    train_tf = v2.Compose([v2.ToImage(), v2.RandomHorizontalFlip(), v2.RandomCrop(32, padding=4),
                           v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])
    eval_tf = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])
    full_train, full_eval = ImageFolder(str(FOLDER), train_tf), ImageFolder(str(FOLDER), eval_tf)
    y = np.array(full_train.targets)
    rest, _ = train_test_split(np.arange(len(y)), test_size=0.1, random_state=0, stratify=y)
    tr, va = train_test_split(rest, test_size=0.1 / 0.9, random_state=0, stratify=y[rest])
    kw = {"num_workers": workers, "persistent_workers": workers > 0}
    loader = DataLoader(Subset(full_train, tr), batch_size=batch, shuffle=True, **kw)
    val = DataLoader(Subset(full_eval, va), batch_size=512, **kw)
    model = MODELS[use["model"]][1](nn).to(device)
    if use["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    opt, loss_fn = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True), nn.CrossEntropyLoss()
    rates = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            if not train:
                continue
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            for xb, yb in val if train else ():
                loss_fn(model(xb.to(device)), yb.to(device))
        rates.append(len(tr) / (time.perf_counter() - start))
    return rates


def specdl_pipeline(epochs: int, batch: int, device: str, use: dict) -> list[float]:
    """specdl's data path alone, as build runs it: the uint8 cache, batches sliced from it,
    the batched flip and crop, then float and normalize; samples/s per epoch."""
    import functools

    import torch
    from torchvision.transforms import v2

    from specdl.runtime import images

    torch.set_num_threads(use["threads"])
    x, y = images.image_folder(str(FOLDER), v2.Compose([v2.ToImage()]))
    rows, y = torch.arange(int(len(y) * 0.8)), torch.as_tensor(y)
    augment = [functools.partial(images.random_flip, p=0.5, dim=-1),
               functools.partial(images.random_crop, size=[32, 32], padding=4)]
    post = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])
    gen, rates = torch.Generator().manual_seed(0), []
    for _ in range(epochs):
        start = time.perf_counter()
        for _ in images.image_batches(x, rows, y, batch, gen, torch.device(device), augment, post):
            pass
        rates.append(len(rows) / (time.perf_counter() - start))
    return rates


def specdl_build(spec: Path, work: Path) -> tuple[list[float], dict]:
    """`specdl build` of the same spec; samples/s per epoch (from metrics.jsonl's time_s)
    and its report (setup_s: until training started, decoding the cache on a first run)."""
    run = work / f"run-{time.time_ns()}"
    r = subprocess.run([sys.executable, "-m", "specdl", "build", str(spec), "--out", str(run), "-q"],
                       capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    if r.returncode:
        raise SystemExit(r.stderr)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    report = json.loads((run / "report.json").read_text())
    n_train = report["samples"]["train"]
    return [n_train / row["time_s"] for row in rows], report


def main(argv=None):
    import torch

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--model", choices=sorted(MODELS), default="cifar", help="the network on both sides (MODELS)")
    p.add_argument("--threads", type=lambda v: v if v == "auto" else int(v), default="auto",
                   help="train.threads of the spec (auto: specdl's policy); the hand-written side uses the same")
    args = p.parse_args(argv)
    write_folder()
    work = Path(tempfile.mkdtemp())
    spec = work / "bench_images.yaml"
    spec.write_text(SPEC.format(root=FOLDER, mean=MEAN, std=STD, epochs=args.epochs, batch=args.batch,
                                device=args.device, threads=args.threads, layers=MODELS[args.model][0]))
    use = {**settings(spec, args.device), "model": args.model}
    print(f"folder: {FOLDER} (10,000 32x32 PNGs, 10 classes); torch {torch.__version__} (default "
          f"{torch.get_num_threads()} intra-op threads); both sides: {use}; device {args.device}; batch {args.batch}")
    for what, train in (("the data pipeline alone", False), ("training end to end (model included)", True)):
        steady = {}
        for workers in (0, 2):
            rates = hand_written(args.epochs, args.batch, workers, args.device, use, train)
            steady[f"ImageFolder + DataLoader, num_workers={workers}"] = statistics.median(rates[1:])
        if train:
            rates, report = specdl_build(spec, work)
            ours = f"specdl build ({report['threads']} thread(s), setup {report['setup_s']:.1f}s)"
        else:
            rates, ours = specdl_pipeline(args.epochs, args.batch, args.device, use), "specdl's runtime"
        steady[ours] = statistics.median(rates[1:])
        print(f"-- {what}: samples/s, median of epochs 2..{args.epochs}")
        for name, rate in steady.items():
            print(f"   {name:48s} {rate:10,.0f}")
        best = max(v for k, v in steady.items() if k.startswith("ImageFolder"))
        print(f"   ratio specdl / the better hand-written: {steady[ours] / best:.1f}x")

if __name__ == "__main__":
    main()
