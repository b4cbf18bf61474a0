"""Text preprocessing (spec 12.2, the contract for identical ids): tokenize, fit a
vocabulary on the train split's texts, encode texts as padded int64 token ids, and the
``auto`` length. Build calls these; a generated script with a text input holds their
source, copied from this file. Standard library and NumPy only: the ids depend on
neither row order, ``PYTHONHASHSEED`` nor the process (the vocabulary's order is by
descending count, then by token, never by first occurrence)."""

import itertools
import math
import re
from collections import Counter

import numpy as np

WORD = re.compile(r"\w+|[^\w\s]")  # tokenizer `words`: runs of word characters, each punctuation mark
SPACE = re.compile(r"\s")  # no token and no lowercasing (its final sigma) looks across whitespace
PIECE = 1 << 14  # a longer text is tokenized piece by piece (cut after whitespace): memory stays that of its bytes
UNK = 1  # the id of <unk> (<pad> is 0: padding, and the mask is ids != 0); tokens have ids from 2
AUTO_MAX = 512  # `length: auto` is at most this


def tokenize(text, tokenizer="words", lowercase=True, limit=None):
    """A text's tokens (``words``, ``whitespace`` or ``chars``; ``lowercase``: ``str.lower()``
    first), at most ``limit`` of them (None: all): past ``limit`` a long text is not read."""
    if limit is not None and len(text) > 16 * limit + 64:
        tokens = head_tokens(text, limit, tokenizer, lowercase)
        if tokens is not None:
            return tokens
    if lowercase:
        text = text.lower()
    if tokenizer == "whitespace":
        return text.split() if limit is None else text.split(maxsplit=limit)[:limit]
    if tokenizer == "chars":
        return list(text if limit is None else text[:limit])
    if limit is None or len(text) <= 8 * limit:
        return WORD.findall(text)[:limit]
    return [m.group() for m in itertools.islice(WORD.finditer(text), limit)]


def fit_vocabulary(texts, tokenizer="words", lowercase=True, max_tokens=None, min_freq=1):
    """The vocabulary of the (train) ``texts``: ``<pad>``, ``<unk>``, then each token counted
    at least ``min_freq`` times by descending count, then by code point, ``max_tokens`` in
    all (None: every such token)."""
    counts = Counter()
    for text in texts:
        for piece in pieces(text) if len(text) > PIECE else (text,):
            counts.update(tokenize(piece, tokenizer, lowercase))
    kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
    return ["<pad>", "<unk>", *kept[:None if max_tokens is None else max_tokens - 2]]


def pieces(text):
    """A long text in pieces of about PIECE characters, each cut just after whitespace:
    their tokens, in order, are the text's."""
    start = 0
    while len(text) - start > PIECE:
        cut = SPACE.search(text, start + PIECE)
        if cut is None:
            break
        yield text[start:cut.end()]
        start = cut.end()
    yield text[start:]


def head_tokens(text, limit, tokenizer="words", lowercase=True):
    """A long text's first ``limit`` tokens, from a head cut just after whitespace, widened
    until it holds them (None where no head does): the rest is neither lowered nor read."""
    width = 16 * limit + 64
    while width < len(text):
        cut = SPACE.search(text, width)
        if cut is None:
            return None
        tokens = tokenize(text[:cut.end()], tokenizer, lowercase)
        if len(tokens) >= limit:
            return tokens[:limit]
        width *= 4
    return None


def last_tokens(text, length, tokenizer="words", lowercase=True):
    """A text's last ``length`` tokens, read from its end: a tail cut just after whitespace,
    widened until it holds them (the whole text where none does)."""
    width = 16 * length + 64
    while width < len(text):
        cut = SPACE.search(text, len(text) - width)
        if cut is not None:
            tokens = tokenize(text[cut.end():], tokenizer, lowercase)
            if len(tokens) >= length:
                return tokens[-length:]
        width *= 4
    return tokenize(text, tokenizer, lowercase)[-length:]


def token_counts(texts, tokenizer="words", lowercase=True):
    """Each text's number of tokens, counted up to AUTO_MAX + 1 (enough to tell truncation)."""
    return [len(tokenize(text, tokenizer, lowercase, AUTO_MAX + 1)) for text in texts]


def auto_length(counts):
    """``length: auto`` of the train texts' token counts: their 95th percentile (nearest
    rank), rounded up to a multiple of 8, from 8 to AUTO_MAX."""
    ranked = sorted(counts)
    p95 = ranked[max(0, math.ceil(0.95 * len(ranked)) - 1)] if ranked else 0
    return min(AUTO_MAX, max(8, -(-p95 // 8) * 8))


def truncated_share(counts, length):
    """The share of texts (token counts) longer than ``length``."""
    return sum(c > length for c in counts) / len(counts) if counts else 0.0


def encode_texts(texts, vocabulary, length, tokenizer="words", lowercase=True, truncate="end"):
    """[len(texts), length] int64 ids: each token's place in ``vocabulary`` (unknown: 1),
    the first ``length`` tokens (``truncate: start``: the last), padded on the right with 0."""
    index = {t: i for i, t in enumerate(vocabulary[2:], start=2)}  # a text's "<pad>" is a token like another
    get = index.get
    out = np.zeros((len(texts), length), dtype=np.int64)
    for i, text in enumerate(texts):
        if truncate == "start":
            ids = [get(t, UNK) for t in last_tokens(text, length, tokenizer, lowercase)]
        else:
            ids = [get(t, UNK) for t in tokenize(text, tokenizer, lowercase, length)]
        out[i, :len(ids)] = ids
    return out


# What a script with a text input contains
TEXT_FUNCTIONS = (tokenize, head_tokens, pieces, fit_vocabulary, last_tokens, token_counts, auto_length, truncated_share, encode_texts)
