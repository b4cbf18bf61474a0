"""Text preprocessing (spec 12.2, the contract for identical ids): tokenize, fit a
vocabulary on the train split's texts, encode texts as padded int64 token ids, and the
``auto`` length. Build calls these; a generated script with a text input holds their
source, copied from this file. Standard library and NumPy only: the ids depend on
neither row order, ``PYTHONHASHSEED`` nor the process (the vocabulary's order is by
descending count, then by token, never by first occurrence)."""

import itertools
import math
import re

import numpy as np

WORD = re.compile(r"\w+|[^\w\s]")  # tokenizer `words`: runs of word characters, each punctuation mark
UNK = 1  # the id of <unk> (<pad> is 0: padding, and the mask is ids != 0); tokens have ids from 2
AUTO_MAX = 512  # `length: auto` is at most this


def tokenize(text, tokenizer="words", lowercase=True, limit=None):
    """A text's tokens (``words``, ``whitespace`` or ``chars``; ``lowercase``: ``str.lower()``
    first), at most ``limit`` of them (None: all): past ``limit`` a long text is not read."""
    if lowercase:
        text = text.lower()
    if tokenizer == "whitespace":
        return text.split() if limit is None else text.split(maxsplit=limit)[:limit]
    if tokenizer == "chars":
        return list(text if limit is None else text[:limit])
    if limit is None or len(text) <= 8 * limit:
        return WORD.findall(text)[:limit]
    return [m.group() for m in itertools.islice(WORD.finditer(text), limit)]


def count_tokens(texts, tokenizer="words", lowercase=True):
    """The texts tokenized once: (token -> its number, the int64 numbers of every text's
    tokens back to back, each text's number of tokens). A token's number is the place of
    its first occurrence among all the tokens: unique, not consecutive, and no id depends on it."""
    number, numbers, sizes = {}, [], []
    offered = itertools.count()  # a number for each token read; a new token keeps the one offered
    for text in texts:
        tokens = tokenize(text, tokenizer, lowercase)
        numbers.extend(map(number.setdefault, tokens, offered))
        sizes.append(len(tokens))
    return number, np.array(numbers, dtype=np.int64), np.array(sizes, dtype=np.int64)


def fit_vocabulary(texts, tokenizer="words", lowercase=True, max_tokens=None, min_freq=1, counted=None):
    """The vocabulary of the (train) ``texts``: ``<pad>``, ``<unk>``, then each token counted
    at least ``min_freq`` times by descending count, then by code point, ``max_tokens`` in
    all (None: every such token). ``counted``: their ``count_tokens``, when already known."""
    number, numbers, _ = counted or count_tokens(texts, tokenizer, lowercase)
    times = np.bincount(numbers, minlength=len(numbers))  # a token's count, at its number
    count = dict(zip(number, times[list(number.values())].tolist()))
    kept = sorted((t for t, c in count.items() if c >= min_freq), key=lambda t: (-count[t], t))
    return ["<pad>", "<unk>", *kept[:None if max_tokens is None else max_tokens - 2]]


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


def pad_ids(ids, sizes, length, truncate="end"):
    """[len(sizes), length] int64: row i the ids of text i (``ids``: every text's, back to
    back; ``sizes``: how many each), its first ``length`` (``truncate: start``: its last),
    padded on the right with 0."""
    ends = np.cumsum(sizes)
    kept = np.minimum(sizes, length)
    first = ends - sizes if truncate == "end" else ends - kept
    columns = np.arange(length)
    filled = columns < kept[:, None]
    out = np.zeros((len(sizes), length), dtype=np.int64)
    out[filled] = ids[(first[:, None] + columns)[filled]]
    return out


def encode_texts(texts, vocabulary, length, tokenizer="words", lowercase=True, truncate="end"):
    """[len(texts), length] int64 ids: each token's place in ``vocabulary`` (unknown: 1),
    the first ``length`` tokens (``truncate: start``: the last), padded on the right with 0."""
    index = {t: i for i, t in enumerate(vocabulary[2:], start=2)}  # a text's "<pad>" is a token like another
    ids, sizes = [], []
    for text in texts:
        if truncate == "start":
            tokens = tokenize(text, tokenizer, lowercase)[-length:]
        else:
            tokens = tokenize(text, tokenizer, lowercase, length)
        ids.extend(map(index.get, tokens, itertools.repeat(UNK)))
        sizes.append(len(tokens))
    return pad_ids(np.array(ids, dtype=np.int64), np.array(sizes, dtype=np.int64), length, truncate)


def fit_encode(texts, tokenizer="words", lowercase=True, max_tokens=None, min_freq=1, length="auto",
               truncate="end"):
    """The train split's ``texts``, each tokenized once: (the vocabulary fitted on them, the
    length (``auto``: ``auto_length`` of their token counts), the share of them it truncates
    (``auto`` only, else None), their ids as ``encode_texts`` gives them)."""
    counted = count_tokens(texts, tokenizer, lowercase)
    vocabulary = fit_vocabulary(texts, tokenizer, lowercase, max_tokens, min_freq, counted)
    number, numbers, sizes = counted
    share = None
    if length == "auto":
        counts = np.minimum(sizes, AUTO_MAX + 1).tolist()  # as token_counts counts them
        length = auto_length(counts)
        share = truncated_share(counts, length)
    id_of = np.full(len(numbers), UNK, dtype=np.int64)  # at each token's number, its id
    id_of[[number[t] for t in vocabulary[2:]]] = np.arange(2, len(vocabulary))
    return vocabulary, length, share, pad_ids(id_of[numbers], sizes, length, truncate)


# What a script with a text input contains
TEXT_FUNCTIONS = (tokenize, count_tokens, fit_vocabulary, token_counts, auto_length,
                  truncated_share, pad_ids, encode_texts, fit_encode)
