"""torch and torchvision that do not load together: a torchvision built for another torch
(a CUDA torchvision beside a CPU torch, or another release) fails on import with
``operator torchvision::nms does not exist`` (its compiled operators did not load, so
registering their Python kernels fails). That is one line naming both versions and the
fix, never a traceback from whichever verb imported torchvision first."""

from __future__ import annotations

import re

FIX = ("install the pair from one index, e.g. `python3 -m pip install --force-reinstall torch torchvision "
       "--index-url https://download.pytorch.org/whl/cpu` (or the CUDA index your torch came from, such as "
       ".../whl/cu124)")
_SIGNS = ("torchvision::", "partially initialized module 'torchvision'")


def mismatch(error: BaseException) -> str | None:
    """The one-line message when ``error`` is torchvision failing to load beside this
    torch; None for any other error."""
    text = str(error)
    if not isinstance(error, (RuntimeError, ImportError, AttributeError, OSError)) or not any(
            s in text for s in _SIGNS):
        return None
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return (f"torch {_torch_version()} and torchvision {torchvision_version()} do not load together "
            f"({first}); {FIX}")


def _torch_version() -> str:
    import sys

    torch = sys.modules.get("torch")
    return getattr(torch, "__version__", None) or _distribution("torch")


def torchvision_version() -> str:
    """torchvision's version as its files say, without importing it (importing is what fails)."""
    import importlib.util
    from pathlib import Path

    try:
        spec = importlib.util.find_spec("torchvision")
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        try:
            m = re.search(r"""__version__\s*=\s*['"]([^'"]+)['"]""", (Path(folder) / "version.py").read_text())
        except OSError:
            continue
        if m:
            return m[1]
    return _distribution("torchvision")


def _distribution(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "(version unknown)"
