"""The trainer: the torch objects of one run and what they do. The data placed on the
device, the model (channels-last, FSDP, torch.compile, DDP), loss, optimizer, scheduler and
AMP, the training batches (slices in memory, the image cache, or a DataLoader over files)
and evaluation chunks, one training epoch, predictions and metrics. Where the run stands
and what it writes is build/run.py's."""

from __future__ import annotations

import sys

import numpy as np
import torch

from ..errors import RunError
from ..runtime import images, inputs, loop, metrics, settings
from .data import invert_targets, prepare
from .images import CachedImages
from .model import build_loss, build_model, build_optimizer, build_scheduler


class Trainer:
    """One run's model, optimizer, batches and evaluation, on ``device`` (under torchrun,
    ``dist``: this rank's process group)."""

    def __init__(self, analysis, plan, device: torch.device, dist=None):
        self.analysis, self.plan, self.spec, self.device, self.dist = analysis, plan, analysis.spec, device, dist
        self._place_data()
        self.n_train = self.arrays.size("train")
        self._refuse_lone_batch()
        self.model, self.run = self._wrap_model(build_model(analysis).to(device))
        self._optimization()
        self.gen = torch.Generator().manual_seed(self.spec.seed)
        self.graphs = plan.cuda_graphs  # the step: a GraphStep, made at first use
        self.graph = None
        self.cached = isinstance(self.x["train"], CachedImages)
        self._eval_loaders: dict = {}
        self.train_loader, self.sampler, self.n_batches = self._train_loader()

    def _place_data(self) -> None:
        """The splits as arrays, and on the device as tensors (file-backed data: datasets,
        read by DataLoaders)."""
        analysis, device = self.analysis, self.device
        self.arrays = prepare(self.spec, analysis)
        ydtype = getattr(torch, self.plan.dtypes.target)
        self.y = {k: torch.as_tensor(v, dtype=ydtype).to(device) for k, v in self.arrays.y.items()}
        self.file_backed = self.spec.data.file_backed or isinstance(self.arrays.x["train"], torch.utils.data.Dataset)
        if self.file_backed:
            self.x = self.arrays.x  # datasets, read by DataLoaders
        elif analysis.graph.named:  # named inputs: each split's Inputs, every input sliced alike
            kinds = {i.name: getattr(torch, i.dtype) for i in analysis.data.inputs}
            self.x = {k: inputs.as_inputs(v, kinds, device) for k, v in self.arrays.x.items()}
        else:
            fdtype = getattr(torch, self.plan.dtypes.input)
            self.x = {k: torch.as_tensor(v, dtype=fdtype).to(device) for k, v in self.arrays.x.items()}

    def _wrap_model(self, model):
        """(the model, what runs it): channels-last, sharded over the ranks (FSDP), compiled,
        gradients all-reduced (DDP), as the spec and the device say."""
        device, dist, spec = self.device, self.dist, self.spec
        self.fsdp = dist is not None and spec.train.distributed.strategy == "fsdp"
        if self.plan.channels_last:  # never under FSDP
            model = model.to(memory_format=torch.channels_last)
        if self.fsdp:  # parameters sharded over the ranks, gathered layer by layer
            model = settings.shard(model)
        run = model
        if self.analysis.heads:  # several outputs: one joined tensor for the loop (runtime/heads.py)
            from ..runtime.heads import Joined

            run = Joined(model)
        run = torch.compile(run) if spec.train.compile else run
        if dist is not None and not self.fsdp:  # gradients all-reduced (averaged) across the ranks
            run = settings.data_parallel(run, device, dist.world)
        return model, run

    def _optimization(self) -> None:
        """Loss, optimizer, scheduler (laid out over the epochs and the optimizer steps of
        an epoch over the whole training split) and mixed precision (autocast, GradScaler)."""
        spec = self.spec
        self.loss_fn = build_loss(self.analysis)
        self.opt = build_optimizer(spec, self.model, self.analysis.frozen())
        self.sched = build_scheduler(spec, self.opt, self.plan.steps_per_epoch(self.n_train), self.analysis.mode)
        self.autocast, self.scaler = loop.mixed_precision(self.device, spec.train.precision)

    def _train_loader(self):
        """(DataLoader, DistributedSampler, batches per epoch on this rank). A DataLoader
        decodes each sample of file-backed data not cached in memory; under torchrun each
        rank reads its share of the files (its sampler's), batch_size / world at a time.
        Otherwise no loader: the batches are slices of tensors."""
        bs, sampler, train_loader = self.plan.batch_size, None, None
        if self.file_backed and not self.cached:
            from ..runtime.workers import auto_workers
            from .images import loader

            self.workers = auto_workers(self.device, self.spec.train.num_workers)
            if self.dist is not None:
                from torch.utils.data import DistributedSampler

                sampler = DistributedSampler(self.x["train"], num_replicas=self.dist.world, rank=self.dist.rank,
                                             shuffle=True, seed=self.spec.seed)
                bs = self.plan.rank_batch
            train_loader = loader(self.x["train"], bs, True, self.gen, self.workers, self.device, sampler=sampler)
        return train_loader, sampler, self.plan.batches_per_epoch(self.n_train, sharded=sampler is not None)

    def _refuse_lone_batch(self) -> None:
        """A training batch of one sample before a batch norm: one line before any
        training (check says it where it knows the data's size; the plan's rule)."""
        lone = self.plan.lone_batch(self.n_train)
        if lone:
            raise RunError(lone)

    # -- full (unsharded) weights, on every rank's CPU under FSDP
    def weights(self) -> dict:
        return settings.full_weights(self.model, self.fsdp)

    def load_weights(self, state: dict) -> None:
        settings.load_full_weights(self.model, state, self.fsdp)

    # -- batches: slices of tensors in memory, or a DataLoader over files
    def set_epoch(self, epoch: int) -> None:
        """The epoch about to train (1 the first): a DistributedSampler shuffles by it."""
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)

    def train_batches(self):
        rank, world = (self.dist.rank, self.dist.world) if self.dist is not None else (0, 1)
        if self.cached:  # slices of the uint8 cache, augmented a batch at a time
            x = self.x["train"]
            return images.image_batches(x.x, x.rows, self.y["train"], self.plan.batch_size, self.gen,
                                        self.device, x.augment, x.post, rank, world)
        if self.file_backed:
            return loop.loader_batches(self.train_loader, self.device)
        return loop.batches(self.x["train"], self.y["train"], self.plan.batch_size, self.gen, rank, world)

    def eval_chunks(self, split: str):
        bs, x = self.plan.eval_chunk, self.x[split]
        if isinstance(x, inputs.Inputs):
            return x.chunks(bs)
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
            self.graph = loop.GraphStep(self.run, self.loss_fn, self.opt, self.plan.batch_size, tr.grad_clip,
                                        self.autocast)
        return {"model": self.run, "loss_fn": self.loss_fn, "optimizer": self.opt, "n_batches": self.n_batches,
                "predict": self.predictions, "scheduler": self.sched,
                "every": self.spec.scheduler.every if self.sched is not None else None, "accumulate": tr.accumulate,
                "grad_clip": tr.grad_clip, "autocast": self.autocast, "scaler": self.scaler, "graph": self.graph,
                "device": self.device, "world": self.dist.world if self.dist is not None else 1}

    def run_epoch(self, epoch: int, state, early) -> tuple[dict, bool]:
        """loop.run_epoch on this run's data: the epoch's row, and whether it is the best;
        a batch of one sample at a batch norm is a RunError, a step that cannot be
        captured in a CUDA graph a note (eager from then on)."""
        form = getattr(metrics, self.analysis.epoch_form())
        watched = self.metric_fns(set(self.analysis.watched_metrics()), form)
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

    def metric_fns(self, only: set | None = None, form=None) -> dict:
        """The metrics (``only``: those named), name -> fn(y_true, y_pred), in their per-epoch
        ``form`` where given; several outputs: each head's, ``<metric>[<target>]``."""
        if self.analysis.heads:
            from .heads import head_metrics

            fns = head_metrics(self.analysis, self.loss_fn, only)
        else:
            fns = self.analysis.metric_fns(only)
        return {k: form(k, fn) for k, fn in fns.items()} if form else fns

    def predictions(self, out: torch.Tensor, curves: bool = False) -> np.ndarray:
        """The predictions (carrying the probabilities where a metric reads them, or ``curves``:
        loop.scored_predictions); several outputs: each head's."""
        if self.analysis.heads:
            from .heads import head_predict

            return head_predict(self.analysis, self.arrays, out, curves)
        name, args = self.analysis.predictor(curves)
        return getattr(loop, name)(out, **args, invert=lambda y: invert_targets(self.spec, self.arrays, y),
                                   threshold=self.spec.train.threshold)
