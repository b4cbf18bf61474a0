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


ATTENTION = copy.deepcopy(TEXT)
ATTENTION["model"]["layers"] = [
    {"embedding": {"embedding_dim": 8, "inputs": ["ids"], "padding_idx": 0}},
    {"transformer_encoder": {"nhead": 2, "dim_feedforward": 16, "inputs": ["embedding_0", "ids"], "dropout": 0.0}},
    {"sequence_pool": {"mode": "mean", "inputs": ["transformer_encoder_1", "ids"], "name": "pooled"}},
    {"linear": {"out_features": 8, "inputs": ["price"], "name": "p"}},
    {"concat": {"inputs": ["pooled", "p"]}}, {"linear": 2}]


def test_a_padding_mask_gives_finite_outputs_for_a_row_all_padding_in_build_and_script(tmp_path):
    """transformer_encoder with the ids as its key padding mask: a row all padding is
    finite (torch alone gives NaN), and the script's Model gives build's outputs."""
    import importlib.util

    torch.manual_seed(0)
    built = specdl.build_model(ATTENTION).eval()
    (tmp_path / "s.py").write_text(specdl.codegen(ATTENTION))
    spec = importlib.util.spec_from_file_location("masked_script", tmp_path / "s.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    script = module.Model().eval()
    script.load_state_dict(built.state_dict())
    ids = torch.tensor([[3, 4, 0, 0, 0, 0], [0] * 6, [1, 1, 1, 1, 1, 1], [5, 6, 7, 8, 9, 2]])
    price = torch.randn(4, 4)
    with torch.no_grad():
        out = built(ids=ids, price=price)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(script(ids=ids, price=price), out, rtol=0, atol=1e-6)
        longer = torch.cat([ids[:1, :2], torch.zeros(1, 4, dtype=torch.int64)], 1)
        padded = built(ids=longer, price=price[:1])
        # padding changes nothing: the same tokens with other padded values give the same output
        other = built.embedding_0.weight.clone()
        built.embedding_0.weight[0] += 1.0
        torch.testing.assert_close(built(ids=longer, price=price[:1]), padded, rtol=0, atol=1e-5)
        built.embedding_0.weight.copy_(other)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_recurrent_last_is_each_rows_last_token_and_bidirectional_ids_are_refused(kind):
    spec = copy.deepcopy(TEXT)
    spec["model"]["layers"][1] = {kind: {"hidden_size": 4, "inputs": ["embedding_0", "ids"], "name": "pooled"}}
    model = specdl.build_model(spec).eval()
    ids = torch.tensor([[3, 4, 0, 0, 0, 0], [0] * 6, [3, 4, 9, 0, 0, 0]])
    with torch.no_grad():
        out = model(ids=ids, price=torch.randn(3, 4))
        seq, _ = model.pooled(model.embedding_0(ids))
        # the row [3, 4, pad...] ends at step 1, whatever follows; the row all padding: step 0
        from specdl.runtime.layers import last_step

        picked = last_step(seq, ids)
        assert torch.equal(picked[0], seq[0, 1]) and torch.equal(picked[1], seq[1, 0])
        assert torch.equal(picked[2], seq[2, 2]) and torch.isfinite(out).all()
    assert "last_step(pooled, ids)" in specdl.codegen(spec)
    spec["model"]["layers"][1][kind]["bidirectional"] = True
    assert "the reverse direction would read the padding first" in messages(spec)[0]
