"""Process-wide torch settings a run asks for (threads, oneDNN, determinism) and data
parallelism under torchrun. Copied verbatim into generated scripts that use them
(``script.render.catalogue``), like the loop."""

from __future__ import annotations

import os

import torch


def make_deterministic():
    """The same results on every run, on the CPU and on CUDA: torch's deterministic
    algorithms, cuDNN's deterministic kernels with its autotuner off, and cuBLAS's fixed
    workspace (read when CUDA makes its first cuBLAS handle, so set before any work)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def torch_settings(device, threads=None, onednn=None, channels_last=False, cuda_graphs=False):
    """Intra-op ``threads``; on the CPU, oneDNN and NNPACK (None: as they are). Whether the model
    runs channels-last and the step as a CUDA graph on ``device`` ("cpu", "cuda": there only)."""
    if threads is not None:
        torch.set_num_threads(threads)
    if onednn is not None and device.type == "cpu":
        torch.backends.mkldnn.enabled = onednn
        torch.backends.nnpack.set_flags(onednn)
    return channels_last in (True, device.type), cuda_graphs in (True, device.type)


def start_ranks(device):
    """Data-parallel under torchrun (RANK, WORLD_SIZE, LOCAL_RANK set): join the process
    group. This process's rank, the number of ranks, and its device (a GPU of its own)."""
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return rank, world, device


def data_parallel(model, device, world):
    """The model as each of ``world`` ranks runs it: its gradients averaged across them."""
    if world == 1:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def shard(model):
    """The model's parameters sharded over the ranks (FSDP, torch's ``fully_shard``): each
    top-level layer that trains, then the whole model; each is gathered as it runs."""
    from torch.distributed.fsdp import fully_shard

    for child in model.children():
        if any(p.requires_grad for p in child.parameters()):
            fully_shard(child)
    return fully_shard(model)


def full_weights(model, sharded=False):
    """The model's weights as one full state dict (``sharded``: gathered from the ranks,
    which every rank calls together)."""
    if not sharded:
        return {k: v.detach().clone() for k, v in model.state_dict().items()}
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))


def load_full_weights(model, state, sharded=False):
    """The model holding a full state dict (``full_weights``'), sharded or not; ``state``
    stays as it was (torch shards the entries of the dict it is given, in place)."""
    if not sharded:
        model.load_state_dict(state)
        return model
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    set_model_state_dict(model, dict(state), options=StateDictOptions(full_state_dict=True))
    return model
