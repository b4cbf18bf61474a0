"""Padding and degenerate texts (issue 29's robustness acceptance, spec 12.3 and 12.5):
`multihead_attention` takes the key's token ids as its padding mask; an empty text, a
text of only unknown tokens and a row all padding give finite outputs (and gradients)
in build and in the generated script, through attention (`transformer_encoder`,
`multihead_attention`) and recurrent `output: last` (`lstm`, `gru`); and a 10 MB text
cell costs no more memory than its own bytes on the way to token ids."""

from __future__ import annotations

import copy
import importlib.util
import sys
import tracemalloc
from collections import Counter

import numpy as np
import pytest
import torch
import yaml

import specdl
from specdl.components.base import REGISTRY
from specdl.components.tensor import TT
from specdl.errors import ShapeError
from specdl.runtime import text
from specdl.runtime.csv import MISSING_CELLS, missing_cell
from specdl.runtime.csv_inputs import fit_text

from .test_csv_inputs import write_reviews
from .test_layers import check_layer

MHA = REGISTRY["layer"]["multihead_attention"]


# ---------------------------------------------------------------- multihead_attention's mask
@pytest.mark.parametrize("keys", [0, 1, 2])
def test_multihead_attention_takes_the_keys_ids_as_its_padding_mask(keys):
    """[query, (key, (value,)) ids]: the ids [N, S] of the key mask its padded steps;
    build and the generated code agree (check_layer: the registry test's own comparison)."""
    q, kv, ids = TT(("N", 5, 4)), TT(("N", 3, 4)), TT(("N", 3 if keys else 5), "int64", 10)
    types = [q, *[kv] * keys, ids]
    layer = MHA(num_heads=2)
    assert check_layer(layer, types).shape == ("N", 5, 4)  # all-padding ids (zeros): finite, code == build
    module = layer.ctor_many(types)().eval()
    x = [torch.randn(4, *t.shape[1:]) for t in types[:-1]]
    tokens = torch.tensor([[3, 4, 0, 0, 0], [0] * 5, [1] * 5, [2, 0, 5, 0, 0]])[:, :ids.shape[1]]
    with torch.no_grad():
        out = layer.call(module, *x, tokens)
        k = x[1] if keys else x[0]
        v = x[2] if keys == 2 else k
        mask = tokens == 0
        mask[1, 0] = False  # the row all padding: attended as if its position 0 were not masked
        want = module(x[0], k, v, key_padding_mask=mask, need_weights=False)[0]
    torch.testing.assert_close(out, want, rtol=0, atol=0)
    assert torch.isfinite(out).all()
    code = layer.call_code("m", ["q", "k", "v"][:keys + 1] + ["review"], "out")
    assert code[0].endswith("need_weights=False, key_padding_mask=padding_mask(review))")


def test_multihead_attention_refuses_ids_that_are_not_the_keys():
    layer = MHA(num_heads=1)
    with pytest.raises(ShapeError, match=r"the mask input must be the token ids \[N, 3\] int64"):
        layer.infer_many([TT(("N", 5, 4)), TT(("N", 3, 4)), TT(("N", 5), "int64", 10)])  # the query's length
    with pytest.raises(ShapeError, match=r"token ids \(the key padding mask\) come last"):
        layer.infer_many([TT(("N", 5, 4)), TT(("N", 5), "int64", 10), TT(("N", 5, 4))])  # ids not last
    with pytest.raises(ShapeError, match="takes a query, a key and a value"):
        layer.infer_many([TT(("N", 5, 4))] * 4)


# ---------------------------------------------------------------- degenerate texts, build and script
SPEC = {"name": "padded", "seed": 4,
        "data": {"source": "csv", "path": "reviews.csv", "target": "label", "task": "classification",
                 "inputs": {"review": {"text": "text", "length": 8}}},
        "model": {"layers": [
            {"embedding": {"embedding_dim": 8, "padding_idx": 0, "inputs": ["review"], "name": "emb"}},
            {"transformer_encoder": {"nhead": 2, "dim_feedforward": 16, "dropout": 0.0, "inputs": ["emb", "review"]}},
            {"sequence_pool": {"mode": "mean", "inputs": ["transformer_encoder_1", "review"], "name": "t"}},
            {"multihead_attention": {"num_heads": 2, "inputs": ["emb", "review"]}},
            {"sequence_pool": {"mode": "max", "inputs": ["multihead_attention_3", "review"], "name": "a"}},
            {"lstm": {"hidden_size": 6, "inputs": ["emb", "review"], "name": "l"}},
            {"gru": {"hidden_size": 6, "inputs": ["emb", "review"], "name": "g"}},
            {"concat": {"inputs": ["t", "a", "l", "g"]}}, {"linear": 2}]},
        "train": {"epochs": 2, "batch_size": 16, "device": "cpu"}}
BRANCHES = ("t", "a", "l", "g")  # transformer_encoder, multihead_attention (pooled), lstm and gru `last`
DEGENERATE = ["", "zqx vvkj wubble", "   ", "good film " * 40]  # empty, unknown only, blank, longer than length


@pytest.fixture
def padded(tmp_path, monkeypatch):
    write_reviews(tmp_path / "reviews.csv")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def import_script(path):
    spec = importlib.util.spec_from_file_location(f"padded_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def branches(model, ids) -> dict:
    """Each encoder branch's output, read off the model's modules by forward hooks."""
    seen = {}
    hooks = [getattr(model, b).register_forward_hook(lambda m, i, o, b=b: seen.__setitem__(b, o)) for b in BRANCHES]
    model(review=ids)
    for h in hooks:
        h.remove()
    return seen


def test_empty_unknown_and_all_padding_texts_are_finite_in_build_and_script(padded):
    """The texts encoded by build's functions and by the script's copies (the same ids: an
    empty text all padding, unknown tokens 1), through both models: finite outputs and
    gradients, the script's equal to build's."""
    _, _, fitted, _ = specdl.check(SPEC).spec.data.fitted_inputs(SPEC["seed"])
    vocab, length = fitted["review"]["vocabulary"], fitted["review"]["length"]
    (padded / "s.py").write_text(specdl.codegen(SPEC))
    script = import_script(padded / "s.py")
    ids = text.encode_texts(DEGENERATE, vocab, length)
    assert np.array_equal(script.encode_texts(DEGENERATE, vocab, length), ids)
    assert (ids[0] == 0).all() and (ids[2] == 0).all() and ids[1].tolist() == [1, 1, 1] + [0] * (length - 3)
    ids = torch.from_numpy(ids)
    torch.manual_seed(0)
    built = specdl.build_model(SPEC)
    mine = script.Model()
    mine.load_state_dict(built.state_dict())
    out = built(review=ids)
    assert torch.isfinite(out).all()
    for name, value in branches(built, ids).items():
        assert torch.isfinite(value[0] if isinstance(value, tuple) else value).all(), name
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in built.parameters() if p.grad is not None)
    with torch.no_grad():
        torch.testing.assert_close(mine.eval()(review=ids), built.eval()(review=ids), rtol=0, atol=1e-6)


@pytest.mark.slow
def test_a_run_on_degenerate_texts_is_finite_and_the_script_equals_it(padded):
    """Whole runs (~3 s each): a CSV where a third of the texts are empty, blank or unknown
    trains to finite metrics in build, and the script prints the same."""
    import csv

    with open("reviews.csv", newline="") as f:
        rows = list(csv.reader(f))
    for i, row in enumerate(rows[1:]):
        row[0] = DEGENERATE[i % 3] if i % 3 == 0 else row[0]
    with open("reviews.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    from .test_runtime import build_and_script

    (padded / "s.yaml").write_text(yaml.safe_dump(SPEC, sort_keys=False))
    built, script = build_and_script(padded / "s.yaml", [], padded)
    assert all(np.isfinite(v) for v in built.values()), built
    assert list(script) == list(built)
    for k in built:
        assert script[k] == pytest.approx(built[k], abs=1e-6), k


# ---------------------------------------------------------------- a 10 MB text cell
def peak_of(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def reference_vocabulary(tokens) -> list[str]:
    """12.2's vocabulary of whole token lists, written out again: by count, then code point."""
    counts = Counter(tokens)
    return ["<pad>", "<unk>", *sorted(counts, key=lambda t: (-counts[t], t))]


def check_long_cell(repeats: int, tokenizer: str, how: dict) -> None:
    """tracemalloc over a long text's whole fit (the vocabulary of the train split, the `auto`
    length's counts, the encoding of every split) and the CSV reader's missing-cell test: the
    peak stays under the cell's own size (tokenizing it whole would take ~15 times it;
    lowering a text of non-Latin-1 characters whole, ~12 times). The ids and the vocabulary
    are those of the cell tokenized whole."""
    cell = "Σ good film, " + "a fine Plot; " * repeats  # 2 bytes a character
    texts = {"train": np.array([cell, "good plot", ""], dtype=object), "test": np.array([cell, "bad"], dtype=object)}
    settings = {"tokenizer": tokenizer, "lowercase": True, "max_tokens": None, "min_freq": 1, **how}
    got = {}
    assert peak_of(lambda: got.update(out=fit_text(texts, settings))) < sys.getsizeof(cell)
    stripped = cell.strip()  # as read_csv gives the cells of text and categorical inputs
    assert peak_of(lambda: missing_cell(stripped)) < 1000 and max(map(len, MISSING_CELLS)) <= 8
    ids, fitted = got["out"]
    tokens = cell.lower().split() if tokenizer == "whitespace" else list(cell.lower()) if tokenizer == "chars" \
        else text.WORD.findall(cell.lower())
    want = tokens[:fitted["length"]] if how["truncate"] == "end" else tokens[-fitted["length"]:]
    assert fitted["vocabulary"] == reference_vocabulary([*tokens, *text.tokenize("good plot", tokenizer)])
    index = {t: i for i, t in enumerate(fitted["vocabulary"])}
    assert ids["test"][0].tolist() == [index[t] for t in want]
    if how["length"] == "auto":
        assert fitted["length"] == 512 and fitted["truncated"] == pytest.approx(1 / 3)


AUTO, START = {"length": "auto", "truncate": "end"}, {"length": 48, "truncate": "start"}


@pytest.mark.parametrize(("tokenizer", "how"), [("words", AUTO), ("whitespace", START), ("chars", START)])
def test_a_long_text_cell_costs_no_more_memory_than_its_bytes(tokenizer, how):
    check_long_cell(40_000, tokenizer, how)  # 1 MB


@pytest.mark.slow
@pytest.mark.parametrize("tokenizer", ["words", "whitespace", "chars"])
@pytest.mark.parametrize("how", [AUTO, START])
def test_a_10mb_text_cell_costs_no_more_memory_than_its_bytes(tokenizer, how):
    check_long_cell(385_000, tokenizer, how)  # 10 MB


@pytest.mark.parametrize("layer", [
    {"transformer_encoder": {"nhead": 2, "dim_feedforward": 16, "is_causal": True, "dropout": 0.0}},
    {"multihead_attention": {"num_heads": 2, "is_causal": True}}])
def test_causal_attention_with_ids_is_finite_where_a_row_starts_with_padding(layer, tmp_path):
    """With `is_causal`, the first query sees the first key alone: a row whose first id is
    padding (ids of an npz or synthetic input may be 0 anywhere) would be NaN, so the first
    key is kept in every row; the mask is a float one like the causal mask (no torch warning
    of masks of two types); the script's Model gives build's outputs."""
    import warnings

    from .test_sequence_layers import TEXT

    (kind, args), = layer.items()
    spec = copy.deepcopy(TEXT)
    spec["model"]["layers"] = [
        {"embedding": {"embedding_dim": 8, "inputs": ["ids"]}}, {kind: {**args, "inputs": ["embedding_0", "ids"]}},
        {"sequence_pool": {"mode": "mean", "inputs": [f"{kind}_1", "ids"], "name": "pooled"}},
        {"linear": {"out_features": 8, "inputs": ["price"], "name": "p"}}, {"concat": {"inputs": ["pooled", "p"]}},
        {"linear": 2}]
    built = specdl.build_model(spec)
    (tmp_path / "s.py").write_text(specdl.codegen(spec))
    mine = import_script(tmp_path / "s.py").Model()
    mine.load_state_dict(built.state_dict())
    ids, price = torch.tensor([[0, 3, 4, 0, 0, 0], [0] * 6, [5, 6, 7, 8, 9, 2]]), torch.randn(3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        out = built(ids=ids, price=price)
        assert torch.isfinite(out).all()
        out.sum().backward()
        assert all(torch.isfinite(p.grad).all() for p in built.parameters() if p.grad is not None)
        with torch.no_grad():
            torch.testing.assert_close(mine.eval()(ids=ids, price=price), built.eval()(ids=ids, price=price),
                                       rtol=0, atol=1e-6)
