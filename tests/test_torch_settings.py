"""The torch settings specdl picks for speed (docs/performance.md): which ones a spec
gets, that build and the generated script apply the same ones, that training from the
API restores the caller's settings, and that torch.compile still works with them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

import specdl
from specdl.front.plan import plan

from .conftest import ROOT

SPECS = ROOT / "specs"


@pytest.mark.parametrize(("name", "threads", "onednn", "channels_last"), [
    ("iris_mlp", 1, True, False),          # no convolutions: nothing to turn off
    ("digits_cnn", 1, False, False),       # tiny convolutions at one thread: plain kernels
    ("cifar_cnn", None, True, True),       # big enough for two threads, oneDNN, NHWC
    ("resnet_small", None, True, True),    # convolutions inside blocks, big enough
    ("text_cnn", 1, True, False),          # one thread, but a step above ONEDNN_STEP_MACS; 1-D: no NHWC
    ("reviews_text", 1, True, False),      # named inputs: an embedding and a pool, no convolutions
    ("reviews_multi", 1, True, False),     # three named inputs, no convolutions
])
def test_policy_per_bundled_spec(name, threads, onednn, channels_last):
    a = specdl.check(SPECS / f"{name}.yaml")
    cpu = plan(a, "cpu")
    assert (cpu.threads, cpu.onednn, cpu.channels_last) == (threads, onednn, channels_last)
    assert plan(a, "cuda").channels_last is False  # auto: measured on the CPU only
    code = specdl.codegen(a.spec)
    assert ("onednn=False," in code) is (not onednn)  # torch_settings(DEVICE, threads=..., onednn=..., ...)
    assert ("threads=1," in code) is (threads == 1)
    assert ('channels_last="cpu"' in code) is channels_last


@pytest.mark.parametrize("value", [True, False])
def test_channels_last_as_the_spec_says(value, tmp_path):
    a = specdl.check(SPECS / "cifar_cnn.yaml", [f"train.channels_last={str(value).lower()}"])
    assert plan(a, "cpu").channels_last is value and plan(a, "cuda").channels_last is value
    code = specdl.codegen(a.spec)
    assert ("channels_last=True," in code) is value
    from specdl.build.trainer import Trainer

    t = Trainer(a, plan(a, "cpu"), torch.device("cpu"))
    conv = next(p for p in t.model.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last) is value
    assert conv.is_contiguous() is (not value)


def test_overrides_and_compile_change_the_policy():
    a = specdl.check(SPECS / "digits_cnn.yaml", ["train.threads=2"])
    assert (plan(a, "cpu").threads, plan(a, "cpu").onednn) == (2, True)
    # inductor's CPU convolutions expect oneDNN's layouts: compile keeps it on
    a = specdl.check(SPECS / "digits_cnn.yaml", ["train.compile=true"])
    assert (plan(a, "cpu").threads, plan(a, "cpu").onednn) == (1, True)
    # one thread asked for a step too big for "small": oneDNN stays (and NHWC with it)
    a = specdl.check(SPECS / "cifar_cnn.yaml", ["train.threads=1"])
    cpu = plan(a, "cpu")
    assert (cpu.threads, cpu.onednn, cpu.channels_last) == (1, True, True)


def test_training_restores_the_callers_settings(tmp_path):
    before = (torch.get_num_threads(), torch.backends.mkldnn.enabled, torch._C._get_nnpack_enabled())
    metrics, run = specdl.train(SPECS / "digits_cnn.yaml", out=tmp_path / "r", overrides=["train.epochs=1"])
    assert json.loads((run / "report.json").read_text())["threads"] == 1  # what training ran with
    assert (torch.get_num_threads(), torch.backends.mkldnn.enabled, torch._C._get_nnpack_enabled()) == before


def test_deterministic_training_restores_the_callers_settings(tmp_path):
    """train.deterministic is process-wide in torch: on during the run, as it was after."""
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.backends.cudnn.benchmark)
    seen = []
    from specdl.build.run import fit
    from specdl.front import analysis_of

    fit(analysis_of(SPECS / "iris_mlp.yaml", ["train.epochs=1", "train.deterministic=true", "train.device=cpu"]),
        out=tmp_path / "r", on_epoch=lambda e, row: seen.append(torch.are_deterministic_algorithms_enabled()))
    assert seen == [True]
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark) == before


@pytest.mark.slow
def test_compile_on_a_cpu_convolution_spec(tmp_path):
    """torch.compile on the CPU with the digits CNN, through build and the generated
    script (a spec that used to crash: inductor and oneDNN off disagree on strides)."""
    over = ["train.epochs=4", "train.compile=true"]
    built, _ = specdl.train(SPECS / "digits_cnn.yaml", out=tmp_path / "run", overrides=over)
    eager, _ = specdl.train(SPECS / "digits_cnn.yaml", out=tmp_path / "eager", overrides=over[:1])
    # inductor draws its own dropout masks, so the runs differ slightly, but learn alike
    assert built["loss"] == pytest.approx(eager["loss"], abs=0.1)
    assert built["loss"] < 2.0 and built["accuracy"] > 0.4, built  # chance: 2.30 and 0.10
    (tmp_path / "script.py").write_text(specdl.codegen(specdl.load(SPECS / "digits_cnn.yaml", over)))
    r = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    script = json.loads(r.stdout.strip().splitlines()[-1])
    assert script["loss"] == pytest.approx(built["loss"], abs=1e-3)


def test_workers_policy():
    from specdl.runtime.workers import auto_workers

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert auto_workers(cpu) == 0 and auto_workers(cpu, 3) == 3
    assert auto_workers(cuda, "auto") == max(0, min(4, (os.cpu_count() or 1) - 1))


@pytest.mark.slow
def test_image_folder_with_workers_build_equals_script(tmp_path):
    """DataLoader workers (decoding and augmenting in other processes, persistent over
    the epochs and the validation passes): build and the script still agree. A rotation
    has no batched form, so the folder is read per sample by a DataLoader, not cached."""
    over = ["train.epochs=2", "train.num_workers=2", "data.augment=[{random_rotation: 10}, random_horizontal_flip]"]
    spec = SPECS / "cifar_cnn.yaml"
    assert not specdl.load(spec, over).data.uses_cache()
    built, _ = specdl.train(spec, out=tmp_path / "run", overrides=over)
    (tmp_path / "script.py").write_text(specdl.codegen(specdl.load(spec, over)))
    assert "NUM_WORKERS = auto_workers(DEVICE, 2)" in (tmp_path / "script.py").read_text()
    r = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    script = json.loads(r.stdout.strip().splitlines()[-1])
    for k in built:
        assert script[k] == pytest.approx(built[k], abs=1e-6), k
