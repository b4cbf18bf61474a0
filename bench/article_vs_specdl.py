"""specdl build vs the source article's loops, side by side in one process.

    python bench/article_vs_specdl.py [--reps 3] [--json bench/results/article.json]

For each bundled tabular spec it alternates the two runs `--reps` times at equal
epochs and prints the median training-loop wall time of each, their ratio
(article / specdl: above 1 means specdl is faster) and both test metrics. The
article's loop runs as written: DataLoader over a TensorDataset and torch's
default intra-op threads; specdl applies its own choices (in-memory batching,
thread policy) and also validates every epoch, which the article's loop does not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from article_loops import PROGRAMS  # noqa: E402

import specdl  # noqa: E402


def run(reps: int, names) -> list[dict]:
    default_threads = torch.get_num_threads()
    rows = []
    for name in names:
        spec = specdl.load(ROOT / "specs" / f"{name}.yaml")
        epochs = spec.train.epochs
        a_times, s_times, a_metrics, s_metrics = [], [], {}, {}
        for _ in range(reps):
            torch.set_num_threads(default_threads)
            secs, a_metrics = PROGRAMS[name](epochs, seed=spec.seed)
            a_times.append(secs)
            with tempfile.TemporaryDirectory() as d:
                result = specdl.train(spec, out=Path(d) / "run")
                report = json.loads((result.run_dir / "report.json").read_text())
            s_times.append(report["train_time_s"])
            s_metrics = {k: v for k, v in result.metrics.items() if k in a_metrics}
        a, s = statistics.median(a_times), statistics.median(s_times)
        rows.append({"case": name, "epochs": epochs, "article_s": round(a, 3), "specdl_s": round(s, 3),
                     "ratio": round(a / s, 2), "article_test": a_metrics, "specdl_test": s_metrics,
                     "article_threads": default_threads, "specdl_threads": report["threads"]})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("cases", nargs="*", default=list(PROGRAMS))
    args = p.parse_args(argv)
    rows = run(args.reps, args.cases)
    print(f"{'case':14} {'epochs':>6} {'article s':>10} {'specdl s':>9} {'ratio':>6}  test (article | specdl)")
    for r in rows:
        fmt = lambda m: ", ".join(f"{k} {v:.3f}" for k, v in m.items())  # noqa: E731
        print(f"{r['case']:14} {r['epochs']:>6} {r['article_s']:>10.2f} {r['specdl_s']:>9.2f} "
              f"{r['ratio']:>5.2f}x  {fmt(r['article_test'])} | {fmt(r['specdl_test'])}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
