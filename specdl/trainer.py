"""The training loop: in-memory batching by seeded permutation, validation each epoch,
best-epoch selection, atomic checkpoints, resume, and the run directory."""

from __future__ import annotations

import gc
import json
import math
import os
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from . import checkpoint as ckpt
from . import rundir
from .build import build_loss, build_model, build_optimizer, build_scheduler
from .data import invert_targets, prepare
from .errors import RunError
from .report import Progress, write_report
from .runs import save_preprocess


@dataclass
class RunResult:
    """What ``train`` returns: test metrics and the run directory (unpacks as a pair)."""

    metrics: dict
    run_dir: Path
    best_epoch: int

    def __iter__(self):
        return iter((self.metrics, self.run_dir))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RunError(f"device `{name}` was asked for, but torch sees no CUDA GPU here; "
                           "use `-o train.device=auto` (or cpu)")
        idx = int(name.split(":")[1]) if ":" in name else 0
        if idx >= torch.cuda.device_count():
            raise RunError(f"device `{name}` was asked for, but only {torch.cuda.device_count()} "
                           "GPU(s) are visible")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RunError("device `mps` was asked for, but torch sees no Apple GPU here; use auto or cpu")
    return torch.device(name)


def _new_run_dir(spec, out, force: bool = False) -> Path:
    """Claim --out (refusing to clobber, lock held), or a fresh runs/<name>/<time>."""
    if out is not None:
        run = rundir.claim_out(out, force)
    else:
        base = Path("runs") / spec.name / datetime.now().strftime("%Y%m%d-%H%M%S")
        run, n = base, 1
        while run.exists():
            n += 1
            run = base.with_name(f"{base.name}-{n}")
        run = rundir.claim_out(run, False)
    rundir.writable(run)
    return run


class Trainer:
    def __init__(self, analysis, device: torch.device, dist=None):
        spec = self.spec = analysis.spec
        self.analysis, self.device, self.dist = analysis, device, dist
        self.arrays = prepare(spec, analysis)
        ydtype = torch.int64 if analysis.task == "classification" else torch.float32
        self.y = {k: torch.as_tensor(v, dtype=ydtype).to(device) for k, v in self.arrays.y.items()}
        self.file_backed = spec.data.file_backed
        if self.file_backed:
            self.x = self.arrays.x  # datasets, read by DataLoaders
        else:
            fdtype = torch.int64 if analysis.data.dtype == "int64" else torch.float32
            self.x = {k: torch.as_tensor(v, dtype=fdtype).to(device) for k, v in self.arrays.x.items()}
        self.model = build_model(analysis).to(device)
        self.fsdp = dist is not None and spec.train.distributed.strategy == "fsdp"
        if analysis.channels_last(device.type) and not self.fsdp:
            self.model = self.model.to(memory_format=torch.channels_last)
        if self.fsdp:  # parameters sharded over the ranks, gathered layer by layer
            from torch.distributed.fsdp import fully_shard

            for child in self.model.children():
                if any(p.requires_grad for p in child.parameters()):
                    fully_shard(child)
            fully_shard(self.model)
        self.run = torch.compile(self.model) if spec.train.compile else self.model
        if dist is not None and not self.fsdp:  # gradients all-reduced (averaged) across the ranks
            from torch.nn.parallel import DistributedDataParallel

            self.run = DistributedDataParallel(self.run, device_ids=[device.index] if device.type == "cuda" else None)
        self.loss_fn = build_loss(analysis)
        self.opt = build_optimizer(spec, self.model, analysis.frozen())
        self.n_train = self.arrays.size("train")
        self.n_batches = math.ceil(self.n_train / spec.train.batch_size)
        self.steps_per_epoch = math.ceil(self.n_batches / spec.train.accumulate)
        self.sched = build_scheduler(spec, self.opt, self.steps_per_epoch, analysis.mode)
        amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(spec.train.precision)
        self.autocast = (lambda: torch.autocast(device.type, dtype=amp)) if amp else nullcontext
        self.scaler = torch.amp.GradScaler(device.type) if spec.train.precision == "fp16" else None
        self.gen = torch.Generator().manual_seed(spec.seed)
        self.sampler = None
        self._eval_loaders: dict = {}
        if self.file_backed:
            from .image_data import loader, workers

            self.workers = workers(spec.train.num_workers, device)
            bs = spec.train.batch_size
            if dist is not None:  # each rank reads its share of the files, bs / world at a time
                from torch.utils.data import DistributedSampler

                self.sampler = DistributedSampler(self.x["train"], num_replicas=dist.world, rank=dist.rank,
                                                  shuffle=True, seed=spec.seed)
                bs = bs // dist.world
                self.n_batches = math.ceil(len(self.sampler) / bs)
                self.steps_per_epoch = math.ceil(self.n_batches / spec.train.accumulate)
            self.train_loader = loader(self.x["train"], bs, True, self.gen, self.workers, device,
                                       sampler=self.sampler)
        self.epoch = 0
        self._weights: dict = {}

    # -- full (unsharded) weights, on every rank's CPU under FSDP
    def weights(self) -> dict:
        if not self.fsdp:
            return {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(self.model, options=StateDictOptions(full_state_dict=True))

    def load_weights(self, state: dict) -> None:
        if not self.fsdp:
            self.model.load_state_dict(state)
            return
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(self.model, state, options=StateDictOptions(full_state_dict=True))

    # -- batches: slices of tensors in memory, or a DataLoader over files
    def train_batches(self):
        if self.file_backed:
            self.epoch += 1
            if self.sampler is not None:
                self.sampler.set_epoch(self.epoch)
            for xb, yb in self.train_loader:
                yield xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
            return
        x, y, bs = self.x["train"], self.y["train"], self.spec.train.batch_size
        perm = torch.randperm(self.n_train, generator=self.gen).to(self.device)
        for i in range(0, self.n_train, bs):
            idx = perm[i:i + bs]
            if self.dist is not None:  # this rank's share of the global batch
                idx = idx[self.dist.rank::self.dist.world]
            yield x[idx], y[idx]

    def eval_batches(self, split: str):
        bs = self.spec.train.eval_chunk
        if self.file_backed:  # one loader per split, so that persistent workers start once
            if split not in self._eval_loaders:
                from .image_data import loader

                self._eval_loaders[split] = loader(self.x[split], bs, False, None, self.workers, self.device)
            for xb, _ in self._eval_loaders[split]:
                yield xb.to(self.device)
            return
        x = self.x[split]
        for i in range(0, len(x), bs):
            yield x[i:i + bs]

    # -- one epoch
    def train_epoch(self) -> float:
        tr, model, opt, loss_fn, scaler = self.spec.train, self.run, self.opt, self.loss_fn, self.scaler
        accumulate, clip, last = tr.accumulate, tr.grad_clip, self.n_batches
        batch_sched = self.sched if self.sched is not None and self.spec.scheduler.every == "batch" else None
        self.model.train()
        # The loss sum: a Python float on the CPU (reading a CPU tensor costs no sync, and
        # is cheaper than stacking), kept on the device elsewhere (one sync per epoch).
        on_cpu = self.device.type == "cpu"
        total, seen, losses, sizes = 0.0, 0, [], []
        for b, (xb, yb) in enumerate(self.train_batches()):
            with self.autocast():
                loss = loss_fn(model(xb), yb)
            scaled = loss / accumulate if accumulate > 1 else loss
            (scaler.scale(scaled) if scaler else scaled).backward()
            if accumulate == 1 or (b + 1) % accumulate == 0 or b + 1 == last:
                if clip:
                    if scaler:
                        scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
                if scaler:
                    scaler.step(opt)
                    scaler.update()
                else:
                    opt.step()
                opt.zero_grad(set_to_none=True)
                if batch_sched is not None:
                    batch_sched.step()
            n = len(yb)
            seen += n
            if on_cpu:
                total += loss.item() * n
            else:
                losses.append(loss.detach())
                sizes.append(n)
        if not on_cpu:
            key = tuple(sizes)
            if key not in self._weights:  # the same every epoch for in-memory data
                self._weights[key] = torch.tensor(sizes, dtype=torch.float32, device=self.device)
            total = torch.stack(losses).float() @ self._weights[key]
        if self.dist is not None:  # the mean over every rank's samples
            total = torch.as_tensor(total, dtype=torch.float32, device=self.device)
            count = torch.tensor(float(seen), device=self.device)
            total, count = self.dist.sum(total), self.dist.sum(count)
            return (total / count).item()
        return float(total) / self.n_train

    def outputs(self, split: str):
        """The model's outputs on a split (under inference mode: see ``evaluate``)."""
        self.model.eval()
        x = self.x[split]
        with self.autocast():
            if not self.file_backed and len(x) <= self.spec.train.eval_chunk:  # one chunk, as is
                return self.run(x).float()
            outs = [self.run(xb).float() for xb in self.eval_batches(split)]
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def predictions(self, out: torch.Tensor) -> np.ndarray:
        task = self.analysis.task
        if task == "classification":
            return out.argmax(dim=1).cpu().numpy()
        if task == "multilabel":
            return (out > 0).long().cpu().numpy()
        return invert_targets(self.spec, self.arrays, out.double().cpu().numpy())

    @torch.inference_mode()
    def evaluate(self, split: str, prefix: str, only: set | None = None) -> tuple[dict, np.ndarray]:
        """Loss and metrics on a split; ``only``: just this metric (per-epoch validation
        computes the loss and the monitored metrics, the rest once at the end)."""
        out = self.outputs(split)
        loss = self.loss_fn(out, self.y[split]).item()
        if only is not None and not only:  # the loss alone (per-epoch validation)
            return {f"{prefix}loss": loss}, None
        pred = self.predictions(out)
        truth = self.arrays.y_true[split]
        if self.analysis.task == "regression" and truth.ndim > 2:  # metrics take 2-D
            truth, pred = truth.reshape(len(truth), -1), pred.reshape(len(pred), -1)
        row = {f"{prefix}loss": loss}
        for m in self.analysis.metrics:
            if only is not None and m.type_name not in only:
                continue
            row[f"{prefix}{m.type_name}"] = float(m.call()(truth, pred))
        return row, pred


def _better(value: float, best: float | None, mode: str, delta: float = 0.0) -> bool:
    if best is None:
        return math.isfinite(value)
    return value < best - delta if mode == "min" else value > best + delta


def fit(analysis, out=None, resume=None, progress: bool | None = None, force: bool = False) -> RunResult:
    """Train an analysed spec, evaluate the best epoch on the test split, write the run."""
    from .distributed import setup

    entered = time.perf_counter()
    tr = analysis.spec.train
    device = resolve_device(tr.device)
    dist = setup(device.type)
    if dist is not None and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    try:
        with torch_settings(analysis, device):
            return _fit(analysis, device, dist, (out, force), resume, progress, entered)
    finally:
        rundir.release_all()  # the API may train again in this process (the kernel frees it on exit)
        if dist is not None:
            dist.close()


def torch_settings(analysis, device):
    """The process-wide torch settings chosen for this spec (intra-op threads; oneDNN
    and NNPACK for small CPU convolutions), restored afterwards so that training from
    the Python API leaves the caller's process as it was."""
    kernels = analysis.onednn() if device.type == "cpu" else None
    return torch_flags(analysis.threads(), kernels, kernels)


@contextmanager
def torch_flags(threads: int | None = None, onednn: bool | None = None, nnpack: bool | None = None):
    """Set intra-op threads, oneDNN and NNPACK (None: leave as is); restore them after."""
    saved = (torch.get_num_threads(), torch.backends.mkldnn.enabled, torch._C._get_nnpack_enabled())
    if threads is not None:
        torch.set_num_threads(threads)
    if onednn is not None:
        torch.backends.mkldnn.enabled = onednn
    if nnpack is not None:
        torch.backends.nnpack.set_flags(nnpack)
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.backends.mkldnn.enabled = saved[1]
        torch.backends.nnpack.set_flags(saved[2])


def _fit(analysis, device, dist, out, resume, progress, entered: float) -> RunResult:
    spec, tr = analysis.spec, analysis.spec.train
    main = dist is None or dist.main
    if tr.deterministic:
        torch.use_deterministic_algorithms(True)
    if tr.compile:
        _check_compile(device)
    if resume and main:
        rundir.lock(Path(resume))
    run_dir = Path(resume) if resume else (_new_run_dir(spec, *out) if main else None)
    t = Trainer(analysis, device, dist)
    board = _tensorboard(run_dir) if tr.tensorboard else None
    state = {"epoch": 0, "best": None, "best_epoch": 0, "bad": 0, "stopped": False}
    best_state = None
    if resume and t.fsdp:
        raise RunError("resuming an FSDP run is not supported yet; resume it with strategy: ddp, or start again")
    if resume and (run_dir / "last.pt").exists():
        best_state = _restore(run_dir, t, state)
        if main:  # -o train.* on resume: applied, and recorded in the run's spec
            (run_dir / "spec.yaml").write_text(spec.to_yaml())
            _truncate_jsonl(run_dir / "metrics.jsonl", state["epoch"])
    elif main:
        if resume:
            print(f"note: {run_dir} has no last.pt yet (no epoch was saved); starting the run from "
                  "its beginning", file=sys.stderr)
        (run_dir / "spec.yaml").write_text(spec.to_yaml())
        (run_dir / "metrics.jsonl").write_text("")
    if main:
        save_preprocess(run_dir, spec, t.arrays)
    has_val = t.arrays.size("val") > 0
    metric_names = set(analysis.watched_metrics())
    es = tr.early_stopping
    last_save = time.monotonic()
    bar = Progress(tr.epochs, enabled=progress if main else False, start=state["epoch"])
    # Everything made so far (modules, classes, the data) lives for the whole run: move it
    # out of the collector's reach, or each full collection rescans ~500k objects (a 3%
    # loss on Iris; docs/performance.md). unfreeze() hands them back afterwards.
    gc.freeze()
    started = time.perf_counter()
    setup_time = started - entered  # data, model and optimizer: build's own cost before the first step
    stop = _GracefulStop()
    try:
        with open(run_dir / "metrics.jsonl" if main else os.devnull, "a") as log:
            for epoch in range(state["epoch"] + 1, tr.epochs + 1):
                epoch_start = time.perf_counter()
                train_loss = t.train_epoch()
                row = {"epoch": epoch, "train_loss": train_loss, "lr": t.opt.param_groups[0]["lr"]}
                if not math.isfinite(train_loss):
                    _save(run_dir, t, state, best_state, last=False)
                    saved = (f" (the best checkpoint so far is {run_dir / 'best.pt'})"
                             if main and (run_dir / "best.pt").exists() else "")
                    err = RunError(f"the training loss became {train_loss} in epoch {epoch}; lower "
                                   f"the learning rate or set train.grad_clip{saved}")
                    err.exit_code = 1
                    raise err
                if has_val:
                    row.update(t.evaluate("val", "val_", only=metric_names)[0])
                watched = row[analysis.monitor]
                if t.sched is not None and spec.scheduler.every == "epoch":
                    t.sched.step()
                elif t.sched is not None and spec.scheduler.every == "metric":
                    t.sched.step(watched)
                if _better(watched, state["best"], analysis.mode):
                    state.update(best=watched, best_epoch=epoch)
                    best_state = t.weights()
                if es is not None:
                    v = row[es.monitor]
                    if _better(v, state.get("es_best"), analysis.es_mode(), es.min_delta):
                        state.update(es_best=v, bad=0)
                    else:
                        state["bad"] += 1
                        state["stopped"] = state["bad"] >= es.patience
                state["epoch"] = epoch
                row["time_s"] = round(time.perf_counter() - epoch_start, 4)  # training and validation
                log.write(json.dumps(row) + "\n")  # flushed with each checkpoint: resume redoes the rest
                if board is not None:
                    for k, v in row.items():
                        if k != "epoch":
                            board.add_scalar(k, v, epoch)
                bar.update(epoch, row, analysis.monitor)
                final = epoch == tr.epochs or state["stopped"]
                # under FSDP, gathering the weights is collective: every rank saves each epoch
                if final or t.fsdp or time.monotonic() - last_save >= tr.checkpoint.interval:
                    log.flush()
                    _save(run_dir, t, state, best_state)
                    last_save = time.monotonic()
                if state["stopped"]:
                    break
                if stop.requested:
                    log.flush()
                    _save(run_dir, t, state, best_state)
                    raise Interrupted(f"interrupted after epoch {epoch}; last.pt is saved; resume "
                                      f"with `specdl build --resume {run_dir}`")
    except torch.OutOfMemoryError:
        err = RunError(f"out of memory on {device} with train.batch_size {tr.batch_size}; lower the batch "
                       "size (or try precision: bf16); the last checkpoint is intact")
        err.exit_code = 1
        raise err from None
    finally:
        stop.restore()
        gc.unfreeze()
        bar.close()
        if board is not None:
            board.close()
    train_time = time.perf_counter() - started
    if best_state is not None:
        t.load_weights(best_state)
    test, pred = t.evaluate("test", "")
    if not main:
        return RunResult({k: v for k, v in test.items() if k != "loss"} | {"loss": test["loss"]}, None,
                         state["best_epoch"])
    onnx = None
    if spec.export.onnx:
        from .export import export_onnx, real_inputs

        onnx = export_onnx(t.model, real_inputs(analysis, t.arrays), run_dir / "model.onnx")
    report = write_report(run_dir, analysis, t, test, pred, state, train_time, device, onnx, setup_time)
    return RunResult(report["test"], run_dir, state["best_epoch"])


def _check_compile(device) -> None:
    """torch.compile needs dynamo on this Python/platform and, on the CPU, a C++ compiler."""
    import shutil

    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        raise RunError("train.compile: torch.compile is not supported on this platform or Python "
                       "version; set train.compile: false")
    if device.type == "cpu" and not (shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")):
        raise RunError("train.compile: torch.compile on the CPU needs a C++ compiler (g++ or clang++) on "
                       "PATH; install one, or set train.compile: false")


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise RunError("train.tensorboard needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter(str(run_dir / "tensorboard"))


class Interrupted(RunError):
    """Ctrl-C: the run stopped cleanly at an epoch boundary and can be resumed."""

    exit_code = 130


class _GracefulStop:
    """First Ctrl-C: finish the epoch, save, stop. Second: stop at once (the previous
    checkpoint stays intact, as checkpoints are written atomically)."""

    def __init__(self):
        import signal
        import threading

        self.requested = False
        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self):
        import signal

        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _restore(run_dir: Path, t: Trainer, state: dict):
    """Load last.pt (and best.pt) into the trainer for --resume; the best weights or None."""
    last = ckpt.load_last(run_dir / "last.pt")
    change = ckpt.shape_change(t.model, last["model"])
    if change:
        raise RunError(f"{run_dir}/spec.yaml no longer matches {run_dir}/last.pt: {change}; undo the "
                       "edit, or build the changed spec as a new run")
    try:
        t.model.load_state_dict(last["model"])
        t.opt.load_state_dict(last["optimizer"])
        if t.sched is not None and last.get("scheduler"):
            t.sched.load_state_dict(last["scheduler"])
        if t.scaler is not None and last.get("scaler"):
            t.scaler.load_state_dict(last["scaler"])
        torch.set_rng_state(last["rng"])
        t.gen.set_state(last["gen"])
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise RunError(f"{run_dir}/last.pt does not fit the run's spec.yaml ({(str(e).splitlines() or [type(e).__name__])[0]}); "
                       "undo the edit to spec.yaml, or start a new run") from None
    state.update(last["state"])
    t.epoch = state["epoch"]  # the epoch counter continues: per-epoch shuffles as uninterrupted
    best = run_dir / "best.pt"
    if not best.exists():
        return None
    best_state = ckpt.load(best)
    change = ckpt.shape_change(t.model, best_state)
    if change:
        raise RunError(f"{best} does not match the run's model: {change}; restore it or delete it")
    return best_state


def _save(run_dir: Path, t: Trainer, state: dict, best_state, last: bool = True) -> None:
    if t.fsdp:
        full = t.weights()  # collective: every rank takes part, rank 0 writes
        if not t.dist.main:
            return
        if best_state is not None:
            ckpt.save_atomic(best_state, run_dir / "best.pt")
        if last:
            ckpt.save_atomic({"model": full, "optimizer": None, "scheduler": None, "scaler": None,
                              "rng": torch.get_rng_state(), "gen": t.gen.get_state(), "state": dict(state)},
                             run_dir / "last.pt")
        return
    if t.dist is not None and not t.dist.main:
        return  # rank 0 writes the run directory
    try:
        _write_checkpoints(run_dir, t, state, best_state, last)
    except OSError as e:
        err = RunError(f"cannot write a checkpoint in {run_dir}: {e.strerror or e}; the previous "
                       "checkpoint is intact (checkpoints are written atomically)")
        err.exit_code = 1
        raise err from None


def _write_checkpoints(run_dir: Path, t: Trainer, state: dict, best_state, last: bool) -> None:
    if best_state is not None:
        ckpt.save_atomic(best_state, run_dir / "best.pt")
    if not last:
        return
    ckpt.save_atomic({
        "model": t.weights() if t.fsdp else t.model.state_dict(),
        "optimizer": t.opt.state_dict(),
        "scheduler": t.sched.state_dict() if t.sched is not None else None,
        "scaler": t.scaler.state_dict() if t.scaler is not None else None,
        "rng": torch.get_rng_state(),
        "gen": t.gen.get_state(),
        "state": dict(state),
    }, run_dir / "last.pt")


def _truncate_jsonl(path: Path, epoch: int) -> None:
    """Keep the rows of the saved epochs; a partial or damaged line (a kill mid-write) goes."""
    if not path.exists():
        return
    keep = []
    for ln in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(ln)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("epoch"), int) and row["epoch"] <= epoch:
            keep.append(ln)
    path.write_text("".join(ln + "\n" for ln in keep))
