"""The run plan: how a checked spec trains on a given kind of device, settled once.

``plan(analysis, device_type, world_size)`` turns the facts of an ``Analysis`` (the static
cost model, the layers, the data's dtype) and the spec's ``train`` settings into a frozen
``RunPlan``: the runtime policy (intra-op threads, oneDNN, channels-last, CUDA graphs) with
its thresholds, the dtypes of the arrays (as names: the front end never imports torch), the
batch size, the evaluation chunk and the batches per epoch. Build makes one for the device it
resolved; codegen renders its settings from plans for "cpu" and "cuda"; a finished run reads
its dtypes with ``dtypes``. Nothing else asks an ``Analysis`` for a policy."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .analysis import graph_blockers, lone_batch

# Below this many multiply-adds per training step, one intra-op thread is faster than
# two: the work is too small to split, and a second thread only adds wake-up latency
# (and fights a busy core). Measured by bench/choices.py; see docs/performance.md.
SMALL_STEP_MACS = 20_000_000
# Below this (a batch's forward multiply-adds, at one thread) torch's plain convolution
# kernels beat oneDNN's (docs/performance.md: digits 0.21 M and a 16x16 conv net 2.4 M
# faster plain; a strided 32x32 conv net 3.9 M, text_cnn 7.9 M, cifar_cnn 52 M faster with oneDNN).
ONEDNN_STEP_MACS = 3_000_000

# Below this many multiply-adds per training step (forward, one batch), a step on a GPU
# is launch-bound: its kernels take less time than launching them one by one, so
# `train.cuda_graphs: auto` replays the step as one CUDA graph (docs/performance.md).
GRAPH_STEP_MACS = 20_000_000_000


@dataclass(frozen=True)
class Dtypes:
    """The dtypes of a spec's arrays, as names (numpy and torch spell them alike)."""

    read: str    # the features as read, before the transforms: int64 token ids, else float64
    input: str   # the model's input tensor: int64 token ids, else float32
    target: str  # the loss's targets: int64 class indices, else float32


def dtypes(analysis) -> Dtypes:
    """The dtypes of an analysed spec's arrays (the same on every device)."""
    tokens = analysis.data.dtype == "int64"
    return Dtypes("int64" if tokens else "float64", "int64" if tokens else "float32",
                  "int64" if analysis.task == "classification" else "float32")


@dataclass(frozen=True)
class RunPlan:
    """How a spec's run trains on one kind of device with ``world_size`` processes."""

    device_type: str
    world_size: int
    threads: int | None     # intra-op threads; None leaves torch's default
    onednn: bool | None     # oneDNN and NNPACK on or off for CPU convolutions; None (not a CPU): as torch has them
    channels_last: bool     # the model's 4-D weights (and so its activations) kept NHWC
    cuda_graphs: bool       # the training step replayed as a CUDA graph
    dtypes: Dtypes
    batch_size: int         # the global batch (each of the world's processes takes its share)
    eval_chunk: int         # evaluation runs in chunks of this many samples
    accumulate: int         # batches per optimizer step
    graph: object = field(repr=False, compare=False)

    @property
    def rank_batch(self) -> int:
        """The batch each process reads where a sampler shares the rows out (a DataLoader)."""
        return self.batch_size // self.world_size

    def batches_per_epoch(self, rows: int, sharded: bool = False) -> int:
        """Training batches of an epoch over ``rows`` samples: slices of the global batch
        (in memory, or the uint8 image cache), or, ``sharded``, each process's
        ``rank_batch``-sized batches of its share of the rows (a DistributedSampler's:
        ceil(rows / world_size) each)."""
        if sharded and self.world_size > 1:
            return math.ceil(math.ceil(rows / self.world_size) / self.rank_batch)
        return math.ceil(rows / self.batch_size)

    def steps_per_epoch(self, rows: int, sharded: bool = False) -> int:
        """Optimizer steps of an epoch (one every ``accumulate`` batches, and the last)."""
        return math.ceil(self.batches_per_epoch(rows, sharded) / self.accumulate)

    def lone_batch(self, rows: int) -> str | None:
        """What to change where a training batch of one sample reaches a batch norm that
        cannot normalise it (``analysis.lone_batch``), ``rows`` training samples in one
        process; None otherwise (and under data parallelism, which batches differently)."""
        return lone_batch(self.graph, rows, self.batch_size) if self.world_size == 1 else None


def plan(analysis, device_type: str, world_size: int = 1) -> RunPlan:
    """The run plan of an analysed spec on a ``device_type`` ("cpu", "cuda", "mps") with
    ``world_size`` processes (more than one: under torchrun)."""
    tr = analysis.spec.train
    threads = _threads(analysis)
    return RunPlan(device_type, world_size, threads,
                   _onednn(analysis, threads) if device_type == "cpu" else None,
                   _channels_last(analysis, device_type, world_size, threads),
                   _cuda_graphs(analysis, device_type, world_size), dtypes(analysis),
                   tr.batch_size, tr.eval_chunk, tr.accumulate, analysis.graph)


def _threads(a) -> int | None:
    """Intra-op threads: train.threads, or 1 for small steps (by the static cost model);
    None leaves torch's default."""
    t = a.spec.train.threads
    if t != "auto":
        return t
    return 1 if a.step_macs() < SMALL_STEP_MACS else None


def _onednn(a, threads: int | None) -> bool:
    """Whether to keep oneDNN (and NNPACK) on for CPU convolutions: off for small
    convolutional steps on one thread (under ONEDNN_STEP_MACS), where their per-call
    setup costs more than the convolution and NNPACK's forward makes the backward loop
    over the batch; torch's plain im2col + matrix-multiply kernels are then faster
    (docs/performance.md, bench/choices.py). Kept on under torch.compile, whose CPU
    kernels expect them."""
    convs = a.has_layer(lambda n: n.type.startswith("conv"))
    small = threads == 1 and a.step_macs() < ONEDNN_STEP_MACS
    return a.spec.train.compile or not (convs and small)


def _channels_last(a, device_type: str, world_size: int, threads: int | None) -> bool:
    """Whether the model's 4-D weights (and so its activations) are kept channels-last
    (NHWC): ``train.channels_last``, or on ``auto`` where it was measured to pay off,
    2-D convolutions on the CPU with oneDNN (1.3-1.4x a step on the bundled CNNs;
    docs/performance.md). Never under FSDP, which shards contiguous parameters only
    (auto is off there; check rejects true with strategy fsdp)."""
    tr = a.spec.train
    if world_size > 1 and tr.distributed.strategy == "fsdp":
        return False
    if tr.channels_last != "auto":
        return tr.channels_last
    convs = a.has_layer(lambda n: n.type in ("conv2d", "conv_transpose2d", "torchvision"))
    return device_type == "cpu" and convs and _onednn(a, threads)


def _cuda_graphs(a, device_type: str, world_size: int) -> bool:
    """Whether the training step runs as a CUDA graph: ``train.cuda_graphs``, or on
    ``auto`` where it is safe (a CUDA device, one process, nothing in ``graph_blockers``,
    not ``deterministic``: a resumed run's warm-up steps are eager where the uninterrupted
    run replayed) and pays (a launch-bound step: under GRAPH_STEP_MACS)."""
    tr = a.spec.train
    if tr.cuda_graphs != "auto":
        return tr.cuda_graphs
    return (device_type == "cuda" and world_size == 1 and not graph_blockers(a.spec)
            and not tr.deterministic and a.step_macs() < GRAPH_STEP_MACS)
