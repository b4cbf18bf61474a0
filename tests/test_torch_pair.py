"""A torch and a torchvision that do not load together (a CUDA torchvision beside a CPU
torch, or one built for another torch release): one line naming both versions and the
fix, from any verb that imports torchvision, never the import's traceback."""

from __future__ import annotations

from .conftest import ROOT, run_cli

# Why this is the faithful reproduction: a torchvision built for another torch fails in
# its own `__init__`, at `torchvision/_meta_registrations.py`, which registers fake
# kernels for its C++ operators with `torch.library.register_fake("torchvision::nms")`;
# its compiled library did not load into this torch, so the operator is unknown and
# torch itself raises `RuntimeError: operator torchvision::nms does not exist`. The
# package below makes the same call on the real installed torch, so the error is
# torch's own, raised at the import, exactly as from the mismatched pair.
FAKE_INIT = '''import torch

torch.library.register_fake("torchvision::nms")(lambda dets, scores, iou_threshold: dets)
'''


def test_a_mismatched_torchvision_is_one_line(tmp_path):
    fake = tmp_path / "site" / "torchvision"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(FAKE_INIT)
    (fake / "version.py").write_text("__version__ = '0.20.1+cu124'\n")
    r = run_cli("example-data", "--out", tmp_path / "ex", cwd=tmp_path,
                env={"PYTHONPATH": f"{fake.parent}:{ROOT}"})
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    (line,) = r.stderr.strip().splitlines()
    import torch

    assert line.startswith(f"specdl: error: torch {torch.__version__} and torchvision 0.20.1+cu124 do not load "
                           "together (operator torchvision::nms does not exist); install the pair from one index"), line
    assert "--index-url https://download.pytorch.org/whl/" in line
