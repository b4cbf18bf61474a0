"""The device a run trains on and the process-wide torch settings around it:
``resolve_device`` (train.device), ``torch_settings``/``torch_flags`` (intra-op threads,
oneDNN, NNPACK, deterministic algorithms, restored afterwards), the note on a late
deterministic setting, and the checks that train.compile and train.cuda_graphs can run here."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import torch

from ..errors import RunError
from ..runtime import settings


def resolve_device(name: str) -> torch.device:
    """train.device as a torch device: `auto` picks CUDA, then MPS, then the CPU; a named
    device torch cannot see here is one line."""
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


def torch_settings(plan, device, deterministic: bool = False):
    """The process-wide torch settings chosen for this spec (intra-op threads; oneDNN
    and NNPACK for small CPU convolutions), restored afterwards so that training from
    the Python API leaves the caller's process as it was."""
    return torch_flags(device, plan.threads, plan.onednn, deterministic)


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


def _deterministic() -> None:
    """make_deterministic, and a note where this process used CUDA before without
    CUBLAS_WORKSPACE_CONFIG (cuBLAS read it then: its results may still vary)."""
    from ..runtime.settings import make_deterministic

    late = "CUBLAS_WORKSPACE_CONFIG" not in os.environ and torch.cuda.is_initialized()
    make_deterministic()
    if late:
        print("specdl: note: train.deterministic: this process used CUDA before the run, so cuBLAS may not "
              "be deterministic; set CUBLAS_WORKSPACE_CONFIG=:4096:8 before the process starts", file=sys.stderr)


def check_compile(device) -> None:
    """torch.compile needs dynamo on this Python/platform and, on the CPU, a C++ compiler."""
    import shutil

    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        raise RunError("train.compile: torch.compile is not supported on this platform or Python "
                       "version; set train.compile: false")
    if device.type == "cpu" and not (shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")):
        raise RunError("train.compile: torch.compile on the CPU needs a C++ compiler (g++ or clang++) on "
                       "PATH; install one, or set train.compile: false")


def check_graphs(asked, device, dist) -> None:
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
