"""What the data checks of issue 26 cost: `specdl check` of a 100 MB CSV (written once
under the temp directory: 1.25 M rows, 9 numeric columns, 2 categorical, a yes/no target),
as a classification with categories and as a regression on numeric columns; and the
image cache on the 10,000-image folder of bench/image_pipeline.py: the cache key alone,
a first read (decode and write the cache) and an unchanged second read (a cache hit).

    python bench/data_checks.py [--tree PATH] [--reps 2] [--only csv|images]

``--tree``: the specdl source tree to time (default: this one), e.g. an older commit
checked out with ``git archive COMMIT | tar -x -C /tmp/before``, so that before and after
run with the same command.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TMP = Path(tempfile.gettempdir())
CSV = TMP / "specdl-bench-100mb.csv"
NUMERIC = ["tenure", "monthly_charge", "total", "a1", "a2", "a3", "a4", "a5", "a6"]
SPECS = {
    "classification, 2 categorical columns": f"""
data: {{source: csv, path: {CSV}, target: churn, categorical: [contract, region],
       transforms: [{{fill: mean}}, standardize]}}
model: {{layers: [{{linear: 16}}, relu, {{linear: 2}}]}}
""",
    "regression, numeric columns only": f"""
data: {{source: csv, path: {CSV}, target: total, features: [tenure, monthly_charge, a1, a2, a3, a4, a5, a6],
       transforms: [{{fill: mean}}, standardize]}}
model: {{layers: [{{linear: 16}}, relu, {{linear: 1}}]}}
""",
}


def write_csv(rows: int = 1_250_000) -> Path:
    if CSV.exists():
        return CSV
    rng = np.random.default_rng(0)
    tmp = CSV.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(",".join([*NUMERIC, "contract", "region", "churn"]) + "\n")
        for start in range(0, rows, 100_000):
            m = min(100_000, rows - start)
            num = rng.normal(size=(m, len(NUMERIC))) * 100
            cats = [rng.choice(c, m) for c in (["month", "year", "two_year"], ["n", "s", "e", "w"], ["yes", "no"])]
            f.writelines(",".join(f"{v:.3f}" for v in num[i]) + f",{cats[0][i]},{cats[1][i]},{cats[2][i]}\n"
                         for i in range(m))
    os.replace(tmp, CSV)
    return CSV


CHECK = """
import os, resource, sys
import specdl
from specdl.cli import main
print(os.path.dirname(specdl.__file__), file=sys.stderr)
_exit = os._exit  # the command line leaves by os._exit: report the peak memory on the way
os._exit = lambda code: (print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr), _exit(code))
main(["check", sys.argv[1]])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def time_check(tree: Path, name: str, text: str) -> tuple[float, float]:
    """Wall seconds and peak memory (MB) of `specdl check` in a fresh process."""
    spec = TMP / "specdl-bench-check.yaml"
    spec.write_text(text)
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", CHECK, str(spec)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(tree)}, cwd=TMP)  # not this tree
    wall = time.perf_counter() - t
    assert r.returncode == 0 and r.stderr.startswith(str(tree)), r.stderr
    return wall, int(r.stderr.split()[-1]) / 1024


IMAGES = """
import glob, os, sys, time
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2
from specdl.runtime import images
root, pre = sys.argv[1], v2.Compose([v2.ToImage()])
files = [p for p, _ in ImageFolder(root).samples]
for f in glob.glob(os.path.join(os.path.dirname(root), ".specdl-cache", os.path.basename(root) + "-*")):
    os.unlink(f)
keys = []
for _ in range(9):
    t = time.perf_counter(); images.cache_name(root, files, pre); keys.append(time.perf_counter() - t)
t = time.perf_counter(); images.image_folder(root, pre); first = time.perf_counter() - t
t = time.perf_counter(); images.image_folder(root, pre); second = time.perf_counter() - t
print(sorted(keys)[4], first, second)
"""


def time_images(tree: Path) -> list[float]:
    sys.path.insert(0, str(ROOT / "bench"))
    from image_pipeline import write_folder

    folder = write_folder()
    r = subprocess.run([sys.executable, "-c", IMAGES, str(folder)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(tree)}, cwd=TMP)  # not this tree
    assert r.returncode == 0, r.stderr
    return [float(v) for v in r.stdout.split()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, default=ROOT)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--only", choices=["csv", "images"])
    args = ap.parse_args(argv)
    tree = args.tree.resolve()
    if args.only != "images":
        path = write_csv()
        print(f"{path}: {path.stat().st_size / 1e6:.1f} MB")
        for name, text in SPECS.items():
            runs = [time_check(tree, name, text) for _ in range(args.reps)]
            print(f"specdl check, {name}: " + ", ".join(f"{w:.2f} s" for w, _ in runs) +
                  f" (peak {max(m for _, m in runs):,.0f} MB), load {os.getloadavg()[0]:.1f}")
    if args.only != "csv":
        for _ in range(args.reps):
            key, first, second = time_images(tree)
            print(f"image cache, 10,000 files: key {key:.3f} s (median of 9), first read {first:.2f} s, "
                  f"second read {second:.3f} s, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
