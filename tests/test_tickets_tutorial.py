"""docs/tutorial.md section 10: Keras' functional-API ticket example (a ticket's priority and
department from its title, body and tags) as a spec of several outputs. The tutorial's block
checks as written (tests/test_docs.py checks every block too); here each head is what Keras'
model has, a mistaken head is named with its target, and the CSV form the tutorial
describes checks on synthetic tickets written here."""

from __future__ import annotations

import copy
import csv
import re

import numpy as np
import yaml

import specdl

from .conftest import ROOT
from .test_named_inputs import errors

TAGS = [f"tag_{t}" for t in ("billing", "login", "bug", "ui", "api", "mobile", "export", "email", "sso", "speed",
                             "docs", "other")]


def ticket_spec() -> dict:
    """The tutorial's ticket spec (its `name: tickets` block)."""
    text = (ROOT / "docs" / "tutorial.md").read_text()
    return next(d for d in map(yaml.safe_load, re.findall(r"```yaml\n(.*?)```", text, re.S)) if d.get("name") == "tickets")


def test_the_tutorial_ticket_spec_has_keras_heads_and_weights():
    a = specdl.check(ticket_spec())
    assert a.head_tuples() == [("priority", "binary", (1,), 1), ("department", "classification", (4,), 1)]
    assert [h.loss.type_name for h in a.heads.values()] == ["bce_with_logits", "cross_entropy"]
    assert a.spec.loss_weights == {"priority": 1.0, "department": 0.2}
    params = {n.name: n.params() for n in a.graph.nodes}
    assert (params["embedding_0"], params["priority_head"], params["department_head"]) == (640_000, 173, 692)
    narrow = copy.deepcopy(ticket_spec())
    narrow["model"]["layers"][-1]["linear"]["out_features"] = 3
    assert errors(narrow) == ["model.layers.6: head `department_head` (target `department`): the model's output is "
                              "[N, 3], but the data has 4 classes, so cross_entropy needs [N, 4]; make the last "
                              "layer give 4 features"]


def write_tickets(path, rows: int = 200, seed: int = 0) -> None:
    """A tickets CSV as the tutorial describes it: title, body, a 0/1 column per tag, the
    priority (0/1) and the department (a name)."""
    rng = np.random.default_rng(seed)
    words = ["cannot", "login", "invoice", "charged", "twice", "app", "crashes", "export", "slow", "page", "error"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["title", "body", *TAGS, "priority", "department"])
        for _ in range(rows):
            tags = (rng.random(len(TAGS)) < 0.2).astype(int)
            w.writerow([" ".join(rng.choice(words, 4)), " ".join(rng.choice(words, 30)), *tags,
                        int(rng.integers(0, 2)), str(rng.choice(["billing", "accounts", "mobile", "platform"]))])


def test_the_csv_form_the_tutorial_describes_checks(tmp_path):
    write_tickets(tmp_path / "tickets.csv")
    spec = ticket_spec()
    spec["data"] = {"source": "csv", "path": str(tmp_path / "tickets.csv"),
                    "inputs": {"title": {"text": "title"}, "body": {"text": "body"}, "tags": {"numeric": TAGS}},
                    "targets": {"priority": {"column": "priority"}, "department": {"column": "department"}}}
    a = specdl.check(spec)
    assert a.head_tuples() == [("priority", "binary", (1,), 1), ("department", "classification", (4,), 1)]
    assert a.heads["department"].data.classes == 4
    vocab = a.graph.sources["title"].vocab
    assert {n.name: n.params() for n in a.graph.nodes}["embedding_0"] == vocab * 64  # the size from the vocabulary
