"""Search on the diabetes spec (its `search` section: learning rate, width, weight decay),
measured in one run on this machine.

    python bench/tune.py [--trials 30] [--json bench/results/tune.json]

Prints:
* the bundled spec's test R^2 (specdl build, seed 0) and the best trial's (the 30-trial
  search with the median pruner; best.yaml rebuilds it to the same figures);
* the epochs run by that search against the same search without pruning (pruner: none):
  the share pruning saves;
* trials per minute with --jobs 1 and --jobs 2 (no pruning, so both do the same work),
  each trial with cores/jobs intra-op threads.

    python bench/tune.py --seeds 1,2,3,4,5

instead repeats "bundled spec vs best trial" with other seeds (`-o seed=S`: another
train/val/test split and other initial weights), to see whether one split's test R^2 ranks
the two specs or its noise does.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "diabetes_mlp.yaml"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def specdl(*args, cwd) -> float:
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "specdl", *map(str, args)], cwd=cwd, env=ENV,
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"specdl {' '.join(map(str, args))} failed:\n{r.stderr}")
    return time.perf_counter() - start


def trials(tdir: Path) -> list[dict]:
    with open(tdir / "trials.csv") as f:
        return list(csv.DictReader(f))


def best_trial(rows: list[dict]) -> dict:
    """The complete trial with the lowest value (val_loss) in trials.csv's rows."""
    return min((r for r in rows if r["state"] == "complete"), key=lambda r: float(r["value"]))


def search(work: Path, name: str, n: int, jobs: int, pruner: str) -> dict:
    tdir = work / name
    seconds = specdl("tune", SPEC, "--trials", n, "--jobs", jobs, "-o", f"search.pruner={pruner}",
                     "--out", tdir, "-q", cwd=work)
    rows = trials(tdir)
    best = best_trial(rows)
    return {"seconds": seconds, "epochs": sum(int(r["epochs"]) for r in rows),
            "states": {s: sum(r["state"] == s for r in rows) for s in ("complete", "pruned", "fail")},
            "best_trial": int(best["trial"]), "best_val_loss": float(best["value"]),
            "best_test_r2": float(best["test_r2"]),
            "best_params": {k: best[k] for k in best if k.startswith(("optimizer", "model"))},
            "trials_per_min": len(rows) / seconds * 60}


def across_seeds(seeds: list[int], n: int) -> list[dict]:
    """Bundled spec vs the best trial of an n-trial search, each seed its own split."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for seed in seeds:
            specdl("build", SPEC, "-o", f"seed={seed}", "--out", work / f"b{seed}", "-q", cwd=work)
            bundled = json.loads((work / f"b{seed}" / "report.json").read_text())["test"]["r2"]
            specdl("tune", SPEC, "--trials", n, "-o", f"seed={seed}", "--out", work / f"t{seed}", "-q", cwd=work)
            best = best_trial(trials(work / f"t{seed}"))
            rows.append({"seed": seed, "bundled_test_r2": bundled, "best_test_r2": float(best["test_r2"])})
            print(f"  seed {seed}: bundled {bundled:.4f}  best trial {rows[-1]['best_test_r2']:.4f}", flush=True)
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("bundled_test_r2", "best_test_r2")}
    wins = sum(r["best_test_r2"] >= r["bundled_test_r2"] for r in rows)
    print(f"  mean: bundled {mean['bundled_test_r2']:.4f}  best trial {mean['best_test_r2']:.4f}  "
          f"(best trial >= bundled on {wins} of {len(rows)} seeds)")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--seeds", help="comma-separated seeds: bundled vs best trial on each")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.seeds:
        rows = across_seeds([int(s) for s in args.seeds.split(",")], args.trials)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
        return
    out = {"cores": os.cpu_count(), "trials": args.trials}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        specdl("build", SPEC, "--out", work / "bundled", "-q", cwd=work)
        out["bundled_test_r2"] = json.loads((work / "bundled" / "report.json").read_text())["test"]["r2"]
        out["median"] = search(work, "median", args.trials, 1, "median")
        out["none"] = search(work, "none", args.trials, 1, "none")
        out["none_jobs2"] = search(work, "none2", args.trials, 2, "none")
    m, n, n2 = out["median"], out["none"], out["none_jobs2"]
    print(f"diabetes, {args.trials} trials, {os.cpu_count()} cores")
    print(f"  bundled spec test R^2            {out['bundled_test_r2']:.4f}")
    print(f"  best trial (median pruner) R^2   {m['best_test_r2']:.4f}  trial {m['best_trial']}  {m['best_params']}")
    print(f"  best trial (no pruning) R^2      {n['best_test_r2']:.4f}  trial {n['best_trial']}")
    print(f"  epochs run: median {m['epochs']} vs none {n['epochs']}: pruning saves "
          f"{1 - m['epochs'] / n['epochs']:.0%} ({m['states']})")
    print(f"  trials/min: --jobs 1 {n['trials_per_min']:.1f}, --jobs 2 {n2['trials_per_min']:.1f} "
          f"(x{n2['trials_per_min'] / n['trials_per_min']:.2f}; no pruning, {n['seconds']:.0f} s vs {n2['seconds']:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
