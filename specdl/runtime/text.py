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


def count_tokens(texts, tokenizer="words", lowercase=True, keep=0, truncate="end"):
    """The texts tokenized once: (token -> its number, the int64 numbers of every text's
    tokens back to back, each text's number of them, a Counter of the tokens not numbered).
    A token's number is the place of its first occurrence among the tokens numbered: unique,
    not consecutive, and no id depends on it. A text over PIECE characters has only its
    first ``keep`` tokens numbered (``truncate: start``: its last), the others counted piece
    by piece: memory stays that of its bytes."""
    number, numbers, sizes, rest = {}, [], [], Counter()
    offered = itertools.count()  # a number for each token read; a new token keeps the one offered
    for text in texts:
        if len(text) > PIECE:
            tokens = (last_tokens(text, keep, tokenizer, lowercase) if truncate == "start"
                      else tokenize(text, tokenizer, lowercase, keep)) if keep else []
            for piece in pieces(text):
                rest.update(tokenize(piece, tokenizer, lowercase))
            rest.subtract(tokens)
        else:
            tokens = tokenize(text, tokenizer, lowercase)
        numbers.extend(map(number.setdefault, tokens, offered))
        sizes.append(len(tokens))
    return number, np.array(numbers, dtype=np.int64), np.array(sizes, dtype=np.int64), rest


def fit_vocabulary(texts, tokenizer="words", lowercase=True, max_tokens=None, min_freq=1, counted=None):
    """The vocabulary of the (train) ``texts``: ``<pad>``, ``<unk>``, then each token counted
    at least ``min_freq`` times by descending count, then by code point, ``max_tokens`` in
    all (None: every such token). ``counted``: their ``count_tokens``, when already known."""
    number, numbers, _, rest = counted or count_tokens(texts, tokenizer, lowercase)
    times = np.bincount(numbers, minlength=len(numbers))  # a token's count, at its number
    count = dict(zip(number, times[list(number.values())].tolist()))
    for t, c in rest.items():
        count[t] = count.get(t, 0) + c
    kept = sorted((t for t, c in count.items() if c >= min_freq), key=lambda t: (-count[t], t))
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
            tokens = last_tokens(text, length, tokenizer, lowercase)
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
    keep = max(AUTO_MAX + 1, 0 if length == "auto" else length)  # a long text's tokens numbered
    counted = count_tokens(texts, tokenizer, lowercase, keep, truncate)
    vocabulary = fit_vocabulary(texts, tokenizer, lowercase, max_tokens, min_freq, counted)
    number, numbers, sizes, _ = counted
    share = None
    if length == "auto":
        counts = np.minimum(sizes, AUTO_MAX + 1).tolist()  # as token_counts counts them
        length = auto_length(counts)
        share = truncated_share(counts, length)
    known = {t: i for i, t in enumerate(vocabulary[2:], start=2) if t in number}  # not a long text's tail alone
    id_of = np.full(len(numbers), UNK, dtype=np.int64)  # at each token's number, its id
    id_of[[number[t] for t in known]] = list(known.values())
    return vocabulary, length, share, pad_ids(id_of[numbers], sizes, length, truncate)


# What a script with a text input contains
TEXT_FUNCTIONS = (tokenize, head_tokens, pieces, last_tokens, count_tokens, fit_vocabulary, token_counts, auto_length,
                  truncated_share, pad_ids, encode_texts, fit_encode)
