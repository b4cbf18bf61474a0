"""The training loop: in-memory batching by seeded permutation, validation each epoch,
best-epoch selection, atomic checkpoints, resume, and the run directory."""

from __future__ import annotations

import functools
import gc
import json
import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .. import manifest
from ..errors import RunError
from ..front.analysis import lone_batch
from ..runtime import images, loop, settings
from . import checkpoints as ckpt
from .data import invert_targets, prepare
from .images import CachedImages
from .model import build_loss, build_model, build_optimizer, build_scheduler
from .preprocess import PREPROCESS, save_preprocess
from .report import Progress, write_report


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
            self.run = settings.data_parallel(self.run, device, dist.world)
        self.loss_fn = build_loss(analysis)
        self.opt = build_optimizer(spec, self.model, analysis.frozen())
        self.n_train = self.arrays.size("train")
        self.n_batches = math.ceil(self.n_train / spec.train.batch_size)
        self._refuse_lone_batch(dist)
        self.steps_per_epoch = math.ceil(self.n_batches / spec.train.accumulate)
        self.sched = build_scheduler(spec, self.opt, self.steps_per_epoch, analysis.mode)
        self.autocast, self.scaler = loop.mixed_precision(device, spec.train.precision)
        self.gen = torch.Generator().manual_seed(spec.seed)
        self.graphs = analysis.cuda_graphs(device.type, dist is not None)  # the step: a GraphStep, made at first use
        self.graph = None
        self.sampler = None
        self._eval_loaders: dict = {}
        self.cached = isinstance(self.x["train"], CachedImages)
        if self.file_backed and not self.cached:  # a DataLoader decodes each sample
            from .images import loader, workers

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

    def _refuse_lone_batch(self, dist) -> None:
        """A training batch of one sample before a batch norm: one line before any
        training (check says it where it knows the data's size)."""
        lone = lone_batch(self.analysis.graph, self.n_train, self.spec.train.batch_size) if dist is None else None
        if lone:
            raise RunError(lone)

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
        rank, world = (self.dist.rank, self.dist.world) if self.dist is not None else (0, 1)
        if self.cached:  # slices of the uint8 cache, augmented a batch at a time
            x = self.x["train"]
            return images.image_batches(x.x, x.rows, self.y["train"], self.spec.train.batch_size, self.gen,
                                        self.device, x.augment, x.post, rank, world)
        if self.file_backed:
            self.epoch += 1
            if self.sampler is not None:
                self.sampler.set_epoch(self.epoch)
            return loop.loader_batches(self.train_loader, self.device)
        return loop.batches(self.x["train"], self.y["train"], self.spec.train.batch_size, self.gen, rank, world)

    def eval_chunks(self, split: str):
        bs, x = self.spec.train.eval_chunk, self.x[split]
        if not self.file_backed:
            return loop.chunks(x, bs)
        if self.cached:
            return images.image_chunks(x.x, x.rows, bs, self.device, x.post)
        if split not in self._eval_loaders:  # one loader per split: persistent workers start once
            from .images import loader

            self._eval_loaders[split] = loader(x, bs, False, None, self.workers, self.device)
        return loop.chunks(self._eval_loaders[split], bs, self.device)

    # -- what an epoch trains with (runtime/loop.py's run_epoch and test_best)
    def training(self) -> dict:
        """What loop.run_epoch and loop.test_best train and evaluate with (a script's ``training``)."""
        tr = self.spec.train
        if self.graphs and self.graph is None:  # after a resume's restore: the optimizer's state is in place
            self.graph = loop.GraphStep(self.run, self.loss_fn, self.opt, tr.batch_size, tr.grad_clip, self.autocast)
        return {"model": self.run, "loss_fn": self.loss_fn, "optimizer": self.opt, "n_batches": self.n_batches,
                "predict": self.predictions, "scheduler": self.sched,
                "every": self.spec.scheduler.every if self.sched is not None else None, "accumulate": tr.accumulate,
                "grad_clip": tr.grad_clip, "autocast": self.autocast, "scaler": self.scaler, "graph": self.graph,
                "device": self.device, "world": self.dist.world if self.dist is not None else 1}

    def run_epoch(self, epoch: int, state, early) -> tuple[dict, bool]:
        """loop.run_epoch on this run's data: the epoch's row, and whether it is the best;
        a batch of one sample at a batch norm is a RunError, a step that cannot be
        captured in a CUDA graph a note (eager from then on)."""
        watched = {k: loop.epoch_metric(k, fn) for k, fn in self.metric_fns(set(self.analysis.watched_metrics())).items()}
        try:
            out = loop.run_epoch(epoch, self.training(), self.train_batches(), lambda: self.eval_chunks("val"),
                                 self.y["val"], self.arrays.y_true["val"], watched, state, self.analysis.monitor,
                                 self.analysis.mode, early)
        except ValueError as e:  # a batch norm inside a backbone or module: not seen by lone_batch
            if "more than 1 value per channel" not in str(e):
                raise
            raise RunError(f"a training batch of one sample reached a batch norm, which cannot normalise it "
                           f"({self.n_train} training samples, train.batch_size {self.spec.train.batch_size}); "
                           "use another train.batch_size") from None
        finally:
            if self.graph is not None and self.graph.broken is not None:  # eager from now on, as without graphs
                print(f"specdl: note: train.cuda_graphs: this training step cannot be captured in a CUDA graph "
                      f"({self.graph.broken}); it runs eagerly", file=sys.stderr)
                self.graphs, self.graph = False, None
        return out

    def predictions(self, out: torch.Tensor) -> np.ndarray:
        return loop.predictions(out, self.analysis.kind, lambda y: invert_targets(self.spec, self.arrays, y),
                                self.spec.train.threshold)

    def metric_fns(self, only: set | None = None) -> dict:
        """The spec's metrics (or just those in ``only``), name -> fn(y_true, y_pred)."""
        return {m.type_name: m.call() for m in self.analysis.metrics if only is None or m.type_name in only}


def fit(analysis, out=None, resume=None, progress: bool | None = None, force: bool = False,
        on_epoch=None) -> RunResult:
    """Train an analysed spec, evaluate the best epoch on the test split, write the run.

    ``on_epoch(epoch, row)`` is called after each epoch's row of metrics.jsonl is written
    (specdl tune reports it to the pruner; an exception it raises stops the run)."""
    from .distributed import setup

    entered = time.perf_counter()
    tr = analysis.spec.train
    device = resolve_device(tr.device)
    dist = setup(device.type)
    if dist is not None and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    try:
        with torch_settings(analysis, device):
            return _fit(analysis, device, dist, out, resume, progress, entered, force, on_epoch)
    finally:
        if dist is not None:
            dist.close()


def torch_settings(analysis, device):
    """The process-wide torch settings chosen for this spec (intra-op threads; oneDNN
    and NNPACK for small CPU convolutions), restored afterwards so that training from
    the Python API leaves the caller's process as it was."""
    return torch_flags(device, analysis.threads(), analysis.onednn(), analysis.spec.train.deterministic)


@contextmanager
def torch_flags(device, threads: int | None = None, onednn: bool | None = None, deterministic: bool = False):
    """runtime/settings.py's torch_settings, as a generated script calls it (None: leave
    a setting as it is), and where asked deterministic algorithms; restored after."""
    saved = (torch.get_num_threads(), torch.backends.mkldnn.enabled, torch._C._get_nnpack_enabled(),
             torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
             torch.backends.cudnn.benchmark)
    settings.torch_settings(device, threads, onednn)
    if deterministic:
        _deterministic()
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.backends.mkldnn.enabled = saved[1]
        torch.backends.nnpack.set_flags(saved[2])
        torch.use_deterministic_algorithms(saved[3])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[4], saved[5]


def _fit(analysis, device, dist, out, resume, progress, entered: float, force: bool = False,
         on_epoch=None) -> RunResult:
    tr = analysis.spec.train
    main = dist is None or dist.main
    if tr.compile:
        _check_compile(device)
    _check_graphs(tr.cuda_graphs, device, dist)
    held = _open_run_dir(analysis.spec, out, resume, force) if main else None
    done = False
    try:
        run_dir = Path(resume) if resume else held.path if held else None
        run = _Run(analysis, Trainer(analysis, device, dist), run_dir, main)
        run.on_epoch = on_epoch
        run.start(resume)
        started = time.perf_counter()
        run.epochs(progress)
        result = run.finish(time.perf_counter() - started, started - entered)
        done = True
        return result
    except torch.OutOfMemoryError:
        raise RunError(f"out of memory on {device} with train.batch_size {tr.batch_size}; lower the batch "
                       "size (or try precision: bf16); the last checkpoint is intact", exit_code=1) from None
    finally:
        if held is not None:
            held.close(failed=not done)  # a failed start (bad weights, NaN in epoch 1) leaves no run behind


def _open_run_dir(spec, out, resume, force):
    from . import rundir

    if resume:
        held = rundir.RunDir(Path(resume)).lock()
        try:
            note = rundir.resumable(held.path)
        except RunError:
            held.close()
            raise
        if note:
            print(note, file=sys.stderr)
        ckpt.clear_orphans(held.path)  # a killed run's partial writes
        return held
    return rundir.new_run(spec, out, force)


class _Run:
    """One run: the trainer, where it stands (RunState, the best weights) and what it
    writes (metrics.jsonl, checkpoints, TensorBoard, progress)."""

    def __init__(self, analysis, t: Trainer, run_dir: Path | None, main: bool):
        self.analysis, self.spec, self.t, self.run_dir, self.main = analysis, analysis.spec, t, run_dir, main
        self.state, self.best_state, self.last_save = loop.RunState(), None, time.monotonic()
        es = self.spec.train.early_stopping
        self.early = (es.monitor, analysis.es_mode(), es.patience, es.min_delta) if es is not None else None
        self.on_epoch = None

    def start(self, resume) -> None:
        from . import rundir

        run_dir, t = self.run_dir, self.t
        last = rundir.last_checkpoint(run_dir) if resume else None
        if resume and t.fsdp:
            raise RunError("resuming an FSDP run is not supported yet; resume it with strategy: ddp, or start again")
        if resume and last is None and self.main:
            print(f"specdl: note: {run_dir} has no last.pt yet; the run starts from its beginning", file=sys.stderr)
        if last is not None:
            self.restore(last)
        if self.main:
            manifest.record(run_dir, "spec.yaml", "metrics.jsonl", PREPROCESS)  # specdl's: --force may replace them
            (run_dir / "spec.yaml").write_text(self.spec.to_yaml())  # on resume: with the overrides applied
            if last is None:
                (run_dir / "metrics.jsonl").write_text("")
            else:
                from .rundir import truncate_metrics

                truncate_metrics(run_dir / "metrics.jsonl", self.state.epoch)
            save_preprocess(run_dir, self.spec, t.arrays)

    def restore(self, last: dict) -> None:
        t, path = self.t, self.run_dir / "last.pt"
        change = ckpt.shape_change(t.model, last["model"])
        if change:
            raise RunError(f"{path} does not match {self.run_dir / 'spec.yaml'} (was the spec edited?): {change}")
        try:
            t.model.load_state_dict(last["model"])
            t.opt.load_state_dict(last["optimizer"])
            if t.sched is not None and last.get("scheduler"):
                _same_layout(self.spec, t.sched.state_dict(), last["scheduler"])
                t.sched.load_state_dict(last["scheduler"])
            if last.get("scaler"):
                t.scaler.load_state_dict(last["scaler"])
            ckpt.set_rng_states(last, t.gen)
            self.state = loop.RunState(**last["state"])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            first = next((ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()), str(e).splitlines()[0] if str(e) else "")
            raise RunError(f"{path} does not match {self.run_dir / 'spec.yaml'} (was the spec edited, or a shape "
                           f"key overridden?): {first[:200]}") from None
        t.epoch = self.state.epoch  # file-backed shuffles (DistributedSampler) go on from this epoch
        best = self.run_dir / "best.pt"
        self.best_state = ckpt.load(best) if best.exists() else None

    def epochs(self, progress) -> None:
        tr = self.spec.train
        bar = Progress(tr.epochs, enabled=progress if self.main else False, start=self.state.epoch)
        board = _tensorboard(self.run_dir) if tr.tensorboard and self.main else None
        # Everything made so far (modules, classes, the data) lives for the whole run: move it
        # out of the collector's reach, or each full collection rescans ~500k objects (a 3%
        # loss on Iris; docs/performance.md). unfreeze() hands them back afterwards.
        gc.freeze()
        stop = _GracefulStop()
        try:
            with open(self.run_dir / "metrics.jsonl" if self.main else os.devnull, "a") as log:
                for epoch in range(self.state.epoch + 1, tr.epochs + 1):
                    row = self.epoch(epoch)
                    log.write(json.dumps(row) + "\n")  # flushed with each checkpoint: resume redoes the rest
                    if board is not None:
                        for k, v in row.items():
                            if k != "epoch":
                                board.add_scalar(k, v, epoch)
                    bar.update(epoch, row, self.analysis.monitor)
                    if self.on_epoch is not None:
                        log.flush()
                        self.on_epoch(epoch, row)
                    self.checkpoint(log, epoch == tr.epochs or self.state.stopped or stop.requested)
                    if self.state.stopped:
                        break
                    if stop.requested:
                        raise Interrupted(f"interrupted after epoch {epoch}; last.pt is saved; resume "
                                          f"with `specdl build --resume {self.run_dir}`")
        finally:
            stop.restore()
            gc.unfreeze()
            bar.close()
            if board is not None:
                _close_tensorboard(board, self.run_dir)

    def epoch(self, epoch: int) -> dict:
        """Train one epoch, validate, note the best epoch: the row of metrics.jsonl."""
        t, start = self.t, time.perf_counter()
        try:
            row, best = t.run_epoch(epoch, self.state, self.early)
        except FloatingPointError as e:  # loop.run_epoch: the training loss is not finite
            _save(self.run_dir, t, self.state, self.best_state, last=False)
            best = self.run_dir / "best.pt" if self.run_dir is not None else None
            saved = f"the best checkpoint so far is {best}" if best is not None and best.exists() else \
                "no checkpoint was written yet"
            raise RunError(f"{e}; lower the learning rate or set train.grad_clip ({saved})", exit_code=1) from None
        if best:
            self.best_state = t.weights()
        row["time_s"] = round(time.perf_counter() - start, 4)  # training and validation
        return row

    def checkpoint(self, log, now: bool) -> None:
        """last.pt (and best.pt) every checkpoint.interval seconds, and when ``now``;
        under FSDP gathering the weights is collective, so every rank saves each epoch."""
        if now or self.t.fsdp or time.monotonic() - self.last_save >= self.spec.train.checkpoint.interval:
            log.flush()
            _save(self.run_dir, self.t, self.state, self.best_state)
            self.last_save = time.monotonic()

    def finish(self, train_time: float, setup_time: float) -> RunResult:
        """Test the best epoch's weights; report (rank 0)."""
        t, state = self.t, self.state
        if self.best_state is not None:
            t.load_weights(self.best_state)
        metrics, names = t.metric_fns(), self.analysis.target_names()
        by_target = functools.partial(loop.per_target, metrics, names=names) if names is not None else None
        test, pred = loop.test_best(t.training(), t.eval_chunks("test"), t.y["test"], t.arrays.y_true["test"],
                                    metrics, by_target)
        if not self.main:
            return RunResult(test, None, state.best_epoch)
        from .onnx import EXAMPLES, save_examples

        manifest.record(self.run_dir, EXAMPLES, "report.json", "curves.png",
                        *["confusion.png"] * (self.analysis.task == "classification"),
                        *["model.onnx"] * bool(self.spec.export.onnx))
        save_examples(self.run_dir, self.analysis, t.arrays)  # export then needs no data at hand
        onnx = None
        if self.spec.export.onnx:
            from .onnx import export_onnx, real_inputs

            onnx = export_onnx(t.model, real_inputs(self.analysis, t.arrays), self.run_dir / "model.onnx")
        report = write_report(self.run_dir, self.analysis, t, test, pred, state, train_time, t.device, onnx,
                              setup_time)
        return RunResult(report["test"], self.run_dir, state.best_epoch)


def _same_layout(spec, fresh: dict, saved: dict) -> None:
    """A scheduler laid out over the run's length (onecycle's steps, cosine's T_max) cannot
    go on over another length: resuming with other train.epochs (or batches per epoch)
    would end it early, or step past its end."""
    sched = spec.scheduler
    for key in sched.layout:
        if key in saved and saved[key] != fresh.get(key):
            raise RunError(f"scheduler {sched.type_name} was laid out for the run as it started ({key} "
                           f"{saved[key]}); with train.epochs {spec.train.epochs} and batch_size "
                           f"{spec.train.batch_size} it would be {fresh.get(key)}: resume with the run's "
                           "train.epochs and batch_size, or start a new run")


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


def _deterministic() -> None:
    """make_deterministic, and a note where this process used CUDA before without
    CUBLAS_WORKSPACE_CONFIG (cuBLAS read it then: its results may still vary)."""
    from ..runtime.settings import make_deterministic

    late = "CUBLAS_WORKSPACE_CONFIG" not in os.environ and torch.cuda.is_initialized()
    make_deterministic()
    if late:
        print("specdl: note: train.deterministic: this process used CUDA before the run, so cuBLAS may not "
              "be deterministic; set CUBLAS_WORKSPACE_CONFIG=:4096:8 before the process starts", file=sys.stderr)


def _check_graphs(asked, device, dist) -> None:
    """``train.cuda_graphs: true`` where it cannot run (check has ruled out the spec's
    own conflicts): without a CUDA device, or under torchrun."""
    if asked is not True:
        return
    if device.type != "cuda":
        raise RunError(f"train.cuda_graphs: true needs a CUDA GPU, and this run's device is {device} (torch sees "
                       "no CUDA GPU here); use -o train.cuda_graphs=auto (or false)")
    if dist is not None:
        raise RunError("train.cuda_graphs: true does not run under torchrun (--nproc) in this version; use "
                       "-o train.cuda_graphs=auto (or false)")


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise RunError("train.tensorboard needs the tensorboard package: pip install tensorboard") from None
    manifest.record(run_dir, "tensorboard")
    return SummaryWriter(str(run_dir / "tensorboard"))


def _close_tensorboard(board, run_dir: Path) -> None:
    """Close the writer; its event files go into the run's manifest."""
    board.close()
    manifest.record(run_dir, *(f"tensorboard/{p.name}" for p in (run_dir / "tensorboard").glob("events.out.tfevents.*")))


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


def _save(run_dir: Path, t: Trainer, state: dict, best_state, last: bool = True) -> None:
    if t.fsdp:
        full = t.weights()  # collective: every rank takes part, rank 0 writes
        if not t.dist.main:
            return
        manifest.record(run_dir, *["best.pt"] * (best_state is not None), *["last.pt"] * last)
        if best_state is not None:
            ckpt.save_atomic(best_state, run_dir / "best.pt")
        if last:
            ckpt.save_atomic({"model": full, "optimizer": None, "scheduler": None, "scaler": None,
                              **ckpt.rng_states(t.gen), "state": asdict(state)}, run_dir / "last.pt")
        return
    if t.dist is not None and not t.dist.main:
        return  # rank 0 writes the run directory
    manifest.record(run_dir, *["best.pt"] * (best_state is not None), *["last.pt"] * last)
    try:
        _write_checkpoints(run_dir, t, state, best_state, last)
    except OSError as e:
        raise RunError(f"cannot write a checkpoint in {run_dir}: {e.strerror or e}; the previous "
                       "checkpoint is intact (checkpoints are written atomically)", exit_code=1) from None


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
        **ckpt.rng_states(t.gen),
        "state": asdict(state),
    }, run_dir / "last.pt")
