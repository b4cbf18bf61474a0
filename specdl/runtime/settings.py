"""Process-wide torch settings a run asks for. Copied verbatim into generated scripts
that use them (``generate.runtime_sources``), like the loop."""

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


def torch_settings(device, threads=None, onednn=None):
    """Intra-op ``threads`` and, on the CPU, oneDNN and NNPACK (None: as they are)."""
    if threads is not None:
        torch.set_num_threads(threads)
    if onednn is not None and device.type == "cpu":
        torch.backends.mkldnn.enabled = onednn
        torch.backends.nnpack.set_flags(onednn)
