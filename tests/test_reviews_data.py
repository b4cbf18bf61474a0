"""`specdl example-data`'s reviews.csv (issue 29 part B item 5): 3,000 seeded rows whose
four inputs (text, movie, runtime + year, poster) are independent fair signals of the
label (at least 3 of 4), so that no input alone suffices: the figures are recomputed
here from the columns, not taken from the generator."""

from __future__ import annotations

import csv
import io
import time

import numpy as np

import specdl
from specdl.build.examples import NEGATIVE, POSITIVE, POSTERS, reviews_csv


def test_reviews_are_seeded_fast_and_each_input_a_fair_signal(tmp_path):
    start = time.perf_counter()
    data = reviews_csv()
    assert time.perf_counter() - start < 3.0
    assert data == reviews_csv() and data != reviews_csv(seed=1)
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert len(rows) == 3000 and list(rows[0]) == ["text", "movie", "runtime", "year", "poster", "label", "rating"]
    words = [set(r["text"].lower().replace("!", " ").replace(".", " ").split()) for r in rows]
    assert all(len(w & set(POSITIVE)) + len(w & set(NEGATIVE)) == 1 for w in words)
    text = np.array([bool(w & set(POSITIVE)) for w in words])
    movie = np.array([int(r["movie"].split("_")[1]) < 20 for r in rows])
    total = np.array([int(r["runtime"]) + int(r["year"]) for r in rows])
    numbers = total > np.median(total)
    poster = np.array([int(r["poster"][8:10]) < POSTERS // 2 for r in rows])
    label = np.array([int(r["label"]) for r in rows])
    signals = np.stack([text, movie, numbers, poster])
    assert (label == (signals.sum(0) >= 3)).all()
    assert (np.abs(signals.mean(1) - 0.5) < 0.05).all()
    for left_out in range(4):  # the best guess from the other three is right 13 times in 16
        rest = np.delete(signals, left_out, axis=0).sum(0)
        sure = rest != 2  # 3 of the others tell 1, at most 1 tells 0; 2 leave a coin toss
        assert ((rest >= 3) == label)[sure].all()
        p = label[~sure].mean()
        assert abs(sure.mean() + (~sure).mean() * max(p, 1 - p) - 0.8125) < 0.03
    ratings = np.array([int(r["rating"]) for r in rows])
    assert set(ratings) <= {1, 2, 3, 4, 5} and np.corrcoef(ratings, signals.sum(0))[0, 1] > 0.7


def test_a_text_and_movie_spec_checks_on_the_reviews(tmp_path, monkeypatch):
    (tmp_path / "reviews.csv").write_bytes(reviews_csv())
    monkeypatch.chdir(tmp_path)
    spec = {"data": {"source": "csv", "path": "reviews.csv", "target": "label", "task": "classification",
                     "inputs": {"review": {"text": "text"}, "movie": {"categorical": "movie"}}},
            "model": {"layers": [{"embedding": {"embedding_dim": 8, "inputs": ["review"], "padding_idx": 0}},
                                 {"sequence_pool": {"inputs": ["embedding_0", "review"], "name": "r"}},
                                 {"embedding": {"embedding_dim": 4, "inputs": ["movie"], "name": "m"}},
                                 {"concat": {"inputs": ["r", "m"]}}, {"linear": 2}]}}
    info = {i.name: i for i in specdl.check(spec).data.inputs}
    assert info["movie"].max_token == 40  # 40 movies (all seen in train) + the unseen index 0
    assert info["review"].feat[0] % 8 == 0 and info["review"].max_token + 1 == 2 + len(POSITIVE + NEGATIVE) + 25 + 2  # <pad>, <unk>, words, "." and "!"
