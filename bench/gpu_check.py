"""GPU check: the digits and CIFAR-style specs with `device: cuda`, bf16 and
torch.compile, side by side with fp32 eager; prints throughput (training samples per
second) and the ratios. Under 5 minutes on one GPU.

    python bench/gpu_check.py                 # on a CUDA machine
    python bench/gpu_check.py --device cpu    # the same script on the CPU
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import specdl  # noqa: E402

SETUPS = {"fp32 eager": [], "bf16 eager": ["train.precision=bf16"],
          "bf16 compile": ["train.precision=bf16", "train.compile=true"]}
CASES = {"digits_cnn": ["train.epochs=8", "train.batch_size=256"],
         "cifar_cnn": ["train.epochs=3", "train.batch_size=64"]}  # workers: auto


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cuda")
    args = p.parse_args(argv)
    from conftest_data import ensure

    ensure()
    rows = []
    for case, over in CASES.items():
        base = None
        for name, extra in SETUPS.items():
            with tempfile.TemporaryDirectory() as d:
                r = specdl.train(ROOT / "specs" / f"{case}.yaml", out=Path(d) / "r",
                                 overrides=[f"train.device={args.device}", *over, *extra])
                rep = json.loads((r.run_dir / "report.json").read_text())
            epochs = rep["epochs_run"]
            sps = rep["samples"]["train"] * epochs / rep["train_time_s"]
            base = base or sps
            rows.append((case, name, rep["device"], round(sps), round(sps / base, 2),
                         round(r.metrics["accuracy"], 4)))
            print(f"{case:12} {name:13} {rep['device']:8} {sps:10.0f} samples/s  x{sps / base:5.2f}  "
                  f"test accuracy {r.metrics['accuracy']:.4f}", flush=True)
    return rows


if __name__ == "__main__":
    main()
