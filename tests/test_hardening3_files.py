"""Issue 26, class 1: specdl never deletes or replaces what it did not write.

A run, tune or example-data folder lists what specdl wrote there (specdl/manifest.py);
`--force` removes only that, a user's folder is never taken for a run, an older run
(no manifest) is read with a note and never replaced, and no verb writes its output
over one of its own inputs. In process where possible (the API, `cli.main`, the run
directory's functions): one real build for the module."""

from __future__ import annotations

import json
import os
import shutil

import pytest

import specdl
from specdl import manifest
from specdl.build import rundir
from specdl.cli import main
from specdl.errors import RunError
from specdl.front import load

TINY = """\
name: tiny
seed: 0
data: {source: sklearn, dataset: iris, split: {val: 0.2, test: 0.2}, transforms: [standardize]}
model: {layers: [{linear: 8}, relu, {linear: 3}]}
loss: cross_entropy
optimizer: {adam: {lr: 0.01}}
train: {epochs: 1, batch_size: 32, device: cpu, checkpoint: {interval: 0}}
metrics: [accuracy]
"""
COLUMNS = "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One finished run of the tiny spec (copied by each test that changes it)."""
    root = tmp_path_factory.mktemp("c1")
    (root / "tiny.yaml").write_text(TINY)
    return specdl.train(root / "tiny.yaml", out=root / "run").run_dir


@pytest.fixture
def spec(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY)
    return tmp_path / "tiny.yaml"


def snapshot(folder):
    """Every file under ``folder`` with its bytes (links as their targets' names)."""
    out = {}
    for dirpath, _, names in os.walk(folder):
        for n in names:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, folder)] = os.readlink(p) if os.path.islink(p) else open(p, "rb").read()
    return out


def cli(capsys, *argv):
    """``specdl ARGV`` in this process: (exit status, its `error:` lines)."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, [ln for ln in err.splitlines() if "error:" in ln]


def users_folder(path):
    """The issue's example: a user's project folder with a commented spec, a metrics.jsonl
    of their own, notes and code."""
    (path / "src").mkdir(parents=True)
    (path / "spec.yaml").write_text("# my project, commented\n" + TINY)
    (path / "metrics.jsonl").write_text('{"epoch": 1, "mine": true}\n')
    (path / "notes.txt").write_text("mine")
    (path / "src" / "model.py").write_text("x = 1\n")
    return path


# -- a user's folder is never a previous run ----------------------------------------------

def test_build_force_into_a_users_folder_is_refused_and_touches_nothing(tmp_path, capsys):
    proj = users_folder(tmp_path / "proj")
    before = snapshot(proj)
    for extra in ([], ["--force"]):
        code, errors = cli(capsys, "build", proj / "spec.yaml", "--out", proj, "-q", *extra)
        assert code == 2 and len(errors) == 1, errors
        assert "not a run directory" in errors[0] and "replace it with --force" not in errors[0], errors[0]
    assert snapshot(proj) == before


def test_resume_of_a_users_folder_is_refused(tmp_path):
    proj = users_folder(tmp_path / "proj")
    before = snapshot(proj)
    with pytest.raises(RunError, match="not a run that specdl wrote"):
        specdl.train(None, resume=proj)
    assert snapshot(proj) == before  # the commented spec.yaml is not rewritten


# -- the manifest: what a build wrote, and what --force removes ----------------------------

def test_every_file_a_build_writes_is_in_its_manifest(built):
    listed = set(json.loads((built / manifest.MANIFEST).read_text())["paths"])
    on_disk = {p.name for p in built.iterdir()} - {manifest.MANIFEST}
    assert listed == on_disk and {"spec.yaml", "best.pt", "last.pt", "report.json"} <= listed


def test_force_removes_only_listed_files(built, tmp_path, spec):
    run = tmp_path / "run"
    shutil.copytree(built, run)
    (run / "notes.txt").write_text("mine")
    (run / "src").mkdir()
    (run / "src" / "a.py").write_text("x = 1\n")
    with pytest.raises(RunError, match="replace it with --force"):
        rundir.new_run(load(spec), run)
    held = rundir.new_run(load(spec), run, force=True)
    held.close()
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt", "src"]  # the run's files went, the user's stay
    assert (run / "src" / "a.py").read_text() == "x = 1\n"


def test_files_specdl_did_not_write_do_not_make_a_run_folder_not_empty(tmp_path, spec):
    run = tmp_path / "run"
    run.mkdir()
    manifest.start(run, "run")
    manifest.record(run, "metrics.jsonl")  # listed, but gone: the user deleted the run, kept notes
    (run / "notes.txt").write_text("mine")
    held = rundir.new_run(load(spec), run)  # no --force needed: nothing of specdl's is there
    held.close()
    assert (run / "notes.txt").read_text() == "mine"


def test_a_users_spec_yaml_in_a_run_folder_is_never_overwritten(tmp_path, spec):
    run = tmp_path / "run"
    run.mkdir()
    manifest.start(run, "run")
    manifest.record(run, "metrics.jsonl", "last.pt")
    (run / "metrics.jsonl").write_text("")
    (run / "spec.yaml").write_text("# mine\n" + TINY)  # not listed: the user's
    with pytest.raises(RunError, match="spec.yaml is not a file specdl wrote"):
        rundir.new_run(load(spec), run, force=True)
    assert (run / "spec.yaml").read_text() == "# mine\n" + TINY and (run / "metrics.jsonl").exists()


def test_force_never_removes_the_spec_it_builds(built, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(built, run)
    with pytest.raises(RunError, match="this build reads"):
        rundir.new_run(load(run / "spec.yaml"), run, force=True)
    assert (run / "spec.yaml").exists() and (run / "best.pt").exists()


def test_a_manifest_that_points_outside_is_refused(tmp_path, spec):
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "precious.txt").write_text("mine")
    (run / "spec.yaml").write_text(TINY)
    (run / "metrics.jsonl").write_text("")
    (run / manifest.MANIFEST).write_text(json.dumps({"kind": "run", "paths": ["../precious.txt", "spec.yaml"]}))
    with pytest.raises(RunError, match="damaged"):
        rundir.new_run(load(spec), run, force=True)
    assert (tmp_path / "precious.txt").read_text() == "mine" and (run / "spec.yaml").exists()


def test_force_does_not_follow_a_listed_folder_replaced_by_a_link(tmp_path, spec):
    run, theirs = tmp_path / "run", tmp_path / "theirs"
    run.mkdir()
    theirs.mkdir()
    (theirs / "events.out.tfevents.1").write_text("mine")
    manifest.start(run, "run")
    manifest.record(run, "tensorboard", "tensorboard/events.out.tfevents.1")
    (run / "tensorboard").symlink_to(theirs)
    rundir.new_run(load(spec), run, force=True).close()
    assert (theirs / "events.out.tfevents.1").read_text() == "mine"


def test_other_kinds_of_specdl_folder_are_not_runs(tmp_path, spec):
    for kind, words in (("tune", "a tune study"), ("example-data", "example data")):
        d = tmp_path / kind
        d.mkdir()
        manifest.start(d, kind)
        manifest.record(d, "x")
        (d / "x").write_text("")
        with pytest.raises(RunError, match=words):
            rundir.new_run(load(spec), d, force=True)
        assert (d / "x").exists()


def test_concurrent_records_lose_nothing(tmp_path):
    """Writers in other processes (a tune's --jobs) take the folder's flock, which also
    excludes other threads' open descriptors: two threads stand in for two processes."""
    import threading

    manifest.start(tmp_path, "tune")
    threads = [threading.Thread(target=lambda w=w: [manifest.record(tmp_path, f"{w}-{i}") for i in range(40)])
               for w in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(json.loads((tmp_path / manifest.MANIFEST).read_text())["paths"]) == 80


# -- older runs (no manifest) --------------------------------------------------------------

def test_an_older_run_is_read_with_a_note_and_never_replaced(built, tmp_path, spec, capsys):
    old = tmp_path / "old"
    shutil.copytree(built, old)
    (old / manifest.MANIFEST).unlink(missing_ok=True)
    before = snapshot(old)
    code, errors = cli(capsys, "build", spec, "--out", old, "--force", "-q")
    assert code == 2 and len(errors) == 1, errors
    assert "written by an older specdl" in errors[0] and "delete it yourself" in errors[0], errors[0]
    assert snapshot(old) == before
    specdl.load_run(old)
    notes = [ln for ln in capsys.readouterr().err.splitlines() if "note:" in ln]
    assert len(notes) == 1 and "older specdl" in notes[0], notes
    assert "older specdl" in rundir.resumable(old)  # --resume takes it, with the same note


# -- tune and example-data folders ---------------------------------------------------------

SEARCH = TINY + "search: {trials: 2, space: {optimizer.adam.lr: {log_uniform: [0.001, 0.1]}}}\n"


def test_a_tune_folder_takes_the_users_files_beside_its_own(tmp_path):
    from specdl.front import spec_fingerprint
    from specdl.tuning.run import _tune_dir as tune_dir

    (tmp_path / "s.yaml").write_text(SEARCH)
    s = load(tmp_path / "s.yaml")

    def _tune_dir(spec, out):
        return tune_dir(spec, out, spec_fingerprint(spec))

    t = tmp_path / "tune"
    t.mkdir()
    manifest.start(t, "tune")
    (t / "notes.txt").write_text("mine")
    assert _tune_dir(s, t) == t  # the user's notes do not make it "a non-empty folder"
    (t / "best.yaml").write_text("# mine\n")
    with pytest.raises(RunError, match="best.yaml is not a file specdl wrote"):
        _tune_dir(s, t)
    with pytest.raises(RunError, match="a run written by specdl"):
        r = tmp_path / "r"
        r.mkdir()
        manifest.start(r, "run")
        _tune_dir(s, r)


@pytest.mark.slow  # two trials
def test_tune_lists_what_it_wrote(tmp_path):
    (tmp_path / "s.yaml").write_text(SEARCH)
    result = specdl.tune(tmp_path / "s.yaml", out=tmp_path / "tune")
    listed = set(json.loads((result.tune_dir / manifest.MANIFEST).read_text())["paths"])
    assert listed == {p.name for p in result.tune_dir.iterdir()} - {manifest.MANIFEST}
    assert {"trial-0001", "trial-0002", "tune.json", "spec.yaml", "trials.csv"} <= listed


def test_example_data_never_replaces_a_users_file(tmp_path):
    from specdl.build.examples import write_all

    out = tmp_path / "mine"  # (./data is the suite's example data)
    (out / "shapes" / "circles").mkdir(parents=True)
    (out / "shapes" / "circles" / "000.png").write_bytes(b"my own picture")
    (out / "my.csv").write_text("a,b\n")
    with pytest.raises(RunError, match="specdl did not write it"):
        write_all(out)
    assert (out / "shapes" / "circles" / "000.png").read_bytes() == b"my own picture"
    (out / "shapes" / "circles" / "000.png").unlink()
    write_all(out)
    listed = set(json.loads((out / manifest.MANIFEST).read_text())["paths"])
    assert "my.csv" not in listed and "checkpoints/resnet18.pth" in listed
    assert len([p for p in listed if p.endswith(".png")]) == 180 + 64  # shapes/, and reviews.csv's posters/
    assert (out / "my.csv").read_text() == "a,b\n"


# -- no output over the command's own inputs ------------------------------------------------

def test_codegen_out_that_is_its_spec_is_refused(spec, tmp_path, capsys):
    (tmp_path / "link.yaml").symlink_to(spec)
    for out in (spec, tmp_path / "link.yaml"):
        code, errors = cli(capsys, "codegen", spec, "--out", out)
        assert code == 2 and len(errors) == 1 and "this command reads" in errors[0], errors
    assert spec.read_text() == TINY
    assert cli(capsys, "codegen", spec, "--out", tmp_path / "other.py")[0] == 0  # any other file: as cp


@pytest.mark.parametrize("verb", ["predict", "evaluate"])
def test_predict_and_evaluate_out_that_is_an_input_is_refused(verb, built, tmp_path, capsys):
    features, labelled = tmp_path / "x.csv", tmp_path / "labelled.csv"
    features.write_text(f"{COLUMNS}\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    labelled.write_text(f"{COLUMNS},target\n5.1,3.5,1.4,0.2,setosa\n6.7,3.0,5.2,2.3,virginica\n")
    os.link(features, tmp_path / "hard.csv")
    os.link(labelled, tmp_path / "hard_labelled.csv")
    run_files = [built / "spec.yaml", built / "preprocess.json", built / "best.pt"]
    before = {p: p.read_bytes() for p in (features, labelled, *run_files)}
    rows, hard = (features, "hard.csv") if verb == "predict" else (labelled, "hard_labelled.csv")
    for out in (rows, tmp_path / hard, *run_files):
        code, errors = cli(capsys, verb, built, "--input", rows, "--out", out)
        assert code == 2 and len(errors) == 1 and "this command reads" in errors[0], (out, errors)
    assert {p: p.read_bytes() for p in before} == before
    (tmp_path / "old.txt").write_text("old")
    assert cli(capsys, verb, built, "--input", rows, "--out", tmp_path / "old.txt")[0] == 0
    assert (tmp_path / "old.txt").read_text() != "old"  # any other file is overwritten, as cp does


def test_export_out_that_is_a_file_of_the_run_is_refused(built, capsys):
    best = (built / "best.pt").read_bytes()
    for name in ("best.pt", "spec.yaml", "examples.pt"):
        code, errors = cli(capsys, "export", built, "--out", built / name)
        assert code == 2 and len(errors) == 1 and "this command reads" in errors[0], errors
    assert (built / "best.pt").read_bytes() == best


def test_an_output_inside_an_input_folder_is_refused(tmp_path):
    from specdl.files import check_output

    (tmp_path / "images").mkdir()
    with pytest.raises(RunError, match="lies in"):
        check_output(tmp_path / "images" / "p.csv", "the predictions", inputs=[tmp_path / "images"])
    assert check_output(tmp_path / "p.csv", "the predictions", inputs=[tmp_path / "images"]) == tmp_path / "p.csv"
