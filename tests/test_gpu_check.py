"""bench/gpu_check.py runs end to end on the CPU (tiny sizes), so that the script a GPU
machine runs has been run: its rows, the hand loop as the base, the CUDA-only setups
left out with a note."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import ROOT


@pytest.mark.slow
def test_gpu_check_runs_on_the_cpu(tmp_path):
    out = tmp_path / "figures.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--device", "cpu", "--quick",
                        "--no-tests", "--cases", "digits", "transformer", "--json", str(out)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    figures = json.loads(out.read_text())
    rows = figures["bench"]
    assert {row["case"] for row in rows} == {"digits_cnn b64", "transformer 40k b256"}
    assert [row["setup"] for row in rows if row["case"] == "digits_cnn b64"] == [
        "hand fp32", "specdl fp32", "specdl bf16", "graphs auto"]
    assert all(row["samples_per_s"] > 0 and row["graphs"] is False for row in rows)
    assert all(row["x_hand"] == 1.0 for row in rows if row["setup"] == "hand fp32")
    assert r.stdout.count("(needs CUDA)") == 4 and "GPU: none" in r.stdout


def test_gpu_check_installs_nothing_where_nothing_is_missing(tmp_path):
    code = ("import sys; sys.argv = ['gpu_check']; sys.path.insert(0, 'bench'); import gpu_check, os; "
            "gpu_check.install(None); print(os.environ['PYTHONPATH'])")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().split(":")[0] == str(ROOT)
