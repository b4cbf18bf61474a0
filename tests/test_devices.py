"""Devices, checked on the CPU: every RNG state a run uses is saved and restored, the
deterministic settings cover CUDA, and `--nproc` beyond the visible GPUs is refused
before torchrun starts (device counts mocked)."""

from __future__ import annotations

import os

import pytest
import torch

from specdl import cli
from specdl.build import checkpoints as checkpoint
from specdl.build.distributed import preflight
from specdl.errors import RunError

from .conftest import ROOT


def test_rng_states_round_trip_every_generator():
    gen = torch.Generator().manual_seed(3)
    torch.manual_seed(5)
    saved = checkpoint.rng_states(gen)
    assert set(saved) == {"rng", "gen", "cuda_rng"}
    a = (torch.rand(3), torch.rand(3, generator=gen))
    torch.manual_seed(99)
    gen.manual_seed(99)
    checkpoint.set_rng_states(saved, gen)
    b = (torch.rand(3), torch.rand(3, generator=gen))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_cuda_rng_states_are_restored_where_saved(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: calls.append(list(states)))
    gen = torch.Generator()
    saved = {"rng": torch.get_rng_state(), "gen": gen.get_state(), "cuda_rng": ["s0", "s1", "s2"]}
    checkpoint.set_rng_states(saved, gen)
    assert calls == [["s0", "s1"]]  # one state per visible device


def test_deterministic_covers_cuda(monkeypatch):
    from specdl.runtime.settings import make_deterministic

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    old = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
           torch.backends.cudnn.benchmark)
    try:
        make_deterministic()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.use_deterministic_algorithms(old[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = old[1], old[2]


def test_deterministic_script_makes_the_same_calls():
    import specdl

    code = specdl.codegen(specdl.load(ROOT / "specs" / "iris_mlp.yaml", ["train.deterministic=true"]))
    assert "def make_deterministic():" in code and "    make_deterministic()" in code
    assert "make_deterministic" not in specdl.codegen(ROOT / "specs" / "iris_mlp.yaml")


@pytest.mark.parametrize(("gpus", "device", "nproc", "ok"), [
    (0, "auto", 2, True), (0, "cpu", 4, True), (1, "auto", 2, False), (1, "cuda", 2, False),
    (2, "cuda", 2, True), (2, "auto", 3, False), (4, "cuda:0", 2, True), (0, "cuda", 1, False),
])
def test_preflight_more_processes_than_gpus(monkeypatch, gpus, device, nproc, ok):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    if ok:
        preflight(nproc, device)
    else:
        with pytest.raises(RunError, match="train.device=cpu"):
            preflight(nproc, device)


def test_nproc_refused_before_torchrun(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    launched = []
    monkeypatch.setattr("specdl.build.distributed.launch", lambda *a: launched.append(a) or 0)
    monkeypatch.setattr("sys.argv", ["specdl", "build", str(ROOT / "specs" / "iris_mlp.yaml"), "--nproc=2"])
    code = cli._main(["build", str(ROOT / "specs" / "iris_mlp.yaml"), "--nproc=2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not launched and len(err) == 1
    assert err[0].startswith("specdl: error: --nproc 2 needs 2 GPUs") and "-o train.device=cpu" in err[0]


def test_without_nproc_strips_both_spellings():
    from specdl.build.start import without_nproc

    assert without_nproc(["build", "s.yaml", "--nproc", "2", "-q"]) == ["build", "s.yaml", "-q"]
    assert without_nproc(["build", "--nproc=3", "s.yaml"]) == ["build", "s.yaml"]


@pytest.mark.parametrize(("used_cuda", "env", "noted"), [(True, None, True), (False, None, False),
                                                         (True, ":4096:8", False)])
def test_deterministic_notes_cuda_used_before_the_workspace_was_set(monkeypatch, capsys, used_cuda, env, noted):
    from specdl.build import device

    if env is None:
        monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    else:
        monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", env)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: used_cuda)
    old = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
           torch.backends.cudnn.benchmark)
    try:
        device._deterministic()
    finally:
        torch.use_deterministic_algorithms(old[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = old[1], old[2]
    err = capsys.readouterr().err
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == (env or ":4096:8")
    assert (err.startswith("specdl: note: train.deterministic: this process used CUDA before") and
            err.count("\n") == 1) if noted else err == ""
