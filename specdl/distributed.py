"""Data-parallel training under torchrun: the process group from torchrun's
environment (nccl on CUDA, gloo on the CPU), DistributedDataParallel, and the
rank-0-only side effects. ``train.batch_size`` is the global batch: each of the
``world`` ranks takes its share of every batch."""

from __future__ import annotations

import os
from dataclasses import dataclass


def world_size() -> int:
    """The world size torchrun set for this process (1 when not under torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


@dataclass
class Dist:
    rank: int
    world: int
    local_rank: int

    @property
    def main(self) -> bool:
        return self.rank == 0

    def sum(self, value):
        """All-reduce a tensor by sum (in place) and return it."""
        import torch.distributed as dist

        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value

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
        dist.init_process_group(backend=backend)
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def launch(nproc: int, argv: list[str]) -> int:
    """`specdl build ... --nproc K`: run the same command under torchrun with K processes."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "specdl", *argv]
    return subprocess.run(cmd).returncode
