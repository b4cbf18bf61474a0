"""Several outputs at run time (spec 12.7): a model with one output tensor per head, run by
the one-output loop (runtime/loop.py) unchanged. ``Joined`` lays the heads' outputs side by
side in one [N, W] tensor, the targets are packed the same way (a column per class index,
the values of each regression or multilabel head), and the functions here take both apart
head by head: the weighted loss (each part kept, reported as ``loss[<target>]``), the
predictions and each head's metrics (``<metric>[<target>]``).

A head is ``(name, kind, shape, width)``: its target's name, what it predicts
(classification, binary, multilabel, regression), the per-sample shape of its output and
the columns its target takes in the packed targets. Build calls these; a generated script
with several outputs holds them as their own source. Each reads only torch and numpy as np."""

import math
import warnings

import numpy as np
import torch

from .prepare import fit_transforms, preprocess_record, take, truth


class Joined(torch.nn.Module):
    """A model of several outputs as the loop runs it: each head's output flattened to
    [N, k] and laid side by side in float32 (``split_heads`` takes them apart again)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *args, **kwargs):
        return torch.cat([o.reshape(len(o), -1).float() for o in self.model(*args, **kwargs)], 1)


class HeadOf(torch.nn.Module):
    """One head's output of a model of several outputs (``index``: its place among the
    heads): a finished run's verbs score each head alone."""

    def __init__(self, model, index: int):
        super().__init__()
        self.model, self.index = model, index

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)[self.index]


def split_heads(out, heads):
    """name -> each head's output, from the joined [N, W] tensor, in the head's own shape."""
    parts, at = {}, 0
    for name, _, shape, _ in heads:
        width = math.prod(shape)
        parts[name] = out[:, at:at + width].reshape(len(out), *shape)
        at += width
    return parts


def head_columns(y, heads):
    """name -> each head's targets from the packed columns (a tensor or an array): a class
    index per sample, or the values in the shape of the head's output."""
    parts, at = {}, 0
    for name, kind, shape, width in heads:
        col = y[:, at:at + width]
        parts[name] = col[:, 0] if kind in ("classification", "binary") else col.reshape(len(col), *shape)
        at += width
    return parts


def pack_targets(ys):
    """The targets of every head (name -> array of the split's samples) as one float64
    array of columns, in the heads' order (class indices are exact in float64)."""
    return np.hstack([np.asarray(y, dtype=np.float64).reshape(len(y), -1) for y in ys.values()])


def prepare_targets(ys, rows, tasks, steps):
    """Every target (name -> array of all samples) split by ``rows``: as the metrics read it
    (``truth``), and fitted with its transforms (``steps``: name -> (fit, apply, invert)
    triples) on the train split. Returns the two packed (``pack_targets``): split -> array,
    and what each target's transforms fitted (name -> list)."""
    splits, true, fitted = {}, {}, {}
    for t, y in ys.items():
        split = take(y, rows)
        true[t] = truth(split, tasks[t])
        splits[t], fitted[t] = fit_transforms(split, steps[t], f"targets.{t}.transforms")
    return ({k: pack_targets({t: s[k] for t, s in splits.items()}) for k in rows},
            {k: pack_targets({t: s[k] for t, s in true.items()}) for k in rows}, fitted)


class HeadsLoss:
    """The loss of several outputs: each head's loss (``losses``: name -> fn) on its target,
    weighted (``weights``) and summed. ``parts`` keeps each head's loss of the last call."""

    def __init__(self, losses, weights, heads):
        self.losses, self.weights, self.heads, self.parts = losses, weights, heads, {}

    def __call__(self, out, y):
        outs, ys = split_heads(out, self.heads), head_columns(y, self.heads)
        kinds = {name: kind for name, kind, _, _ in self.heads}
        self.parts = {k: fn(outs[k], ys[k].long() if kinds[k] == "classification" else ys[k])
                      for k, fn in self.losses.items()}
        return sum(self.weights[k] * v for k, v in self.parts.items())


class HeadPredictions(dict):
    """Each head's predictions (name -> array), as the loop's ``evaluate`` hands predictions
    to the metrics (``ndim`` 1: no target columns to flatten)."""

    ndim = 1


def head_predictions(out, heads, predictors):
    """The predictions of every head (``predictors``: name -> fn(head's output))."""
    outs = split_heads(out, heads)
    return HeadPredictions({k: predictors[k](v) for k, v in outs.items()})


def head_metric(fn, name, heads):
    """A metric of one head: ``fn`` on its columns of the targets (labels as integers) and its
    predictions; what it warns of (a class the split lacks) said again naming the target."""
    kind = next(k for n, k, _, _ in heads if n == name)

    def metric(y_true, y_pred):
        truth = head_columns(y_true, heads)[name]
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            value = fn(truth if kind == "regression" else truth.astype(np.int64), y_pred[name])
        for w in said:  # a warning about this head's split (a class it lacks) names its target
            warnings.warn(f"{w.message} (target `{name}`)", w.category, stacklevel=2)
        return value
    return metric


def head_loss(loss_fn, name):
    """A head's part of the loss ``loss_fn`` (a HeadsLoss) computed last: ``loss[<target>]``."""
    def metric(y_true, y_pred):
        return float(loss_fn.parts[name])
    return metric


def heads_record(states, target_states, encoder, class_names, facts):
    """``preprocess_record`` of several outputs: each target's fitted transforms and class
    names (``target_states``, ``class_names``: name -> its)."""
    record = preprocess_record(states, [], encoder, None, facts)
    record["target_transforms"] = {t: preprocess_record([], s, None, None, None)["target_transforms"]
                                   for t, s in target_states.items()}
    record["class_names"] = class_names
    return record


# What a script of several outputs contains
HEAD_FUNCTIONS = (Joined, split_heads, head_columns, pack_targets, prepare_targets, HeadsLoss, HeadPredictions, head_predictions,
                  head_metric, head_loss, heads_record)
