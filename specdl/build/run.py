"""One run, start to end: ``fit`` (what ``specdl build`` and ``specdl.train`` call), the run
directory held for it, and ``Run``: where the run stands (RunState, the best weights so far),
the epoch loop with its hooks around each epoch, Keras-callback style (metrics.jsonl,
TensorBoard, progress, the caller's ``on_epoch``, checkpoints), Ctrl-C (finish the epoch,
save, stop), and the test of the best epoch with the report. The torch objects are the
trainer's (build/trainer.py); what checkpoints hold, build/checkpoints.py's."""

from __future__ import annotations

import functools
import gc
import json
import math
import os
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import manifest
from ..errors import RunError
from ..front.plan import plan as make_plan
from ..runtime import loop
from . import checkpoints as ckpt
from .device import check_compile, check_graphs, resolve_device, torch_settings
from .preprocess import PREPROCESS, save_preprocess
from .progress import Progress
from .report import plot_files, write_report
from .trainer import Trainer


@dataclass
class RunResult:
    """What ``train`` returns: test metrics and the run directory (unpacks as a pair)."""

    metrics: dict
    run_dir: Path
    best_epoch: int

    def __iter__(self):
        return iter((self.metrics, self.run_dir))


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
    plan = make_plan(analysis, device.type, dist.world if dist is not None else 1)
    try:
        with torch_settings(plan, device, tr.deterministic):
            return _fit(analysis, plan, device, dist, out, resume, progress, entered, force, on_epoch)
    finally:
        if dist is not None:
            dist.close()


def _fit(analysis, plan, device, dist, out, resume, progress, entered: float, force: bool = False,
         on_epoch=None) -> RunResult:
    tr = analysis.spec.train
    main = dist is None or dist.main
    if tr.compile:
        check_compile(device)
    check_graphs(tr.cuda_graphs, device, dist)
    held = _open_run_dir(analysis.spec, out, resume, force) if main else None
    done = False
    try:
        run_dir = Path(resume) if resume else held.path if held else None
        run = Run(analysis, Trainer(analysis, plan, device, dist), run_dir, main)
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


class Run:
    """One run: the trainer, where it stands (RunState, the best weights) and what it
    writes (metrics.jsonl, checkpoints, TensorBoard, progress)."""

    def __init__(self, analysis, trainer: Trainer, run_dir: Path | None, main: bool):
        self.analysis, self.spec, self.trainer, self.run_dir, self.main = analysis, analysis.spec, trainer, run_dir, main
        self.state, self.best_state, self.last_save = loop.RunState(), None, time.monotonic()
        es = self.spec.train.early_stopping
        self.early = (es.monitor, analysis.es_mode(), es.patience, es.min_delta) if es is not None else None
        self.on_epoch = None

    def start(self, resume) -> None:
        """A new run, or (``resume``) last.pt put back; spec.yaml, metrics.jsonl (cut to the
        restored epoch) and the fitted preprocessing written (rank 0)."""
        run_dir, t = self.run_dir, self.trainer
        last = ckpt.last_checkpoint(run_dir) if resume else None
        if resume and t.fsdp:
            raise RunError("resuming an FSDP run is not supported yet; resume it with strategy: ddp, or start again")
        if resume and last is None and self.main:
            print(f"specdl: note: {run_dir} has no last.pt yet; the run starts from its beginning", file=sys.stderr)
        if last is not None:
            self.state, self.best_state = ckpt.restore(run_dir, t, last)
        if self.main:
            manifest.record(run_dir, "spec.yaml", "metrics.jsonl", PREPROCESS)  # specdl's: --force may replace them
            (run_dir / "spec.yaml").write_text(self.spec.to_yaml())  # on resume: with the overrides applied
            if last is None:
                (run_dir / "metrics.jsonl").write_text("")
            else:
                ckpt.truncate_metrics(run_dir / "metrics.jsonl", self.state.epoch)
            save_preprocess(run_dir, self.spec, t.arrays)

    def epochs(self, progress) -> None:
        """The epoch loop: each epoch's row goes to the hooks, in order; the loop ends where
        early stopping says so, or at Ctrl-C (once the checkpoint hook has saved)."""
        tr = self.spec.train
        with ExitStack() as closing:
            stop = closing.enter_context(_GracefulStop())
            hooks = self._hooks(progress, stop, closing)
            # Everything made so far (modules, classes, the data) lives for the whole run: move it
            # out of the collector's reach, or each full collection rescans ~500k objects (a 3%
            # loss on Iris; docs/performance.md). unfreeze() hands them back afterwards.
            gc.freeze()
            closing.callback(gc.unfreeze)
            for epoch in range(self.state.epoch + 1, tr.epochs + 1):
                row = self.epoch(epoch)
                for hook in hooks:
                    hook.epoch_end(epoch, row)
                if self.state.stopped:
                    break
                if stop.requested:
                    raise Interrupted(f"interrupted after epoch {epoch}; last.pt is saved; resume "
                                      f"with `specdl build --resume {self.run_dir}`")

    def _hooks(self, progress, stop, closing: ExitStack) -> list:
        """What happens after each epoch, in this order: the row written to metrics.jsonl,
        TensorBoard's scalars, the progress bar or line, the caller's on_epoch, the
        checkpoint. ``closing`` closes them when the loop ends, however it ends."""
        tr, main = self.spec.train, self.main
        bar = closing.enter_context(_ProgressHook(Progress(tr.epochs, enabled=progress if main else False,
                                                           start=self.state.epoch), self.analysis.monitor))
        board = closing.enter_context(_TensorBoard(self.run_dir)) if tr.tensorboard and main else None
        log = closing.enter_context(_MetricsLog(self.run_dir / "metrics.jsonl" if main else os.devnull))
        on_epoch = [_OnEpoch(log, self.on_epoch)] if self.on_epoch is not None else []
        return [log, *[board] * (board is not None), bar, *on_epoch, _Checkpoint(self, stop, log)]

    def epoch(self, epoch: int) -> dict:
        """Train one epoch, validate, note the best epoch: the row of metrics.jsonl."""
        t, start = self.trainer, time.perf_counter()
        t.set_epoch(epoch)
        try:
            row, best = t.run_epoch(epoch, self.state, self.early)
        except FloatingPointError as e:  # loop.run_epoch: the training loss is not finite
            ckpt.save(self.run_dir, t, self.state, self.best_state, last=False)
            best = self.run_dir / "best.pt" if self.run_dir is not None else None
            saved = f"the best checkpoint so far is {best}" if best is not None and best.exists() else \
                "no checkpoint was written yet"
            raise RunError(f"{e}; lower the learning rate or set train.grad_clip ({saved})", exit_code=1) from None
        if best:
            self.best_state = t.weights()
        row["time_s"] = round(time.perf_counter() - start, 4)  # training and validation
        return row

    def finish(self, train_time: float, setup_time: float) -> RunResult:
        """Test the best epoch's weights; report (rank 0)."""
        t, state = self.trainer, self.state
        if self.best_state is not None:
            t.load_weights(self.best_state)
        metrics, names = t.metric_fns(), self.analysis.target_names()
        by_target = functools.partial(loop.per_target, metrics, names=names) if names is not None else None
        training = t.training() | {"predict": functools.partial(t.predictions, curves=True)}  # roc.png, pr.png
        test, pred = loop.test_best(training, t.eval_chunks("test"), t.y["test"], t.arrays.y_true["test"],
                                    metrics, by_target)
        if not self.main:
            return RunResult(test, None, state.best_epoch)
        from .onnx import EXAMPLES, save_examples

        manifest.record(self.run_dir, EXAMPLES, "report.json", "curves.png", *plot_files(self.analysis),
                        *["model.onnx"] * bool(self.spec.export.onnx))
        save_examples(self.run_dir, self.analysis, t.arrays)  # export then needs no data at hand
        onnx = None
        if self.spec.export.onnx:
            from .onnx import export_onnx, real_inputs

            onnx = export_onnx(t.model, real_inputs(self.analysis, t.arrays), self.run_dir / "model.onnx",
                               list(self.analysis.heads or []))  # several outputs: one named output per head
        report = write_report(self.run_dir, self.analysis, t, test, pred, state, train_time, t.device, onnx,
                              setup_time)
        return RunResult(report["test"], self.run_dir, state.best_epoch)


# -- the hooks around each epoch: epoch_end(epoch, row), and closed when the loop ends

class _Hook:
    def epoch_end(self, epoch: int, row: dict) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        pass


class _MetricsLog(_Hook):
    """metrics.jsonl, a row per epoch (rank 0; the others write to os.devnull), flushed
    with each checkpoint: a resume redoes the rows after it."""

    def __init__(self, path):
        self.file = open(path, "a")
        self.said: set[str] = set()

    def epoch_end(self, epoch: int, row: dict) -> None:
        undefined = sorted(k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v))
        for k in set(undefined) - self.said:  # JSON has no NaN: null, and a note the first time
            self.said.add(k)
            why = ("training diverged" if k.endswith("_loss") else
                   "not defined on the validation split: it lacks a class, or has too few samples")
            print(f"specdl: note: {k} is {row[k]} at epoch {epoch} ({why}); metrics.jsonl holds null there",
                  file=sys.stderr)
        self.file.write(json.dumps({k: None if k in undefined else v for k, v in row.items()}) + "\n")

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class _TensorBoard(_Hook):
    """train.tensorboard: each value of the row as a scalar; the event files go into the
    run's manifest when closed."""

    def __init__(self, run_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise RunError("train.tensorboard needs the tensorboard package: pip install tensorboard") from None
        manifest.record(run_dir, "tensorboard")
        self.run_dir, self.board = run_dir, SummaryWriter(str(run_dir / "tensorboard"))

    def epoch_end(self, epoch: int, row: dict) -> None:
        for k, v in row.items():
            if k != "epoch":
                self.board.add_scalar(k, v, epoch)

    def close(self) -> None:
        self.board.close()
        events = (self.run_dir / "tensorboard").glob("events.out.tfevents.*")
        manifest.record(self.run_dir, *(f"tensorboard/{p.name}" for p in events))


class _ProgressHook(_Hook):
    def __init__(self, bar: Progress, monitor: str):
        self.bar, self.monitor = bar, monitor

    def epoch_end(self, epoch: int, row: dict) -> None:
        self.bar.update(epoch, row, self.monitor)

    def close(self) -> None:
        self.bar.close()


class _OnEpoch(_Hook):
    """The caller's ``on_epoch(epoch, row)``, once the row is in metrics.jsonl on disk."""

    def __init__(self, log: _MetricsLog, fn):
        self.log, self.fn = log, fn

    def epoch_end(self, epoch: int, row: dict) -> None:
        self.log.flush()
        self.fn(epoch, row)


class _Checkpoint(_Hook):
    """last.pt (and best.pt) every train.checkpoint.interval seconds, and after the last
    epoch (the last of train.epochs, early stopping's, a Ctrl-C's); under FSDP gathering
    the weights is collective, so every rank saves each epoch."""

    def __init__(self, run: Run, stop: _GracefulStop, log: _MetricsLog):
        self.run, self.stop, self.log = run, stop, log

    def epoch_end(self, epoch: int, row: dict) -> None:
        run = self.run
        now = epoch == run.spec.train.epochs or run.state.stopped or self.stop.requested
        if now or run.trainer.fsdp or time.monotonic() - run.last_save >= run.spec.train.checkpoint.interval:
            self.log.flush()
            ckpt.save(run.run_dir, run.trainer, run.state, run.best_state)
            run.last_save = time.monotonic()


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

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.restore()

    def restore(self):
        import signal

        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
