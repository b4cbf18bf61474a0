"""The run plan (specdl/front/plan.py): its values on a CPU and on CUDA for bundled specs,
and its batches-per-epoch rule against the trainer's and torch's DistributedSampler's."""

from __future__ import annotations

import dataclasses
import math

import pytest

import specdl
from specdl.front.plan import Dtypes, dtypes, plan

from .conftest import ROOT

SPECS = ROOT / "specs"


def test_plan_on_a_cpu_and_on_cuda():
    a = specdl.check(SPECS / "iris_mlp.yaml")
    cpu, cuda = plan(a, "cpu"), plan(a, "cuda")
    assert (cpu.threads, cpu.onednn, cpu.channels_last, cpu.cuda_graphs) == (1, True, False, False)
    assert (cuda.threads, cuda.onednn, cuda.channels_last, cuda.cuda_graphs) == (1, None, False, True)
    assert plan(a, "cuda", world_size=2).cuda_graphs is False  # one process only
    tr = a.spec.train
    assert (cpu.batch_size, cpu.eval_chunk, cpu.accumulate) == (tr.batch_size, tr.eval_chunk, tr.accumulate)
    assert cpu.dtypes == cuda.dtypes == dtypes(a) == Dtypes("float64", "float32", "int64")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cpu.threads = 2


def test_plan_of_a_convolution_net_and_token_ids():
    a = specdl.check(SPECS / "cifar_cnn.yaml")
    cpu = plan(a, "cpu")
    assert (cpu.threads, cpu.onednn, cpu.channels_last) == (None, True, True)
    assert plan(a, "cuda").channels_last is False and plan(a, "mps").onednn is None
    fsdp = specdl.check(SPECS / "cifar_cnn.yaml", ["train.distributed.strategy=fsdp"])
    assert plan(fsdp, "cpu").channels_last and not plan(fsdp, "cpu", world_size=2).channels_last
    assert dtypes(specdl.check(SPECS / "text_cnn.yaml")) == Dtypes("int64", "int64", "int64")


@pytest.mark.parametrize("over", [[], ["train.batch_size=7"], ["train.batch_size=7", "train.accumulate=3"]])
def test_batches_per_epoch_as_the_trainer_counts_them(over):
    import torch

    from specdl.build.trainer import Trainer

    a = specdl.check(SPECS / "iris_mlp.yaml", ["train.device=cpu", *over])
    t = Trainer(a, plan(a, "cpu"), torch.device("cpu"))
    assert t.n_batches == plan(a, "cpu").batches_per_epoch(t.n_train) == len(list(t.train_batches()))
    assert plan(a, "cpu").steps_per_epoch(t.n_train) == math.ceil(t.n_batches / a.spec.train.accumulate)


@pytest.mark.parametrize(("rows", "world", "batch"), [(150, 2, 32), (101, 3, 12), (7, 4, 8), (64, 2, 64)])
def test_sharded_batches_per_epoch_as_a_distributed_sampler_gives_them(rows, world, batch):
    from torch.utils.data import DistributedSampler

    a = specdl.check(SPECS / "iris_mlp.yaml", [f"train.batch_size={batch}"])
    p = plan(a, "cpu", world_size=world)
    sampler = DistributedSampler(range(rows), num_replicas=world, rank=world - 1, shuffle=True, seed=0)
    assert p.rank_batch == batch // world
    assert p.batches_per_epoch(rows, sharded=True) == math.ceil(len(sampler) / p.rank_batch)
    assert p.batches_per_epoch(rows) == math.ceil(rows / batch)  # in memory: slices of each global batch
    assert plan(a, "cpu").batches_per_epoch(rows, sharded=True) == math.ceil(rows / batch)


def test_policy_and_dtypes_are_settled_in_the_plan_only():
    """Analysis keeps facts, the plan the policy; no module but front/plan.py derives
    a dtype from the data's dtype or the task."""
    import re

    from specdl.front.analysis import Analysis

    assert not [n for n in ("threads", "onednn", "channels_last", "cuda_graphs") if hasattr(Analysis, n)]
    derived = re.compile(r'int64"? if [^\n]*(?:data\.dtype == "int64"|task == "classification")')
    pkg = ROOT / "specdl"
    found = [str(p.relative_to(pkg)) for p in pkg.rglob("*.py")
             if p.relative_to(pkg).as_posix() != "front/plan.py" and derived.search(p.read_text())]
    assert not found, found


@pytest.mark.parametrize(("batch", "world"), [(4, 2), (6, 3), (12, 4), (64, 8)])
def test_a_rank_takes_as_many_batches_as_the_scheduler_steps_for(batch, world):
    """The scheduler is laid out over the global batches of an epoch; under torchrun a rank
    reading files through a DistributedSampler takes ceil(ceil(rows / world) / (batch / world))
    batches. `check` refuses a batch that does not split over the processes, and then
    the two agree for every number of rows."""
    a = specdl.check(SPECS / "iris_mlp.yaml", [f"train.batch_size={batch}"])
    p = plan(a, "cpu", world_size=world)
    assert [p.batches_per_epoch(n, sharded=True) for n in range(1, 400)] == \
        [p.batches_per_epoch(n) for n in range(1, 400)]
