"""The layers of text models (issue 29 part B, spec 12.3): `embedding` sized by its
input's bound, `sequence_pool` masked by the token ids (an all-padding row gives zeros,
never NaN), `stack`; and check's errors about them. The registry-wide tests
(tests/test_layers.py) run each one against torch; these check the masked forms."""

from __future__ import annotations

import copy

import pytest
import torch

import specdl
from specdl.errors import SpecError
from specdl.runtime.layers import SequencePool

IDS = torch.tensor([[2, 3, 0, 0], [0, 0, 0, 0], [5, 1, 1, 7]])


@pytest.mark.parametrize("mode", ["mean", "max", "sum", "last"])
def test_sequence_pool_ignores_padding_and_gives_zeros_for_a_row_all_padding(mode):
    x = torch.randn(3, 4, 2, requires_grad=True)
    out = SequencePool(mode)(x, IDS)
    kept = {0: x[0, :2], 2: x[2]}
    for row, steps in kept.items():
        want = {"mean": steps.mean(0), "max": steps.amax(0), "sum": steps.sum(0), "last": steps[-1]}[mode]
        torch.testing.assert_close(out[row], want)
    assert torch.equal(out[1], torch.zeros(2))
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad[1] == 0).all()
    torch.testing.assert_close(SequencePool(mode)(x), SequencePool(mode)(x, torch.ones(3, 4, dtype=torch.int64)))


def test_sequence_pool_refuses_ids_that_do_not_match():
    with pytest.raises(ValueError, match="ids must be int64"):
        SequencePool()(torch.randn(3, 4, 2), IDS.float())


TEXT = {"name": "t", "seed": 1,
        "data": {"source": "synthetic", "classes": 2, "size": 64,
                 "inputs": {"ids": {"shape": [6], "dtype": "int64", "high": 30}, "price": {"shape": [4]}}},
        "model": {"layers": [{"embedding": {"embedding_dim": 4, "inputs": ["ids"]}},
                             {"sequence_pool": {"mode": "mean", "inputs": ["embedding_0", "ids"], "name": "pooled"}},
                             {"linear": {"out_features": 4, "inputs": ["price"], "name": "p"}},
                             {"stack": {"inputs": ["pooled", "p"]}}, "flatten", {"linear": 2}]},
        "train": {"epochs": 1, "batch_size": 16, "device": "cpu"}}


def messages(spec) -> list[str]:
    with pytest.raises(SpecError) as e:
        specdl.check(spec)
    return [i.message for i in e.value.issues]


def test_embedding_takes_its_rows_from_the_input_and_the_model_builds():
    a = specdl.check(TEXT)
    shapes = specdl.infer_shapes(TEXT)
    assert shapes["pooled"] == ("N", 4) and shapes["stack_3"] == ("N", 2, 4)
    model = specdl.build_model(TEXT)
    assert model.embedding_0.num_embeddings == 30 and a.graph.nodes[0].params() == 30 * 4
    out = model(ids=torch.zeros(5, 6, dtype=torch.int64), price=torch.randn(5, 4))
    assert out.shape == (5, 2) and torch.isfinite(out).all()
    assert "nn.Embedding(30, 4)" in specdl.codegen(TEXT)


def test_an_embedding_without_rows_on_one_input_and_masks_that_do_not_fit():
    spec = {"data": {"source": "synthetic", "classes": 2, "shape": [6], "dtype": "int64", "high": 9},
            "model": {"layers": [{"embedding": {"embedding_dim": 4}}, "flatten", {"linear": 2}]}}
    assert "num_embeddings is not given" in messages(spec)[0]
    bad = copy.deepcopy(TEXT)
    bad["model"]["layers"][1]["sequence_pool"]["inputs"] = ["embedding_0", "price"]
    assert "the mask input must be the token ids [N, 6] int64" in messages(bad)[0]
    bad["model"]["layers"][1] = {"concat": {"inputs": ["embedding_0", "price"], "name": "pooled"}}
    assert messages(bad)[0].endswith("pool the sequence first (sequence_pool)")
    bad = copy.deepcopy(TEXT)
    bad["model"]["layers"][3]["stack"]["inputs"] = ["pooled", "p", "ids"]
    assert "stack takes inputs of one shape" in messages(bad)[0]
