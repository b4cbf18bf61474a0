"""check's inferred input width for a CSV with categorical columns equals build's:
the one-hot width depends on which categories the train split holds, and the split is
drawn with the spec's seed (and stratified or not as the spec says)."""

from __future__ import annotations

import csv

import pytest

import specdl
from specdl.build.data import prepare

SPEC = """
seed: {seed}
data:
  source: csv
  path: rare.csv
  target: label
  features: [x, city]
  categorical: [city]
  split: {{val: 0.2, test: 0.3, stratify: {stratify}}}
model: {{layers: [{{linear: 2}}]}}
optimizer: {{sgd: {{lr: 0.1}}}}
train: {{epochs: 1, device: cpu}}
"""


def write_rare(path):
    """40 rows; the city `rare` appears twice, so some seeds leave it out of train."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x", "city", "label"])
        for i in range(40):
            city = "rare" if i in (7, 23) else ("paris", "lyon")[i % 2]
            w.writerow([i / 10, city, "a" if i % 3 else "b"])


@pytest.mark.parametrize("stratify", ["true", "false"])
def test_check_width_equals_build_width_for_every_seed(tmp_path, stratify):
    write_rare(tmp_path / "rare.csv")
    widths = set()
    for seed in range(8):
        p = tmp_path / f"s{seed}.yaml"
        p.write_text(SPEC.format(seed=seed, stratify=stratify))
        a = specdl.check(p)
        built = prepare(a.spec, a).x["train"].shape[1]
        assert a.graph.input.shape == ("N", built), f"seed {seed}"
        widths.add(built)
    assert widths == {3, 4}  # some seeds keep `rare` in train, some do not
