"""The bundled cases written by hand, carefully: the same models, data and epochs as
the specs, in-memory batching by slicing, the epoch's training loss, validation each
epoch with best-weight selection (the practical ceiling specdl is measured against).
What it leaves out that specdl build does: the metrics log, checkpoints, the progress
bar, the report."""

from __future__ import annotations

import math
import time

import torch
from torch import nn

import specdl
from specdl.build.data import prepare
from specdl.build.images import CachedImages
from specdl.runtime import images


class _Rebatched:
    """An epoch's batches each time it is iterated (as a DataLoader is)."""

    def __init__(self, make):
        self.make = make

    def __iter__(self):
        return iter(self.make())


def careful_loop(spec_path, overrides, threads: int, device: str = "cpu",
                 epoch_times: list | None = None) -> tuple[float, dict]:
    """Train the spec's model with a hand-written loop; returns (training seconds, test
    accuracy or r2). Data comes from specdl's own split so both see the same rows. On a
    GPU the data sits on the device and the loss is summed there (one sync per epoch);
    ``epoch_times`` collects each epoch's seconds (training and validation)."""
    torch.set_num_threads(threads)
    device = torch.device(device)
    a = specdl.check(spec_path, overrides)
    spec = a.spec
    arrays = prepare(spec, a)
    file_backed = spec.data.file_backed
    ydt = torch.int64 if a.task == "classification" else torch.float32
    y = {k: torch.as_tensor(v, dtype=ydt).to(device) for k, v in arrays.y.items()}
    torch.manual_seed(spec.seed)
    model = plain_model(a).to(device)
    loss_fn = a.loss.ctor()()
    opt = spec.optimizer.ctor()(model.parameters())
    bs, n = spec.train.batch_size, len(y["train"])
    gen = torch.Generator().manual_seed(spec.seed)
    if file_backed and isinstance(arrays.x["train"], CachedImages):  # batches as build makes them
        tr = arrays.x["train"]
        train_dl = _Rebatched(lambda: images.image_batches(tr.x, tr.rows, y["train"], bs, gen, "cpu", tr.augment,
                                                           tr.post))
        val_x, test_x = (torch.cat(list(images.image_chunks(arrays.x[k].x, arrays.x[k].rows, 1024, "cpu",
                                                            arrays.x[k].post))) for k in ("val", "test"))
    elif file_backed:
        from torch.utils.data import DataLoader

        train_dl = DataLoader(arrays.x["train"], batch_size=bs, shuffle=True, generator=gen)
        val_x = torch.cat([xb for xb, _ in DataLoader(arrays.x["val"], batch_size=1024)]).to(device)
        test_x = torch.cat([xb for xb, _ in DataLoader(arrays.x["test"], batch_size=1024)]).to(device)
    else:
        xdt = torch.int64 if a.data.dtype == "int64" else torch.float32
        x = {k: torch.as_tensor(v, dtype=xdt).to(device) for k, v in arrays.x.items()}
        val_x, test_x = x["val"], x["test"]
    best, best_state, train_losses = math.inf, None, []
    start = time.perf_counter()
    for _ in range(spec.train.epochs):
        began = time.perf_counter()
        model.train()
        batches = ((xb.to(device), yb.to(device)) for xb, yb in train_dl) if file_backed else (
            (x["train"][idx], y["train"][idx]) for perm in [torch.randperm(n, generator=gen).to(device)]
            for idx in (perm[i:i + bs] for i in range(0, n, bs)))
        train_losses.append(train_pass(model, batches, loss_fn, opt) / n)
        model.eval()
        with torch.inference_mode():
            v = loss_fn(model(val_x), y["val"]).item()
        if v < best:
            best, best_state = v, {k: t.clone() for k, t in model.state_dict().items()}
        if epoch_times is not None:
            epoch_times.append(time.perf_counter() - began)
    secs = time.perf_counter() - start
    model.load_state_dict(best_state)
    model.eval()
    with torch.inference_mode():
        out = model(test_x)
    if a.task == "classification":
        score = {"accuracy": float((out.argmax(1) == y["test"]).float().mean())}
    else:
        from sklearn.metrics import r2_score

        pred = specdl.build.data.invert_targets(spec, arrays, out.double().cpu().numpy())
        score = {"r2": float(r2_score(arrays.y_true["test"], pred))}
    return secs, score


def train_pass(model, batches, loss_fn, opt) -> float:
    """One epoch's steps; the loss summed over the samples, as any training loop reports
    it (a float per step on the CPU, where reading it costs no sync; summed on a GPU)."""
    running = 0.0
    for xb, yb in batches:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running += (loss.item() if loss.is_cpu else loss.detach()) * len(yb)
    return float(running)


def plain_model(a) -> nn.Module:
    """The spec's network as a plain nn.Sequential of the same torch modules (no
    specdl forward), for the stacked bundled specs; the generated class otherwise."""
    from specdl.script.render import render

    code = render(a)
    import ast

    tree = ast.parse(code)
    keep = [nd for nd in tree.body if isinstance(nd, (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef))]
    ns: dict = {}
    exec(compile(ast.Module(keep, []), "<hand>", "exec"), ns)  # noqa: S102 - the written-out model
    return ns["Model"]()


