"""Fuzz the verbs that read a run directory: each file of a run damaged (truncated, garbage,
swapped with another file of the run) and fed to predict, export and --resume. Exit 0 or 2
with one `specdl: error:` line; never a traceback, never a hang."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from .conftest import run_cli
from .test_runs_corpus import IRIS

FILES = ["spec.yaml", "last.pt", "best.pt", "metrics.jsonl", "report.json", "preprocess.json", ".specdl-manifest.json"]
DAMAGES = ["truncate", "garbage", "swap"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzzruns")
    (d / "s.yaml").write_text(IRIS)
    r = run_cli("build", d / "s.yaml", "--out", d / "run", "-q", cwd=d)
    assert r.returncode == 0, r.stderr
    np.save(d / "x.npy", np.zeros((3, 4), dtype=np.float32))
    return d


def damage(path, how, run):
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        path.write_bytes(bytes((b * 7 + 13) % 256 for b in data[:200]) or b"\xff\x00")
    else:
        other = run / FILES[(FILES.index(path.name) + 1) % len(FILES)]
        path.write_bytes(other.read_bytes())


@pytest.mark.fuzz
@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_run_directory(pristine, tmp_path, name, how):
    for verb in (["predict", "RUN", "--input", pristine / "x.npy"], ["export", "RUN", "--out", "m.onnx"],
                 ["build", "--resume", "RUN", "-q", "-o", "train.epochs=3"]):
        run = tmp_path / f"run-{verb[0]}"
        shutil.copytree(pristine / "run", run)
        damage(run / name, how, run)
        r = run_cli(*[run if a == "RUN" else a for a in verb], cwd=tmp_path, timeout=300)
        assert "Traceback" not in r.stderr, (verb, r.stderr)
        assert r.returncode in (0, 2), (verb, r.returncode, r.stderr)
        if r.returncode == 2:
            assert len([ln for ln in r.stderr.splitlines() if "error:" in ln]) >= 1, r.stderr
