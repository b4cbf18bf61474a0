"""Tokenizing throughput of specdl's text preprocessing (spec 12.2; issue 29 "Speed"):
the vocabulary fitted on the train split plus the encoding of every split, as build does it
(runtime/csv_inputs.py's fit_text, with `length: auto`), against a stdlib reference
written here (re.findall + Counter + dict lookups, each text tokenized once a split),
side by side in one process, alternating. The corpus: the Rotten Tomatoes snippets
(bench/rt_corpus.py) repeated and shuffled to 128,080 rows, split 70/10/20. Tokens are
all the tokens before truncation. Also `specdl check` of bench/specs/rt_multi.yaml
against the same spec with no text input (a subprocess each, alternating).

    python bench/text_speed.py [--reps 5] [--check-reps 5]

Targets: >= 1.5 M tokens/s, >= 0.8x the reference; check at most 0.5 s above."""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from rt_corpus import corpus  # noqa: E402

from specdl.runtime.csv_inputs import fit_text  # noqa: E402

WORD = re.compile(r"\w+|[^\w\s]")


def reference_vocabulary(texts, min_freq=1):
    """The reference: a Counter of re.findall over the lowercased texts, ordered as 12.2 says."""
    counts = Counter()
    for text in texts:
        counts.update(WORD.findall(text.lower()))
    kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
    return {t: i for i, t in enumerate(kept, start=2)}


def reference_encode(texts, index, length):
    """[N, length] int64 ids by dict lookups (unknown 1, padding 0, the first tokens kept)."""
    out = np.zeros((len(texts), length), dtype=np.int64)
    for i, text in enumerate(texts):
        ids = [index.get(t, 1) for t in WORD.findall(text.lower())[:length]]
        out[i, :len(ids)] = ids
    return out


def reference(splits, min_freq=2):
    """The reference's fit and encode (train tokenized once for counts and lengths, once to encode)."""
    counts = Counter()
    lengths = []
    for text in splits["train"]:
        tokens = WORD.findall(text.lower())
        counts.update(tokens)
        lengths.append(len(tokens))
    kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
    index = {t: i for i, t in enumerate(kept, start=2)}
    lengths.sort()
    length = min(512, max(8, -(-lengths[max(0, math.ceil(0.95 * len(lengths)) - 1)] // 8) * 8))
    return {k: reference_encode(v, index, length) for k, v in splits.items()}


def specdl_fit(splits, min_freq=2):
    """Build's path: runtime/csv_inputs.py's fit_text with `length: auto`."""
    how = {"tokenizer": "words", "lowercase": True, "max_tokens": None, "min_freq": min_freq,
           "length": "auto", "truncate": "end"}
    return fit_text(splits, how)[0]


def big_corpus(rows=128_080, seed=0):
    """The RT texts repeated and shuffled to ``rows`` rows, split 70/10/20 (in order)."""
    import csv

    with open(corpus(), newline="", encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    texts = (texts * -(-rows // len(texts)))[:rows]
    random.Random(seed).shuffle(texts)
    a, b = int(0.7 * rows), int(0.8 * rows)
    return {"train": texts[:a], "val": texts[a:b], "test": texts[b:]}


def throughput(splits, reps):
    """Seconds of specdl and of the reference, alternating, wall and CPU (the process's, less
    moved by other processes on a shared machine): name -> {"wall": [...], "cpu": [...]}; ids compared."""
    times = {name: {"wall": [], "cpu": []} for name in ("specdl", "reference")}
    for _ in range(reps):
        for name, fn in (("specdl", specdl_fit), ("reference", reference)):
            start, cpu = time.perf_counter(), time.process_time()
            ids = fn(splits)
            times[name]["wall"].append(time.perf_counter() - start)
            times[name]["cpu"].append(time.process_time() - cpu)
            assert sum(a.size for a in ids.values()) > 0
    mine, ref = specdl_fit(splits), reference(splits)
    assert all(np.array_equal(mine[k], ref[k]) for k in splits), "specdl's ids differ from the reference's"
    return times


def no_text_spec(path: Path) -> Path:
    """rt_multi.yaml with its text input and the layers on it left out (movie alone)."""
    lines = path.read_text().splitlines()
    drop = ("review:", "embedding_dim: 64", "sequence_pool", "concat")
    kept = [x for x in lines if not any(d in x for d in drop)]
    out = path.parent.parent / "data" / "rt" / "rt_movie_only.yaml"
    out.write_text("\n".join(kept) + "\n")
    return out


def check_seconds(reps):
    """Median seconds of `specdl check` (a subprocess) of rt_multi and of its no-text twin,
    alternating: name -> (wall, the child's CPU: user + system)."""
    import resource

    specs = {"rt_multi": ROOT / "bench" / "specs" / "rt_multi.yaml"}
    specs["no text"] = no_text_spec(specs["rt_multi"])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = {k: ([], []) for k in specs}
    for _ in range(reps):
        for name, spec in specs.items():
            start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([sys.executable, "-m", "specdl", "check", str(spec)], cwd=ROOT, env=env,
                           check=True, capture_output=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            times[name][0].append(time.perf_counter() - start)
            times[name][1].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return {k: (statistics.median(w), statistics.median(c)) for k, (w, c) in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--check-reps", type=int, default=5)
    args = p.parse_args(argv)
    splits = big_corpus()
    tokens = sum(len(WORD.findall(t.lower())) for v in splits.values() for t in v)
    print(f"corpus: {sum(map(len, splits.values())):,} rows, {tokens:,} tokens; load {os.getloadavg()[0]:.2f}")
    times = throughput(splits, args.reps)
    for name, t in times.items():
        wall, cpu = statistics.median(t["wall"]), statistics.median(t["cpu"])
        print(f"{name:10} median {wall:6.3f} s = {tokens / wall / 1e6:4.2f} M tokens/s; best {min(t['wall']):6.3f} s = "
              f"{tokens / min(t['wall']) / 1e6:4.2f}; CPU median {cpu:6.3f} s = {tokens / cpu / 1e6:4.2f}")
    ratio = {k: statistics.median(times["reference"][k]) / statistics.median(times["specdl"][k]) for k in ("wall", "cpu")}
    print(f"specdl / reference speed: {ratio['wall']:.2f}x (wall), {ratio['cpu']:.2f}x (CPU); ids identical")
    if args.check_reps:
        checks = check_seconds(args.check_reps)
        (w1, c1), (w0, c0) = checks["rt_multi"], checks["no text"]
        print(f"specdl check: rt_multi {w1:.2f} s (CPU {c1:.2f}), no text input {w0:.2f} s (CPU {c0:.2f}); "
              f"difference {w1 - w0:+.2f} s (CPU {c1 - c0:+.2f} s)")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")

if __name__ == "__main__":
    main()
