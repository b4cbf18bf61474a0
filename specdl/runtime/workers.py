"""`num_workers: auto`: how many processes decode images for a DataLoader. Build calls
``auto_workers``; a generated script holds its return expression as the value of
NUM_WORKERS (specdl/script/render.py reads it from this file's syntax tree), so the
two agree."""

import os


def auto_workers(DEVICE):  # named as the script's variable that its expression reads
    """Up to 4 on a GPU (which would otherwise wait for the decoding), none on the CPU,
    where workers compete with training for the cores (docs/performance.md)."""
    return max(0, min(4, (os.cpu_count() or 1) - 1)) if DEVICE.type == "cuda" else 0
