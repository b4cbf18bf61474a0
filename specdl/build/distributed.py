"""Data-parallel training under torchrun: the process group from torchrun's
environment (nccl on CUDA, gloo on the CPU), DistributedDataParallel, and the
rank-0-only side effects. ``train.batch_size`` is the global batch: each of the
``world`` ranks takes its share of every batch."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

# The environment variables specdl reads, each checked before a verb runs (cli.py):
# name -> (type, smallest value, what it holds).
ENVIRONMENT = {
    "SPECDL_DIST_TIMEOUT": (float, 1e-3, "a number of seconds"),  # how long a collective waits for a rank
    "SPECDL_CACHE_MEMORY": (int, 0, "a number of bytes"),  # runtime/images.py's cache_memory
    "WORLD_SIZE": (int, 0, "a number of processes"),  # set by torchrun
    "LOCAL_RANK": (int, 0, "a process index"),
}


def environment_problem() -> str | None:
    """The first of ENVIRONMENT's variables that is set to something it cannot hold."""
    import math

    for name, (kind, low, what) in ENVIRONMENT.items():
        text = os.environ.get(name, "")
        if not text:
            continue
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value < low or value > 2**62:
            return (f"the environment variable {name}={text[:40]!r} is not {what} "
                    f"({low} or more); fix it or unset it")
    return None


def timeout_s() -> float:
    """How long a collective may wait for a rank before the job fails (instead of hanging
    when a rank died): SPECDL_DIST_TIMEOUT seconds, 180 by default."""
    return float(os.environ.get("SPECDL_DIST_TIMEOUT") or 180)


def world_size() -> int:
    """The world size torchrun set for this process (1 when not under torchrun)."""
    return int(os.environ.get("WORLD_SIZE") or 1)


@dataclass
class Dist:
    rank: int
    world: int
    local_rank: int

    @property
    def main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def setup(device_type: str) -> Dist | None:
    """Join the process group when launched by torchrun; None otherwise."""
    if world_size() <= 1:
        return None
    import torch.distributed as dist

    backend = "nccl" if device_type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s()))
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK") or 0))


def preflight(nproc: int, device: str) -> None:
    """Before launching: with the GPU asked for (cuda, cuda:N, or auto where one is
    visible), each process needs a GPU of its own; say so now, not in rank 1's traceback."""
    from ..errors import RunError

    if nproc < 1:
        raise RunError(f"--nproc takes a number of processes (1 or more), got {nproc}")
    if device == "cpu" or device == "mps":
        return
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device == "auto" and gpus == 0:
        return  # auto without a GPU: every process trains on the CPU (gloo)
    if nproc > gpus:
        raise RunError(f"--nproc {nproc} needs {nproc} GPUs with train.device={device}, but {gpus} "
                       f"{'is' if gpus == 1 else 'are'} visible; use --nproc {max(gpus, 1)}, or "
                       "-o train.device=cpu to train on the CPU (gloo)")


def launch(nproc: int, argv: list[str]) -> int:
    """`specdl build ... --nproc K`: run the same command under torchrun with K processes."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "specdl", *argv]
    return subprocess.run(cmd).returncode
