"""Would a cross-validated ranking make the diabetes search pick better specs? An
experiment, not a feature: it shows why `specdl tune` ranks trials by one validation split.

    python bench/tune_ranking.py [--seeds 0,1,2,3,4,5] [--configs 30] [--draws 5] [--jobs 2]
    python bench/tune_ranking.py --seeds 0,1,2,3,4,5,6,7,8,9,10,11 --draws 1

For each seed (its own train/val/test split and initial weights), it trains the bundled
diabetes spec and `--configs` random settings of its search space (learning rate
log-uniform 1e-4..1e-2, first width 8..64 step 4, weight decay log-uniform 1e-5..1e-1),
each `--draws` times: draw 0 is the spec's own split; draw k keeps the test rows and draws
the validation rows again from the rest (seed + 1000 k), as a cross-validated search
would. It then picks one setting three ways and prints the test R^2 of the spec it would
hand back (the draw-0 run, which best.yaml rebuilds):

* holdout: the lowest validation loss on draw 0 (what `specdl tune` does);
* cv: the lowest mean validation loss over the draws;
* ma10, tail30: draw 0's validation curve smoothed (the lowest mean over 10 consecutive
  epochs; the mean of the last 30), against the noise of one epoch's 45 rows;
* oracle: the highest test R^2 (which a search must not look at).

The split is changed by replacing ``specdl.sources.base.split_rows`` (what split_indices calls) in this process only.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SPEC = str(ROOT / "specs" / "diabetes_mlp.yaml")


def configs(n: int) -> list[tuple]:
    rng = np.random.default_rng(123)
    drawn = [(float(10 ** rng.uniform(-4, -2)), int(rng.choice(range(8, 65, 4))), float(10 ** rng.uniform(-5, -1)))
             for _ in range(n)]
    return [(3e-4, 20, 0.01)] + drawn  # the bundled spec's values first


def run(job) -> dict:
    """One setting on one seed, trained on each draw of the validation rows."""
    seed, i, (lr, width, wd), draws = job
    import torch
    from sklearn.model_selection import train_test_split

    sys.path.insert(0, str(ROOT))
    import specdl.sources.base as splits
    from specdl.build.run import fit
    from specdl.front import check

    torch.set_num_threads(1)
    draw = {"k": 0}

    def split_rows(y, val, test, seed, stratify):
        rest, test_rows = train_test_split(np.arange(len(y)), test_size=test, random_state=seed)
        train, val_rows = train_test_split(rest, test_size=val / (1 - test), random_state=seed + 1000 * draw["k"])
        return {"train": train, "val": val_rows, "test": test_rows}

    splits.split_rows = split_rows
    out = {"seed": seed, "i": i, "val": [], "test": [], "curve": []}
    for k in range(draws):
        draw["k"] = k
        seen = {}
        a = check(SPEC, [f"seed={seed}", f"optimizer.adamw.lr={lr}", f"model.layers.0.linear={width}",
                         f"optimizer.adamw.weight_decay={wd}"], search=False)
        r = fit(a, out=None, progress=False, on_epoch=lambda e, row, seen=seen: seen.__setitem__(e, row["val_loss"]))
        out["val"].append(seen[r.best_epoch])
        out["curve"].append([seen[e] for e in sorted(seen)])
        out["test"].append(r.metrics["r2"])
    return out


def smoothed(curve: list, width: int) -> float:
    """The lowest mean validation loss over `width` consecutive epochs."""
    return float(np.convolve(curve, np.ones(width) / width, mode="valid").min()) if len(curve) >= width else min(curve)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2,3,4,5")
    ap.add_argument("--configs", type=int, default=30)
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    cfgs = configs(args.configs)
    jobs = [(s, i, c, args.draws) for s in seeds for i, c in enumerate(cfgs)]
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        rows = pool.map(run, jobs)
    print(f"diabetes: bundled spec + {args.configs} settings, {args.draws} validation draws, 1 thread each")
    print("seed  bundled  holdout  cv       ma10     tail30   oracle")
    table = []
    for seed in seeds:
        rs = [r for r in rows if r["seed"] == seed]
        pick = {"holdout": min(rs, key=lambda r: r["val"][0]), "cv": min(rs, key=lambda r: np.mean(r["val"])),
                "ma10": min(rs, key=lambda r: smoothed(r["curve"][0], 10)),
                "tail30": min(rs, key=lambda r: np.mean(r["curve"][0][-30:])),
                "oracle": max(rs, key=lambda r: r["test"][0])}
        table.append([rs[0]["test"][0]] + [pick[k]["test"][0] for k in pick])
        print(f"{seed:<5} " + "  ".join(f"{v:.4f} " for v in table[-1]))
    print("mean  " + "  ".join(f"{v:.4f} " for v in np.mean(table, axis=0)))
    if args.json:
        Path(args.json).write_text(json.dumps(rows) + "\n")


if __name__ == "__main__":
    main()
