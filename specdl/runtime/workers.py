"""`train.num_workers`: how many processes decode images for a DataLoader. Build calls
``auto_workers``, and a generated script that reads image files with a DataLoader holds
its source and calls it the same way, so the two agree."""

import os


def auto_workers(device, asked="auto"):
    """``asked`` (train.num_workers), or on ``auto`` up to 4 on a GPU (which would otherwise
    wait for the decoding) and none on the CPU, where workers compete with training for the
    cores (docs/performance.md)."""
    if asked != "auto":
        return asked
    return max(0, min(4, (os.cpu_count() or 1) - 1)) if device.type == "cuda" else 0
