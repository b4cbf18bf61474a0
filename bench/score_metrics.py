"""The per-epoch cost of a monitored score metric (issue 28): specs/digits_cnn.yaml trained
side by side with `checkpoint.monitor: val_roc_auc` (the metric computed every epoch, in
NumPy: runtime/metrics.py's epoch_score) and with `val_loss` (no score metric per epoch),
alternating, in one process with the same thread count. Also the metric's own cost on the
validation split, NumPy against scikit-learn's roc_auc_score call (what a per-epoch
scikit-learn path would cost).

    python bench/score_metrics.py [--epochs 10] [--repeats 3] [--threads 2]

Prints ms per epoch of each arm, the difference in ms and in % of an epoch, and the
metric's ms; aim: the monitored roc_auc costs <= 5% of an epoch."""

from __future__ import annotations

import argparse
import statistics
import timeit
from pathlib import Path

import numpy as np
import torch

import specdl
from specdl.components.base import REGISTRY
from specdl.runtime import loop, metrics

ROOT = Path(__file__).resolve().parent.parent


def epoch_ms(monitor: str, epochs: int, threads: int, out: Path) -> float:
    """Mean ms of the epochs after the first (train and validation: metrics.jsonl's time_s)."""
    import json

    spec = specdl.load(ROOT / "specs" / "digits_cnn.yaml",
                       [f"train.epochs={epochs}", "train.device=cpu", f"train.threads={threads}",
                        "metrics=[accuracy, roc_auc]", f"train.checkpoint.monitor={monitor}"])
    _, run = specdl.train(spec, out=out, force=True)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert (monitor == "val_roc_auc") == ("val_roc_auc" in rows[-1])
    return 1000 * statistics.mean(r["time_s"] for r in rows[1:])


def metric_ms(threads: int) -> tuple[float, float, float]:
    """ms of one roc_auc on a digits-sized validation split (180 rows, 10 classes): NumPy,
    scikit-learn, and their largest difference."""
    rng = np.random.default_rng(0)
    y, out = np.arange(180) % 10, torch.as_tensor(rng.normal(size=(180, 10)))
    pred = loop.scored_predictions(out, "exp", "classification")
    fn = REGISTRY["metric"]["roc_auc"]().function("classification", 10)
    fast = metrics.epoch_score("roc_auc", fn)
    n = 200
    t_np = min(timeit.repeat(lambda: fast(y, pred), number=n, repeat=3)) / n * 1000
    t_sk = min(timeit.repeat(lambda: fn(y, pred), number=n, repeat=3)) / n * 1000
    return t_np, t_sk, abs(fast(y, pred) - fn(y, pred))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/specdl-bench-scores"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    arms = {"val_loss": [], "val_roc_auc": []}
    for i in range(args.repeats):  # alternating: the machine's drift falls on both arms
        for monitor in arms:
            arms[monitor].append(epoch_ms(monitor, args.epochs, args.threads, args.out / f"{monitor}-{i}"))
    plain, scored = (statistics.median(arms[k]) for k in arms)
    t_np, t_sk, diff = metric_ms(args.threads)
    print(f"digits_cnn, {args.epochs} epochs x {args.repeats} runs per arm, {args.threads} threads "
          f"({torch.get_num_threads()} torch threads)")
    print(f"epoch, monitor val_loss:    {plain:8.2f} ms  (runs: {', '.join(f'{v:.2f}' for v in arms['val_loss'])})")
    print(f"epoch, monitor val_roc_auc: {scored:8.2f} ms  (runs: {', '.join(f'{v:.2f}' for v in arms['val_roc_auc'])})")
    print(f"difference: {scored - plain:+.2f} ms = {100 * (scored - plain) / plain:+.1f}% of an epoch")
    print(f"roc_auc on the val split (180 rows, 10 classes): NumPy {t_np:.3f} ms = {100 * t_np / plain:.1f}% of an "
          f"epoch; scikit-learn {t_sk:.3f} ms = {100 * t_sk / plain:.1f}%; |difference| {diff:.1e}")


if __name__ == "__main__":
    main()
