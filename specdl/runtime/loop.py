"""The training loop's steps: batches, one epoch (``run_epoch``: train, validate, the
book-keeping after it: best epoch, early stopping, scheduler), and the test of the best
epoch (``test_best``). Build and every generated script call the same functions.

Each function here is copied verbatim into the generated scripts that read it
(``SCRIPT_FUNCTIONS``, script.render.catalogue): it reads only its arguments and what a
script imports (torch, math, numpy as np, nullcontext, dataclass). Switches are values
(a disabled GradScaler, ``nullcontext`` for fp32, a batch iterable), not branches of a
template."""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from .graphs import GraphStep
from .metrics import defined, epoch_metric, one_vs_rest, present_classes


@dataclass
class RunState:
    """Where a run stands after an epoch; saved in last.pt, so a resumed run goes on
    from here exactly."""

    epoch: int = 0
    best: float | None = None          # the monitored value of the best epoch
    best_epoch: int = 0
    es_best: float | None = None       # early stopping's best value
    bad: int = 0                       # epochs without improvement (early stopping)
    stopped: bool = False              # early stopping ended the run


def batches(x, y, batch_size, generator, rank=0, world=1):
    """Shuffled batches sliced from tensors in memory (no per-sample DataLoader cost);
    under data parallelism each rank takes its share of every global batch."""
    perm = torch.randperm(len(y), generator=generator).to(y.device)
    for i in range(0, len(y), batch_size):
        idx = perm[i:i + batch_size]
        if world > 1:
            idx = idx[rank::world]
        yield x[idx], y[idx]


def loader_batches(loader, device):
    """Batches from a DataLoader (files decoded and augmented by its workers)."""
    for xb, yb in loader:
        yield xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)


def chunks(x, size, device=None):
    """The inputs of a split in evaluation chunks: slices of a tensor in memory, or the
    batches of a DataLoader (whose batch size is the chunk), moved to ``device``."""
    if isinstance(x, torch.Tensor):
        for i in range(0, len(x), size):
            yield x[i:i + size]
    else:
        for xb, _ in x:
            yield xb.to(device)


def train_epoch(model, batches, loss_fn, optimizer, n_batches, accumulate=1, grad_clip=None,
                scaler=None, autocast=nullcontext, scheduler=None, graph=None):
    """One pass over the training data: forward, backward, and an optimizer step every
    ``accumulate`` batches (``scheduler``: stepped with each optimizer step; ``graph``:
    a GraphStep replays the steps instead, train.cuda_graphs). Returns the loss summed
    over the samples, and their number."""
    if graph is not None:
        return graph.epoch(batches)
    model.train()
    total, seen, losses, sizes = 0.0, 0, [], []
    for b, (xb, yb) in enumerate(batches):
        with autocast():
            loss = loss_fn(model(xb), yb)
        scaler.scale(loss / accumulate if accumulate > 1 else loss).backward()
        if accumulate == 1 or (b + 1) % accumulate == 0 or b + 1 == n_batches:
            if grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            if scheduler is not None:
                scheduler.step()
        seen += len(yb)
        # The loss sum: a float on the CPU (reading a CPU tensor costs no sync), kept on
        # the device elsewhere (one sync per epoch instead of one per step).
        if loss.is_cpu:
            total += loss.item() * len(yb)
        else:
            losses.append(loss.detach())
            sizes.append(len(yb))
    if losses:
        total = torch.stack(losses).float() @ torch.tensor(sizes, dtype=torch.float32, device=losses[0].device)
    return total, seen


@torch.inference_mode()
def evaluate(model, chunks, y, y_true, loss_fn, metrics, predict, autocast=nullcontext):
    """The loss and ``metrics`` (name -> fn(y_true, y_pred)) on one split; ``predict``
    turns the model's outputs into predictions in the data's own units. Returns the
    scores and the predictions (None when no metric is asked for)."""
    model.eval()
    with autocast():
        outs = [model(xb).float() for xb in chunks]
    out = outs[0] if len(outs) == 1 else torch.cat(outs)
    scores = {"loss": loss_fn(out, y).item()}
    if not metrics:
        return scores, None
    y_pred = predict(out)
    if y_pred.ndim > 2:  # metrics take 2-D targets: one column per value
        y_true, y_pred = y_true.reshape(len(y_true), -1), y_pred.reshape(len(y_pred), -1)
    for name, fn in metrics.items():
        scores[name] = float(fn(y_true, y_pred))
    return scores, y_pred


def predictions(out, task, invert=None, threshold=0.5):
    """The model's outputs as predictions: class indices, 0/1 labels where the
    probability reaches ``threshold`` (binary: one logit; multilabel: one per label), or
    values in the data's own units (``invert`` undoes the target transforms)."""
    if task == "classification":
        return out.argmax(dim=1).cpu().numpy()
    if task in ("binary", "multilabel"):
        labels = (torch.sigmoid(out) >= threshold).long()
        return (labels.reshape(len(out)) if task == "binary" else labels).cpu().numpy()
    y_pred = out.double().cpu().numpy()
    return y_pred if invert is None else invert(y_pred)


def probabilities(out, how):
    """The model's outputs as probabilities in class order, in their dtype (torch ops: an
    ONNX export runs this too). ``how``: softmax (logits, a column per class), exp
    (log-probabilities: a final log_softmax), sigmoid (one logit: class 1's; or a logit per
    label), as_is (a final softmax gives probabilities)."""
    if how == "softmax":
        return torch.softmax(out, 1)
    if how == "exp":
        return out.exp()
    return torch.sigmoid(out) if how == "sigmoid" else out


class Scored(np.ndarray):
    """Predictions that carry the probabilities they were decided from (``probabilities``:
    float64, in class order; one logit: class 1's, [N]). The score metrics (roc_auc, pr_auc,
    log_loss, top_k_accuracy) read those; every other metric reads the predictions."""

    probabilities = None


def scored_predictions(out, how, task, invert=None, threshold=0.5):
    """``predictions`` as a Scored array, for a spec with score metrics: the probabilities
    computed in float64 from the outputs on the CPU (``probabilities(out, how)``; MPS has no float64)."""
    y_pred = predictions(out, task, invert, threshold).view(Scored)
    p = probabilities(out.cpu().double(), how).numpy()
    y_pred.probabilities = p.reshape(len(p)) if task == "binary" else p
    return y_pred


def improved(value, best, mode, min_delta=0.0):
    """Whether ``value`` beats ``best`` (None: nothing yet) by more than ``min_delta``."""
    if best is None:
        return math.isfinite(value)
    return value < best - min_delta if mode == "min" else value > best + min_delta


def end_epoch(state, row, monitor, mode, early=None, scheduler=None, every=None):
    """After an epoch's validation: step an epoch or plateau scheduler, note the best
    epoch and early stopping (``early``: monitor, mode, patience, min_delta). Returns
    whether this epoch is the best so far."""
    if scheduler is not None and every == "epoch":
        scheduler.step()
    elif scheduler is not None and every == "metric":
        scheduler.step(row[monitor])
    state.epoch = row["epoch"]
    best = improved(row[monitor], state.best, mode)
    if best:
        state.best, state.best_epoch = row[monitor], row["epoch"]
    if early is not None:
        es_monitor, es_mode, patience, min_delta = early
        if improved(row[es_monitor], state.es_best, es_mode, min_delta):
            state.es_best, state.bad = row[es_monitor], 0
        else:
            state.bad += 1
            state.stopped = state.bad >= patience
    return best


def mixed_precision(device, precision):
    """train.precision: the autocast context (nullcontext: fp32) and the gradient scaler (fp16)."""
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    autocast = (lambda: torch.autocast(device.type, dtype=amp)) if amp else nullcontext
    return autocast, torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def run_epoch(epoch, training, batches, val_chunks, y_val, y_val_true, watched, state, monitor, mode, early=None):
    """One epoch: train, the row {epoch, train_loss (the mean over every rank's samples), lr},
    the val split's loss and ``watched`` metrics as val_* (where it has samples), end_epoch.
    ``training``: the model as it runs, loss_fn, optimizer, n_batches, predict, scheduler
    (stepped each ``every`` batch, epoch or metric), accumulate, grad_clip, autocast, scaler,
    graph (a GraphStep or None), device and world (ranks). Returns the row and whether the
    epoch is the best so far."""
    t = training
    total, seen = train_epoch(t["model"], batches, t["loss_fn"], t["optimizer"], t["n_batches"], t["accumulate"],
                              t["grad_clip"], t["scaler"], t["autocast"],
                              t["scheduler"] if t["every"] == "batch" else None, t["graph"])
    if t["world"] > 1:
        both = torch.tensor([float(total), float(seen)], device=t["device"])
        torch.distributed.all_reduce(both)
        total, seen = both[0] / both[1], 1
    row = {"epoch": epoch, "train_loss": float(total) / seen, "lr": t["optimizer"].param_groups[0]["lr"]}
    if not math.isfinite(row["train_loss"]):
        raise FloatingPointError(f"the training loss became {row['train_loss']} in epoch {epoch}")
    if len(y_val) > 0:
        val, _ = evaluate(t["model"], val_chunks(), y_val, y_val_true, t["loss_fn"], watched, t["predict"],
                          t["autocast"])
        row.update({f"val_{k}": v for k, v in val.items()})
    return row, end_epoch(state, row, monitor, mode, early, t["scheduler"], t["every"])


def test_best(training, chunks, y, y_true, metrics, by_target=None):
    """The test split's ``metrics`` (``by_target(y_true, y_pred)``: each target's too), the
    loss last; and the predictions."""
    t = training
    scores, y_pred = evaluate(t["model"], chunks, y, y_true, t["loss_fn"], metrics, t["predict"], t["autocast"])
    if by_target is not None:
        scores.update(by_target(y_true, y_pred))
    return {**{k: v for k, v in scores.items() if k != "loss"}, "loss": scores["loss"]}, y_pred


def binary_loss(loss_fn):
    """A one-logit loss (bce_with_logits) fed class indices: the labels 0/1 become float
    targets shaped like the logit ([N, 1] or [N])."""
    def loss(out, y):
        return loss_fn(out, y.to(out.dtype).reshape(out.shape))
    return loss


def per_target(metrics, y_true, y_pred, names):
    """Each target's metrics in a multi-target regression (one column per target),
    keyed ``metric[target]``, target by target."""
    return {f"{m}[{name}]": float(fn(y_true[:, j], y_pred[:, j]))
            for j, name in enumerate(names) for m, fn in metrics.items()}


# What a generated script contains, in this order (loader_batches with file-backed data
# only); then, where the spec needs them, the binary classification's and the
# multi-target regression's, and the score metrics' (script.render.runtime_functions).
SCRIPT_FUNCTIONS = (RunState, batches, loader_batches, chunks, GraphStep, train_epoch, evaluate, epoch_metric,
                    predictions, improved, end_epoch, mixed_precision, run_epoch, test_best)
BINARY_FUNCTIONS = (binary_loss,)
PER_TARGET_FUNCTIONS = (per_target,)
SCORE_FUNCTIONS = (probabilities, Scored, scored_predictions, one_vs_rest, defined, present_classes)
