"""Run directories never clobber, are held by one process, stand alone, and resume (or
refuse to) with one located line: issue 12, sections 2, 3 and 5."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from specdl.front.reader import dump_yaml, read_yaml

from .conftest import ROOT, run_cli

pytestmark = pytest.mark.slow  # many real CLI processes (about 3 s each): `pytest -m slow` (CI)

IRIS = """
name: tiny
seed: 0
data: {source: sklearn, dataset: iris, split: {val: 0.2, test: 0.2}, transforms: [standardize]}
model: {layers: [{linear: 8}, relu, {linear: 3}]}
loss: cross_entropy
optimizer: {adam: {lr: 0.01}}
train: {epochs: 2, batch_size: 32, device: cpu, checkpoint: {interval: 0}}
metrics: [accuracy]
"""


def one_error(r, *words):
    """Exit 2, exactly one `specdl: error:` line naming ``words``, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1, r.stderr
    for w in words:
        assert w in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def spec(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(IRIS)
    return p


@pytest.fixture
def run(spec, tmp_path):
    r = run_cli("build", spec, "--out", tmp_path / "run", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return tmp_path / "run"


# -- nothing lost -------------------------------------------------------------------------

def test_out_into_users_folder_is_refused_even_with_force(spec, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "spec.yaml").write_text("# my commented spec\n")
    for extra in ([], ["--force"]):
        one_error(run_cli("build", spec, "--out", mine, "-q", *extra, cwd=tmp_path), "not empty")
    assert (mine / "spec.yaml").read_text() == "# my commented spec\n"
    assert sorted(p.name for p in mine.iterdir()) == ["spec.yaml"]


def test_out_dot_never_replaces_the_working_directory(spec, tmp_path):
    (tmp_path / "metrics.jsonl").write_text("")  # looks like a run, is the cwd
    before = sorted(p.name for p in tmp_path.iterdir())
    one_error(run_cli("build", spec, "--out", ".", "--force", "-q", cwd=tmp_path), "current directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert spec.read_text() == IRIS


def test_previous_run_is_kept_unless_force(run, spec, tmp_path):
    report = (run / "report.json").read_text()
    one_error(run_cli("build", spec, "--out", run, "-q", cwd=tmp_path), "--resume", "--force")
    assert (run / "report.json").read_text() == report
    (run / "stale.txt").write_text("x")
    r = run_cli("build", spec, "--out", run, "-q", "--force", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (run / "stale.txt").read_text() == "x" and (run / "report.json").exists()  # not specdl's: kept


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_out_that_is_a_file_or_under_one(spec, tmp_path, where):
    f = tmp_path / "afile"
    f.write_text("x")
    out = f if where == "file" else f / "run"
    one_error(run_cli("build", spec, "--out", out, "-q", cwd=tmp_path), "afile")
    assert f.read_text() == "x"


def test_a_held_run_directory_is_refused(spec, tmp_path):
    out = tmp_path / "held"
    out.mkdir()
    with open(out / ".specdl.lock", "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        one_error(run_cli("build", spec, "--out", out, "-q", cwd=tmp_path), "in use")
    r = run_cli("build", spec, "--out", out, "-q", cwd=tmp_path)  # released: free again
    assert r.returncode == 0, r.stderr


def test_two_concurrent_builds_into_one_out(spec, tmp_path):
    out = tmp_path / "both"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "specdl", "build", str(spec), "--out", str(out), "-q",
           "-o", "train.epochs=300"]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 2], results
    err = next(e for rc, e in results if rc == 2)
    assert "Traceback" not in err and ("in use" in err or "previous run" in err), err
    rows = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 301))  # one writer, no interleaving


# -- output paths of the other verbs ------------------------------------------------------

@pytest.mark.parametrize("verb", [["codegen", "SPEC", "--out"], ["schema", "--out"], ["init", "--out"],
                                  ["init", "--force", "--out"], ["example-data", "--out"]])
def test_output_paths_that_are_folders_or_under_files(verb, spec, tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    argv = [str(spec) if a == "SPEC" else a for a in verb]
    targets = ([tmp_path / "afile" / "x"] if verb[0] == "example-data"
               else [tmp_path / "folder", tmp_path / "afile" / "x.out"])
    for target in targets:
        one_error(run_cli(*argv, target, cwd=tmp_path))
    assert (tmp_path / "afile").read_text() == "x"


def test_predict_and_export_outputs(run, tmp_path):
    import numpy as np

    np.save(tmp_path / "x.npy", np.zeros((2, 4), dtype=np.float32))
    (tmp_path / "folder").mkdir()
    one_error(run_cli("predict", run, "--input", tmp_path / "x.npy", "--out", tmp_path / "folder",
                      cwd=tmp_path), "folder")
    one_error(run_cli("export", run, "--out", run / "report.json" / "m.onnx", cwd=tmp_path), "report.json")


# -- resume ---------------------------------------------------------------------------------

def test_resume_refuses_arguments_it_would_ignore(run, spec, tmp_path):
    one_error(run_cli("build", spec, "--resume", run, cwd=tmp_path), "spec path")
    one_error(run_cli("build", "--resume", run, "--out", tmp_path / "o", cwd=tmp_path), "--out")
    one_error(run_cli("build", "--resume", run, "-o", "model.layers.0.linear=64", cwd=tmp_path),
              "model.layers.0.linear", "train.*")
    one_error(run_cli("build", "--resume", tmp_path / "nowhere", cwd=tmp_path), "does not exist")


def test_resume_with_train_override_applies_and_records_it(run, tmp_path):
    r = run_cli("build", "--resume", run, "-q", "-o", "train.epochs=3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "epochs: 3" in (run / "spec.yaml").read_text()
    assert [json.loads(ln)["epoch"] for ln in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_resume_on_an_edited_model_says_what_changed(run, tmp_path):
    text = (run / "spec.yaml").read_text()
    (run / "spec.yaml").write_text(text.replace("out_features: 8", "out_features: 12"))
    one_error(run_cli("build", "--resume", run, cwd=tmp_path), "last.pt", "[12, 4]", "[8, 4]")
    (run / "spec.yaml").write_text(text.replace("epochs: 2", "epochs: zero"))
    r = run_cli("build", "--resume", run, cwd=tmp_path)
    assert r.returncode == 2 and "spec.yaml:" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("damage", ["best_as_last", "garbage", "empty", "tensor"])
def test_resume_from_a_wrong_checkpoint(run, tmp_path, damage):
    last = run / "last.pt"
    if damage == "best_as_last":
        shutil.copy(run / "best.pt", last)
    elif damage == "tensor":
        torch.save(torch.zeros(3), last)
    else:
        last.write_bytes(b"" if damage == "empty" else b"\x00not a checkpoint" * 10)
    one_error(run_cli("build", "--resume", run, cwd=tmp_path), "last.pt")


def test_resume_truncates_a_partial_metrics_line(run, tmp_path):
    log = run / "metrics.jsonl"
    ckpt = torch.load(run / "last.pt", weights_only=True)
    ckpt["state"]["epoch"] = 1
    torch.save(ckpt, run / "last.pt")
    lines = log.read_text().splitlines()
    log.write_text(lines[0] + "\n" + lines[1][:7])  # killed mid-write
    r = run_cli("build", "--resume", run, "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [json.loads(ln)["epoch"] for ln in log.read_text().splitlines()] == [1, 2]


def test_resume_before_any_checkpoint_starts_over_with_a_note(run, tmp_path):
    for name in ("last.pt", "best.pt", "report.json"):
        (run / name).unlink()
    r = run_cli("build", "--resume", run, "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "note:" in r.stderr and "beginning" in r.stderr and "error" not in r.stderr
    assert (run / "last.pt").exists() and (run / "report.json").exists()


# -- standing alone -----------------------------------------------------------------------

def test_run_dir_stands_alone_with_number_like_csv_columns(tmp_path):
    cols = ["1e3", "yes", "null", "0x10", ".inf"]
    with open(tmp_path / "t.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*cols, "label"])
        for i in range(60):
            w.writerow([i % 7, i % 3, i % 5, i % 2, i % 11, "a" if i % 2 else "b"])
    spec = tmp_path / "num.yaml"
    spec.write_text(IRIS.replace("{source: sklearn, dataset: iris,", "{source: csv, path: data/t.csv, "
                                 "target: label, features: ['1e3', 'yes', 'null', '0x10', '.inf'],")
                    .replace("linear: 3", "linear: 2"))
    (tmp_path / "work" / "data").mkdir(parents=True)
    shutil.copy(tmp_path / "t.csv", tmp_path / "work" / "data" / "t.csv")
    r = run_cli("build", spec, "--out", tmp_path / "run", "-q", cwd=tmp_path / "work")
    assert r.returncode == 0, r.stderr
    run = tmp_path / "run"
    assert read_yaml((run / "spec.yaml").read_text()).data["data"]["features"] == cols
    work = tmp_path / "work"
    with open(work / "in.csv", "w") as f:
        f.write(",".join(cols) + "\n1,2,3,1,4\n")
    r = run_cli("predict", run, "--input", work / "in.csv", cwd=work)
    assert r.returncode == 0, r.stderr
    r = run_cli("export", run, "--out", work / "m.onnx", cwd=work)
    assert r.returncode == 0, r.stderr
    shutil.rmtree(work / "data")  # resume needs the data: one line naming the missing file
    one_error(run_cli("build", "--resume", run, "-o", "train.epochs=3", cwd=work), "t.csv")
    r = run_cli("predict", run, "--input", work / "in.csv", cwd=work)  # predict needs only the run
    assert r.returncode == 0, r.stderr


@settings(max_examples=1000, deadline=None)
@given(st.text())
def test_spec_yaml_strings_round_trip(s):
    data = {"name": s, "data": {"features": [s, "x"], "target": s}}
    assert read_yaml(dump_yaml(data)).data == data
