"""Named inputs of a CSV file at run time (spec 12.1, 12.5): each input's cells read from
the file, then each input's preprocessing fitted on the train split and applied to every
split: text (runtime/text.py: vocabulary, length, token ids), categorical (the train
split's categories: an index from 1 with 0 unseen, or one-hot), numeric (the tabular
transforms, runtime/prepare.py), image (paths taken from the CSV's folder). Build and
check call these; a script with CSV inputs holds their source. NumPy and the standard
library only."""

import csv
import os
import sys

import numpy as np

from .csv import missing_cell, read_csv
from .prepare import fit_transforms
from .text import encode_texts, fit_encode


def raise_field_limit():
    """Let the csv module read a text cell of any size (its default limit is 128 KiB)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def read_inputs(path, target, inputs, classification, delimiter=","):
    """Each named input's cells (``inputs``: name -> (kind, columns)): text and categorical
    an array of strings (missing: ""), numeric [N, k] floats (missing: NaN); and the targets."""
    if any(kind == "text" for kind, _ in inputs.values()):
        raise_field_limit()
    numeric = [c for kind, cols in inputs.values() if kind == "numeric" for c in cols]
    strings = [cols[0] for kind, cols in inputs.values() if kind != "numeric"]
    numbers, cells, y = read_csv(path, target, numeric, strings, classification, delimiter)
    x, i, j = {}, 0, 0
    for name, (kind, cols) in inputs.items():
        if kind == "numeric":
            x[name], i = numbers[:, i:i + len(cols)], i + len(cols)
        else:
            x[name], j = np.array(["" if missing_cell(c) else c for c in cells[:, j]], dtype=object), j + 1
    return x, y


def fit_inputs(splits, inputs):
    """Fit each input's preprocessing (``inputs``: name -> its settings, ``kind`` among
    them) on the train split and apply it to every split (split -> name -> array).
    Returns the splits and what each input fitted (name -> dict)."""
    fits = {"text": fit_text, "categorical": fit_categorical, "numeric": fit_numeric, "image": image_paths}
    splits, fitted = {k: dict(v) for k, v in splits.items()}, {}
    for name, how in inputs.items():
        column, fitted[name] = fits[how["kind"]]({k: v[name] for k, v in splits.items()}, how)
        for k in splits:
            splits[k][name] = column[k]
    return splits, fitted


def fit_text(texts, how):
    """Token ids (spec 12.2) of each split's texts, the vocabulary fitted on the train
    split's; ``length: auto`` from the train split's token counts."""
    tokenizer, lowercase = how["tokenizer"], how["lowercase"]
    vocabulary, length, share, train = fit_encode(texts["train"], tokenizer, lowercase, how["max_tokens"],
                                                  how["min_freq"], how["length"], how["truncate"])
    ids = {k: train if k == "train" else encode_texts(v, vocabulary, length, tokenizer, lowercase, how["truncate"])
           for k, v in texts.items()}
    return ids, {"vocabulary": vocabulary, "length": length, "truncated": share}


def fit_categorical(cells, how):
    """Each split's categories as an index (int64: 1, 2, ... by the train split's sorted
    categories; 0 for one unseen or missing) or one-hot (float32; unseen: all zeros)."""
    categories = sorted(set(cells["train"]) - {""})
    index = {c: i for i, c in enumerate(categories, start=1)}
    ids = {k: np.array([index.get(c, 0) for c in v], dtype=np.int64) for k, v in cells.items()}
    if how["encoding"] == "one_hot":
        eye = np.eye(len(categories) + 1, dtype=np.float32)[:, 1:]  # row 0, the unseen category: zeros
        ids = {k: eye[v] for k, v in ids.items()}
    return ids, {"categories": categories}


def fit_numeric(values, how):
    """Each split's numbers through the input's transforms, fitted on the train split."""
    values, states = fit_transforms(values, how["transforms"], "inputs")
    return {k: v.astype(np.float32) for k, v in values.items()}, {"transforms": states}


def image_paths(paths, how):
    """Each split's image paths taken from the CSV's folder (``how["folder"]``; an absolute
    path stays as it is); nothing is fitted (the files are decoded per sample, later)."""
    return {k: np.array([os.path.join(how["folder"], p) for p in v], dtype=object) for k, v in paths.items()}, {}


def inputs_record(fitted):
    """What each input fitted (``fit_inputs``' second value: a vocabulary and length,
    categories, numeric transforms' states) as plain JSON: preprocess.json's ``inputs``."""
    def plain(fit):
        return {k: [{a: np.asarray(b).tolist() for a, b in s.items()} for s in v] if k == "transforms" else v
                for k, v in fit.items()}

    return {name: plain(fit) for name, fit in fitted.items()}


# What a script with CSV inputs contains
CSV_INPUT_FUNCTIONS = (raise_field_limit, read_inputs, fit_inputs, fit_text, fit_categorical, fit_numeric, image_paths,
                       inputs_record)
