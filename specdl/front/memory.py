"""Memory: what this machine has, a static estimate of what training a spec needs
(parameters with their gradients and Adam's two moments, plus a batch's activations,
from the same cost rules as `summary`), and out-of-memory failures turned into one line."""

from __future__ import annotations

import os

DTYPE_BYTES = {"float32": 4, "int64": 8}


def human(n: float, unit: str = "") -> str:
    """1.23M, 4.56kB: a count or a size, short."""
    for div, suf in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f}{suf}{unit}"
    return f"{n:.0f}{unit}" if unit else f"{n:,.0f}"

def machine_memory() -> int | None:
    """Physical memory in bytes (None where the platform does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def input_bytes(analysis, batch: int) -> dict:
    """Named input -> the bytes of a batch of it (token ids as int64); {} for one `input`."""
    g = analysis.graph
    return {k: t.numel() * DTYPE_BYTES.get(t.dtype, 4) * batch for k, t in g.sources.items()} if g.named else {}


def training_bytes(analysis, batch: int) -> int:
    """Parameters x 4 copies (weights, gradients, two optimizer moments) as float32, the
    activations of one batch (kept for the backward pass) and its named inputs."""
    params = acts = 0
    for n in analysis.graph.nodes:
        params += n.params()
        acts += n.out.numel() * DTYPE_BYTES.get(n.out.dtype, 4) * batch
    return params * 4 * 4 + acts + sum(input_bytes(analysis, batch).values())


def memory_warnings(analysis, batch: int | None = None) -> list:
    """A warning (at train.batch_size) when the estimate exceeds this machine's memory."""

    have = machine_memory()
    batch = batch or analysis.spec.train.batch_size
    n = analysis.spec.data.sample_count()
    batch = min(batch, n) if n else batch  # a batch never holds more than the data
    try:
        need = training_bytes(analysis, batch)
    except (TypeError, ValueError, OverflowError):
        return []
    if not have or need <= have:
        return []
    src = analysis.spec._source
    return [src.issue(("train", "batch_size"), f"training needs about {human(need, 'B')} (parameters, "
                      f"gradients, optimizer state and the activations of a batch of {batch}), more than "
                      f"this machine's {human(have, 'B')} of memory; make the model smaller or lower "
                      "train.batch_size", severity="warning")]


def out_of_memory(e: BaseException) -> str | None:
    """The one-line message for an allocation failure (CPU or GPU), or None for other errors."""
    text = str(e)
    cpu = isinstance(e, MemoryError) or any(t in text for t in (
        "can't allocate memory", "not enough memory", "Storage size calculation overflowed"))  # a tensor past 2**63 B
    gpu = type(e).__name__ == "OutOfMemoryError" or "CUDA out of memory" in text
    if not (cpu or gpu):
        return None
    where = "the GPU" if gpu and not cpu else "the CPU"
    return (f"out of memory on {where}: the model, the data or a batch is too large for this machine; "
            "lower train.batch_size or make the model or data smaller (`specdl summary` estimates the memory)")
