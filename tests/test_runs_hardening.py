"""Nothing lost (issue 12): --out never writes over a user's files or another run, one
process holds a run directory, spec.yaml reads back to the same spec, --resume fails
with one line on what cannot be resumed, and output paths that cannot be written are
one line. Each through the real CLI: exit status, the one line, no traceback."""

from __future__ import annotations

import fcntl
import json
import os
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from specdl.front.reader import dump_yaml, read_yaml

from .conftest import ROOT, run_cli

IRIS = ROOT / "specs" / "iris_mlp.yaml"
QUICK = ["-o", "train.epochs=3", "-o", "train.device=cpu", "-o", "train.checkpoint.interval=0"]


def one_error(r, *fragments):
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len([ln for ln in lines if "error" in ln]) == 1, r.stderr
    err = next(ln for ln in lines if "error" in ln)
    for f in fragments:
        assert f in err, err
    return err


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    d = tmp_path_factory.mktemp("finished")
    r = run_cli("build", IRIS, *QUICK, "--out", d / "run", "-q", cwd=d)
    assert r.returncode == 0, r.stderr
    return d / "run"


@pytest.mark.slow  # subprocesses: seconds (the default suite stays under 5 minutes)
def test_out_refuses_a_folder_of_user_files(tmp_path):
    (tmp_path / "spec.yaml").write_text("# my commented spec\n" + IRIS.read_text())
    (tmp_path / "notes.txt").write_text("mine")
    before = (tmp_path / "spec.yaml").read_text()
    one_error(run_cli("build", tmp_path / "spec.yaml", *QUICK, "--out", ".", "-q", cwd=tmp_path),
              "holds the current directory", "not even with --force")
    one_error(run_cli("build", tmp_path / "spec.yaml", *QUICK, "--out", ".", "--force", "-q", cwd=tmp_path),
              "holds the current directory")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes.txt").write_text("mine")
    one_error(run_cli("build", tmp_path / "spec.yaml", *QUICK, "--out", "sub", "--force", "-q", cwd=tmp_path),
              "is not empty", "not a run directory")
    assert (tmp_path / "sub" / "notes.txt").read_text() == "mine"
    assert (tmp_path / "spec.yaml").read_text() == before and not (tmp_path / "last.pt").exists()


@pytest.mark.slow  # subprocesses: seconds (the default suite stays under 5 minutes)
def test_out_refuses_a_finished_run_and_force_replaces_it(tmp_path, finished):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "notes.txt").write_text("mine")
    report = (run / "report.json").read_text()
    one_error(run_cli("build", IRIS, *QUICK, "--out", run, "-q", cwd=tmp_path),
              "holds a finished previous run of this spec", "--force")
    assert (run / "report.json").read_text() == report
    r = run_cli("build", IRIS, *QUICK, "-o", "seed=4", "--out", run, "--force", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "seed: 4" in (run / "spec.yaml").read_text()  # the run's files replaced
    assert (run / "notes.txt").read_text() == "mine"  # not in the manifest: the user's, kept


@pytest.mark.slow  # subprocesses: seconds (the default suite stays under 5 minutes)
def test_one_process_holds_a_run_directory(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    fd = os.open(run / ".specdl.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running build holds it
    os.write(fd, b"4242")
    try:
        one_error(run_cli("build", IRIS, *QUICK, "--out", run, "-q", cwd=tmp_path),
                  "in use by another specdl process", "4242")
        (run / "spec.yaml").write_text(IRIS.read_text())
        one_error(run_cli("build", "--resume", run, "-q", cwd=tmp_path), "in use by another")
    finally:
        os.close(fd)
    (run / "spec.yaml").unlink()
    assert run_cli("build", IRIS, *QUICK, "--out", run, "-q", cwd=tmp_path).returncode == 0


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_spec_yaml_strings_read_back_as_written(s):
    data = {"data": {"source": "csv", "path": s, "target": s, "categorical": [s]}, "name": s}
    assert read_yaml(dump_yaml(data)).data == data


@pytest.mark.slow
def test_a_run_with_a_numeric_looking_column_stands_alone(tmp_path):
    import csv

    with open(tmp_path / "d.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["1e3", "yes", "null", "label"])
        for i in range(60):
            w.writerow([i % 5, (i * 7) % 3, i % 2, "ab"[i % 2]])
    (tmp_path / "s.yaml").write_text("data: {source: csv, path: d.csv, target: label, features: ['1e3', 'yes', 'null']}\n"
                                     "model: {layers: [{linear: 8}, relu, {linear: 2}]}\ntrain: {epochs: 2}\n")
    assert run_cli("build", "s.yaml", "--out", "run", "-q", cwd=tmp_path).returncode == 0
    assert "'1e3'" in (tmp_path / "run" / "spec.yaml").read_text()
    (tmp_path / "rows.csv").write_text("1e3,yes,null\n1,2,0\n3,1,1\n")
    r = run_cli("predict", "run", "--input", "rows.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_cli("export", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


@pytest.mark.slow
def test_resume_what_cannot_be_resumed(tmp_path, finished):
    def fresh(name):
        run = tmp_path / name
        shutil.copytree(finished, run)
        return run

    run = fresh("edited")
    (run / "spec.yaml").write_text((run / "spec.yaml").read_text().replace("out_features: 16", "out_features: 32"))
    one_error(run_cli("build", "--resume", run, "-q", cwd=tmp_path), "does not match", "spec.yaml")
    run = fresh("best")
    shutil.copy(run / "best.pt", run / "last.pt")
    one_error(run_cli("build", "--resume", run, "-q", cwd=tmp_path), "not a checkpoint to resume from", "best.pt")
    run = fresh("garbled")
    (run / "last.pt").write_bytes(b"\x00garbage")
    one_error(run_cli("build", "--resume", run, "-q", cwd=tmp_path), "cannot load checkpoint")
    one_error(run_cli("build", "--resume", fresh("shape"), "-o", "model.layers.0.linear.out_features=8", "-q",
                      cwd=tmp_path), "cannot change a run being resumed")
    one_error(run_cli("build", IRIS, "--resume", fresh("both"), "-q", cwd=tmp_path), "not both")
    one_error(run_cli("build", "--resume", fresh("out"), "--out", tmp_path / "x", "-q", cwd=tmp_path), "in place")
    one_error(run_cli("build", "--resume", tmp_path / "nowhere", "-q", cwd=tmp_path), "does not exist")
    (tmp_path / "empty").mkdir()
    one_error(run_cli("build", "--resume", tmp_path / "empty", "-q", cwd=tmp_path), "not a specdl run directory")


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_resume_continues_with_more_epochs_and_a_partial_metrics_line(tmp_path, finished):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 4, "train_lo')  # a kill in the middle of a write
    r = run_cli("build", "--resume", run, "-o", "train.epochs=5", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in rows] == [1, 2, 3, 4, 5]
    assert "epochs: 5" in (run / "spec.yaml").read_text()  # the override is recorded


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_resume_without_a_checkpoint_starts_over_with_a_note(tmp_path, finished):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(finished / "spec.yaml", run / "spec.yaml")  # a run killed before its first checkpoint
    shutil.copy(finished / ".specdl-manifest.json", run / ".specdl-manifest.json")
    r = run_cli("build", "--resume", run, "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "has no last.pt yet; the run starts from its beginning" in r.stderr
    assert (run / "report.json").exists()


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_nan_before_any_checkpoint_names_no_file(tmp_path):
    r = run_cli("build", ROOT / "specs" / "diabetes_mlp.yaml", "-o", "train.device=cpu", "-o",
                "optimizer={sgd: {lr: 1.0e+30}}", "-o", "train.epochs=2", "--out", tmp_path / "run", "-q")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "no checkpoint was written yet" in r.stderr or (tmp_path / "run" / "best.pt").exists()
    if "no checkpoint was written yet" in r.stderr:  # a failed start leaves no half-made run behind
        assert not (tmp_path / "run").exists()


@pytest.mark.slow  # a subprocess build: seconds (the --out case is in test_hostile_cli's default cases)
def test_a_failed_start_leaves_no_run_folder(tmp_path):
    """Bad weights fail the build before its first epoch: the runs/<name>/<time> folder it
    made goes (a folder that was there before stays, with what else it holds)."""
    (tmp_path / "g.pt").write_bytes(b"PK\x03\x04garbage")
    (tmp_path / "s.yaml").write_text("name: g\ndata: {source: synthetic, shape: [3, 32, 32], classes: 2}\n"
                                     "model: {torchvision: resnet18, weights: g.pt, num_classes: 2}\n"
                                     "train: {epochs: 1, device: cpu}\n")
    (tmp_path / "runs" / "g" / "old").mkdir(parents=True)
    r = run_cli("build", "s.yaml", "-q", cwd=tmp_path)
    assert r.returncode == 2 and "cannot load the weights g.pt" in r.stderr, r.stderr
    assert [p.name for p in (tmp_path / "runs" / "g").iterdir()] == ["old"]


@pytest.mark.parametrize("args", [
    ["codegen", IRIS, "--out", "{d}"], ["codegen", IRIS, "--out", "{f}/x.py"], ["schema", "--out", "{d}"],
    ["init", "--out", "{f}/s.yaml"], ["example-data", "--out", "{f}"], ["example-data", "--out", "{f}/data"],
    ["build", IRIS, "--out", "{f}"],
])
def test_output_paths_that_cannot_be_written(tmp_path, args):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    argv = [str(a).format(d=tmp_path / "folder", f=tmp_path / "file") for a in args]
    one_error(run_cli(*argv, cwd=tmp_path))


@pytest.mark.parametrize("batch", ["0", "-3", "x"])
def test_summary_batch_must_be_positive(batch):
    r = run_cli("summary", IRIS, "--batch", batch)
    one_error(r, "--batch")


@pytest.mark.slow
def test_a_run_predicts_and_exports_without_its_training_data(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    (tmp_path / "d.csv").write_text("a,b,city,y\n" + "".join(
        f"{rng.normal():.3f},{rng.normal():.3f},{'pq'[i % 2]},{'ab'[i % 3 % 2]}\n" for i in range(60)))
    (tmp_path / "s.yaml").write_text("data: {source: csv, path: d.csv, target: y, categorical: [city], "
                                     "transforms: [standardize]}\nmodel: {layers: [{linear: 2}]}\ntrain: {epochs: 2}\n")
    assert run_cli("build", "s.yaml", "--out", "run", "-q", cwd=tmp_path).returncode == 0
    (tmp_path / "d.csv").rename(tmp_path / "elsewhere.csv")
    (tmp_path / "rows.csv").write_text("a,b,city\n1,2,p\n0.5,-1,q\n")
    r = run_cli("predict", "run", "--input", "rows.csv", cwd=tmp_path)
    assert r.returncode == 0 and len(r.stdout.strip().splitlines()) == 3, r.stderr
    r = run_cli("export", "run", cwd=tmp_path)
    assert r.returncode == 0 and "onnxruntime" in r.stdout, r.stderr
    r = run_cli("build", "--resume", "run", "-o", "train.epochs=3", "-q", cwd=tmp_path)  # training needs the data
    assert r.returncode == 2 and "Traceback" not in r.stderr and "no such file: d.csv" in r.stderr, r.stderr
