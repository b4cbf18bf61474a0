"""Third-party warnings about the user's data or spec are specdl's own lines: PIL's
DecompressionBombWarning and scikit-learn's UndefinedMetricWarning one note each, torch's
warning for an even kernel with `padding: same` a `check` warning at the layer (and not
repeated by torch at every run)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

import specdl
from specdl.cli import main

from .conftest import ROOT
from .test_data_hardening import image_folder

CONV = """data: {source: synthetic, shape: [1, 8, 8], classes: 2, size: 32}
model:
  layers:
    - conv2d: {out_channels: 2, kernel_size: %s, padding: same%s}
    - flatten
    - linear: 2
"""


@pytest.mark.parametrize("kernel, dilation, warned", [(4, "", "(1 before, 2 after)"), ("[3, 2]", "", "(0 before, 1 after)"),
                                                      (3, "", None), (4, ", dilation: 2", None)])
def test_an_uneven_same_padding_is_a_check_warning(kernel, dilation, warned):
    warnings = [w.render() for w in specdl.check(CONV % (kernel, dilation)).warnings]
    if warned is None:
        assert warnings == []
    else:
        (w,) = warnings
        assert w.startswith("<string>:4:7: warning: model.layers[0] (conv2d): padding 'same' with kernel_size ")
        assert f"pads unevenly {warned}: torch makes a zero-padded copy" in w and "use an odd kernel_size" in w


TORCH = """
import torch
from specdl.notes import third_party_notes
conv = torch.nn.Conv2d(1, 2, 4, padding="same")
with third_party_notes():
    conv(torch.zeros(1, 1, 8, 8))
torch.nn.Conv2d(1, 2, 2, padding="same")(torch.zeros(1, 1, 8, 8)) if len(__import__("sys").argv) > 1 else None
"""


@pytest.mark.slow  # two fresh processes importing torch (its warning is once per process)
def test_torchs_even_kernel_warning_is_not_repeated_at_run_time(tmp_path):
    """In a fresh process (torch warns once per process): silent within specdl's notes,
    torch's own warning outside them (the control: the same call does warn)."""
    env = {"PYTHONPATH": str(ROOT)}
    quiet = subprocess.run([sys.executable, "-c", TORCH], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    control = subprocess.run([sys.executable, "-c", TORCH.replace("with third_party_notes():", "if True:")],
                             capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "Using padding='same' with even kernel lengths" in control.stderr


@pytest.fixture
def shown_warnings():
    """Warnings printed to stderr as a plain `python -m specdl` shows them (pytest's own
    capture would record them instead): without the notes, the raw warning is the output."""
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda m, c, f, n, file=None, line=None: sys.stderr.write(
            warnings.formatwarning(m, c, f, n, line))
        yield


def test_an_undefined_metric_is_one_note(tmp_path, capsys, shown_warnings):
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=x[:, 0] * 2)
    np.savez(tmp_path / "one.npz", x=x[:1], y=x[:1, 0] * 2)
    (tmp_path / "s.yaml").write_text(f"data: {{source: npz, path: {tmp_path}/d.npz}}\nmodel: {{layers: [{{linear: 1}}]}}\n"
                                     "metrics: [r2, mae]\ntrain: {epochs: 1, device: cpu}\n")
    run = specdl.train(specdl.load(tmp_path / "s.yaml"), out=tmp_path / "r").run_dir
    capsys.readouterr()
    assert main(["evaluate", str(run), "--input", str(tmp_path / "one.npz")]) == 0
    err = capsys.readouterr().err
    assert err == ("specdl: note: r2 is not defined on fewer than two samples: it is reported as nan; "
                   "score more rows\n"), err


def test_a_decompression_bomb_warning_is_one_note(tmp_path, capsys, monkeypatch, shown_warnings):
    """PIL warns of an image over Image.MAX_IMAGE_PIXELS (89 MP) and refuses one over twice
    that; the limit lowered to 200 pixels makes 16x16 images take the very same path."""
    from PIL import Image

    image_folder(tmp_path / "img", n=3)
    (tmp_path / "s.yaml").write_text("data: {source: image_folder, root: img, transforms: [to_tensor]}\n"
                                     "model: {layers: [flatten, {linear: 2}]}\n")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200)
    assert main(["check", str(tmp_path / "s.yaml")]) == 0
    err = capsys.readouterr().err
    assert err == ("specdl: note: an image of 256 pixels is over PIL's decompression-bomb limit (200); specdl "
                   "decodes it anyway, so make sure it is an image you meant to use (downscale it to save memory "
                   "and time)\n"), err
