"""Text preprocessing (spec 12.2; specdl/runtime/text.py): the tokenizers, the vocabulary
fitted on train texts (its order by count, then code point: not by row order nor the
hash seed), encoding (unknown 1, padding 0, truncation), ``length: auto``; and the
functions as a generated script holds them (their source alone gives the same ids)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter

import numpy as np
from hypothesis import given
from hypothesis import settings as search_settings
from hypothesis import strategies as st

from specdl.runtime import text
from specdl.script.runtime_source import source

from .conftest import ROOT

TEXTS = ["The film was GOOD, good!", "bad film... bad", "", "good  acting\tand a good plot"]


def test_tokenizers_as_the_spec_says():
    assert text.tokenize("Don't stop!") == ["don", "'", "t", "stop", "!"]
    assert text.tokenize("Don't stop!", lowercase=False) == ["Don", "'", "t", "stop", "!"]
    assert text.tokenize(" a  b\tc\n", "whitespace") == ["a", "b", "c"]
    assert text.tokenize("ab c", "chars") == ["a", "b", " ", "c"]
    assert text.tokenize("Été über", "words") == ["été", "über"]  # \w is Unicode; no accent stripping


def test_a_limit_reads_no_further_and_gives_the_first_tokens():
    long = "word, " * 10_000
    for tok in ("words", "whitespace", "chars"):
        whole = text.tokenize(long, tok)
        for limit in (1, 3, 50):
            assert text.tokenize(long, tok, limit=limit) == whole[:limit], (tok, limit)


def test_vocabulary_by_count_then_code_point_with_pad_and_unk_first():
    vocab = text.fit_vocabulary(TEXTS)
    assert vocab[:2] == ["<pad>", "<unk>"]
    # good 4, "." 3, bad and film 2 (by code point), then the tokens seen once: "!" < "," < "a" ...
    assert vocab[2:9] == ["good", ".", "bad", "film", "!", ",", "a"]
    counts = {t: sum(text.tokenize(s).count(t) for s in TEXTS) for t in vocab[2:]}
    keys = [(-counts[t], t) for t in vocab[2:]]
    assert keys == sorted(keys)
    assert text.fit_vocabulary(TEXTS, min_freq=2) == ["<pad>", "<unk>", "good", ".", "bad", "film"]
    assert text.fit_vocabulary(TEXTS, max_tokens=4) == ["<pad>", "<unk>", "good", "."]


def test_encoding_unknown_is_1_padding_0_truncation_both_ends():
    vocab = ["<pad>", "<unk>", "good", "bad"]
    ids = text.encode_texts(["good bad awful good", "", "bad"], vocab, 3)
    assert ids.dtype == np.int64 and ids.tolist() == [[2, 3, 1], [0, 0, 0], [3, 0, 0]]
    assert text.encode_texts(["good bad awful good"], vocab, 3, truncate="start").tolist() == [[3, 1, 2]]
    # a text's literal "<pad>" token is unknown, never padding
    assert text.encode_texts(["<pad> good"], vocab, 3, "whitespace").tolist() == [[1, 2, 0]]


def test_auto_length_p95_rounded_to_8_and_capped():
    assert text.auto_length([3] * 100) == 8
    assert text.auto_length(list(range(1, 101))) == 96  # p95 (nearest rank) = 95 -> 96
    assert text.auto_length([0, 0]) == 8 and text.auto_length([]) == 8
    assert text.auto_length(text.token_counts(["x " * 5000])) == text.AUTO_MAX
    assert text.token_counts(["x " * 5000]) == [text.AUTO_MAX + 1]  # counted no further
    assert text.truncated_share([1, 9, 20, 3], 8) == 0.5


texts_st = st.lists(st.text(alphabet=st.sampled_from("abcAB .,!é \t"), max_size=30), min_size=1, max_size=12)


@search_settings(max_examples=40, deadline=None)
@given(train=texts_st, other=texts_st, length=st.integers(1, 12), tok=st.sampled_from(["words", "whitespace", "chars"]))
def test_ids_are_a_function_of_the_texts_not_of_row_order_or_calls(train, other, length, tok):
    vocab = text.fit_vocabulary(train, tok, max_tokens=10)
    assert vocab == text.fit_vocabulary(list(reversed(train)), tok, max_tokens=10)
    ids = text.encode_texts(other, vocab, length, tok)
    assert np.array_equal(ids, text.encode_texts(other, vocab, length, tok))
    assert ids.shape == (len(other), length) and ids.min() >= 0 and ids.max() < len(vocab)
    known = set(vocab[2:])
    for row, t in zip(ids, other):
        tokens = text.tokenize(t, tok)[:length]
        assert row.tolist() == [vocab.index(x) if x in known else 1 for x in tokens] + [0] * (length - len(tokens))


def straight_ids(train, texts, tok, max_tokens, min_freq, length, truncate):
    """12.2 written out the plain way (a Counter, a sort, a dict lookup per token): the
    reference fit_encode and encode_texts must equal."""
    counts = Counter(t for s in train for t in text.tokenize(s, tok))
    kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))[:max_tokens - 2]
    index = {t: i for i, t in enumerate(kept, start=2)}
    rows = [text.tokenize(s, tok) for s in texts]
    rows = [r[:length] if truncate == "end" else r[-length:] for r in rows]
    return ["<pad>", "<unk>", *kept], [[index.get(t, 1) for t in r] + [0] * (length - len(r)) for r in rows]


@search_settings(max_examples=60, deadline=None)
@given(train=texts_st, other=texts_st, length=st.one_of(st.just("auto"), st.integers(1, 12)),
       tok=st.sampled_from(["words", "whitespace", "chars"]), truncate=st.sampled_from(["end", "start"]),
       min_freq=st.integers(1, 3), max_tokens=st.integers(2, 12))
def test_one_pass_fit_and_encode_equal_the_plain_definition(train, other, length, tok, truncate, min_freq, max_tokens):
    """fit_encode tokenizes the train texts once (numbered tokens, counts by bincount, ids
    padded in one NumPy step): its vocabulary, length and ids equal 12.2 done plainly."""
    vocab, got_length, share, ids = text.fit_encode(train, tok, True, max_tokens, min_freq, length, truncate)
    counts = text.token_counts(train, tok)
    want_length = text.auto_length(counts) if length == "auto" else length
    assert got_length == want_length and share == (text.truncated_share(counts, want_length) if length == "auto" else None)
    want_vocab, want_ids = straight_ids(train, train, tok, max_tokens, min_freq, want_length, truncate)
    assert vocab == want_vocab == text.fit_vocabulary(train, tok, True, max_tokens, min_freq)
    assert ids.dtype == np.int64 and ids.tolist() == want_ids
    assert text.encode_texts(other, vocab, want_length, tok, True, truncate).tolist() == \
        straight_ids(train, other, tok, max_tokens, min_freq, want_length, truncate)[1]


def test_one_pass_fit_truncates_the_train_texts_at_either_end():
    train = ["b a a c c c d", "", "d d d d"]  # c 3+0, d 1+4, a 2, b 1 -> d 2, c 3, a 4, b 5
    for truncate, want in (("end", [[5, 4, 4], [0, 0, 0], [2, 2, 2]]), ("start", [[3, 3, 2], [0, 0, 0], [2, 2, 2]])):
        vocab, length, share, ids = text.fit_encode(train, "whitespace", True, None, 1, 3, truncate)
        assert vocab == ["<pad>", "<unk>", "d", "c", "a", "b"] and (length, share) == (3, None)
        assert ids.tolist() == want == text.encode_texts(train, vocab, 3, "whitespace", True, truncate).tolist()


SCRIPT = """
import json, sys
texts = json.loads(sys.stdin.read())
vocab = fit_vocabulary(texts, "words", True, 50, 1)
ids = encode_texts(texts, vocab, auto_length(token_counts(texts)))
print(hashlib.sha256(ids.tobytes()).hexdigest())
"""


def test_the_copied_source_gives_the_same_ids_under_any_hash_seed():
    """The functions as a script holds them (their source, with the constants), run in a
    fresh interpreter under two hash seeds, give build's ids (SHA-256)."""
    import json

    corpus = [" ".join(w * (i % 7 + 1) for w in ("ab", "cd", "ef", "é", "!")[: i % 5 + 1]) for i in range(200)]
    vocab = text.fit_vocabulary(corpus, "words", True, 50)
    want = hashlib.sha256(text.encode_texts(corpus, vocab, text.auto_length(text.token_counts(corpus))).tobytes())
    names = ["WORD", "SPACE", "PIECE", "UNK", "AUTO_MAX", *(f.__name__ for f in text.TEXT_FUNCTIONS)]
    program = ("import hashlib, itertools, math, re\nfrom collections import Counter\nimport numpy as np\n"
               + "\n".join(source("specdl.runtime.text", n) for n in names) + SCRIPT)
    for seed in ("0", "123"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": ""}
        out = subprocess.run([sys.executable, "-c", program], input=json.dumps(corpus), capture_output=True,
                             text=True, env=env, cwd=ROOT / "tests", check=True)
        assert out.stdout.strip() == want.hexdigest()
