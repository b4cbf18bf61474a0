"""GPU check: the digits and CIFAR-style specs with `device: cuda`, bf16 and
torch.compile, side by side with fp32 eager; prints throughput (training samples per
second in the steady state: the median epoch after the first, which pays for
compilation) and the ratios. Under 5 minutes on one GPU.

    python bench/gpu_check.py                 # on a CUDA machine
    python bench/gpu_check.py --device cpu    # the same script on the CPU
"""

from __future__ import annotations

import argparse
import json
import statistics
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
    p.add_argument("--json", type=Path, help="also write the rows here")
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
                epochs = [json.loads(x) for x in (r.run_dir / "metrics.jsonl").read_text().splitlines()]
            # steady state: the median epoch after the first (which pays for compilation)
            steady = statistics.median(e["time_s"] for e in epochs[1:])
            sps = rep["samples"]["train"] / steady
            base = base or sps
            row = {"case": case, "setup": name, "device": rep["device"], "samples_per_s": round(sps),
                   "ratio": round(sps / base, 2), "first_epoch_s": epochs[0]["time_s"],
                   "test_accuracy": round(r.metrics["accuracy"], 4)}
            rows.append(row)
            print(f"{case:12} {name:13} {rep['device']:8} {sps:10.0f} samples/s  x{sps / base:5.2f}  "
                  f"first epoch {epochs[0]['time_s']:6.2f} s  test accuracy {r.metrics['accuracy']:.4f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
