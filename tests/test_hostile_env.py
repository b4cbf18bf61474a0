"""Hostile environments and what a failure leaves behind, second round: environment
variables specdl reads set to nonsense, a deleted current directory, an unwritable HOME;
a failed build or tune writes nothing (no empty run folder, no tune record of a storage
that never opened); --resume of a file, of a run whose spec.yaml is a folder, of a run
killed mid-write (its temporary files cleared); an atomic write over a folder names the
file, not its temporary. Real subprocesses; exit 2 and one line, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT, run_cli
from .test_runs_corpus import IRIS, one_error


@pytest.fixture
def spec(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(IRIS)
    return p


@pytest.mark.parametrize("name, value", [
    ("SPECDL_CACHE_MEMORY", "abc"), ("SPECDL_CACHE_MEMORY", "  "), ("SPECDL_DIST_TIMEOUT", "nan"),
    ("SPECDL_DIST_TIMEOUT", "1e400"), ("WORLD_SIZE", "2.5"), ("LOCAL_RANK", "-1"),
])
def test_an_environment_variable_that_cannot_be_read_is_one_line(spec, tmp_path, name, value):
    r = run_cli("check", spec, env={name: value}, cwd=tmp_path)
    line = one_error(r, f"environment variable {name}=", "unset it")
    assert line.startswith("specdl: error:"), line


@pytest.mark.parametrize("name, value", [("SPECDL_CACHE_MEMORY", "1_000"), ("SPECDL_DIST_TIMEOUT", "")])
def test_readable_environment_values_pass(spec, tmp_path, name, value):
    r = run_cli("check", spec, env={name: value}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def _in_deleted_cwd(tmp_path, *args):
    gone = tmp_path / "gone"
    gone.mkdir()
    code = ("import os, runpy, sys; os.chdir(sys.argv[1]); os.rmdir(sys.argv[1]); "
            "sys.argv = ['specdl', *sys.argv[2:]]; runpy.run_module('specdl', run_name='__main__')")
    return subprocess.run([sys.executable, "-c", code, str(gone), *map(str, args)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)


@pytest.mark.parametrize("verb", ["build", "codegen"])
def test_a_deleted_current_directory_is_one_line(spec, tmp_path, verb):
    one_error(_in_deleted_cwd(tmp_path, verb, spec, "--out", tmp_path / "o"), "current directory no longer exists")
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_failed_build_leaves_no_empty_run_folder(spec, tmp_path):
    (tmp_path / "d.csv").write_text("a,b,y\n" + "".join(f"{i},{'' if i == 5 else i},{i % 3}\n" for i in range(30)))
    data = "data={source: csv, path: d.csv, target: y, task: classification}"
    (tmp_path / "mine").mkdir()  # a folder that was there stays
    for out in ("new", "deep/er/new", "mine"):
        one_error(run_cli("build", spec, "--out", out, "-q", "-o", data, cwd=tmp_path), "blank cells in `b`")
        assert (tmp_path / out).exists() == (out == "mine")
    assert list((tmp_path / "mine").iterdir()) == []


@pytest.mark.parametrize("storage", ["notaurl", "sqlite:///afile/x.db", "journal:x"])
def test_a_storage_that_does_not_open_writes_no_tune_directory(spec, tmp_path, storage):
    (tmp_path / "afile").write_text("x")
    spec.write_text(IRIS + "search: {trials: 1, space: {optimizer.adam.lr: {log_uniform: [0.001, 0.1]}}}\n")
    one_error(run_cli("tune", spec, "--storage", storage, "--out", "t", "-q", cwd=tmp_path), "storage")
    assert not (tmp_path / "t").exists()


@pytest.mark.slow
def test_resume_of_what_is_not_a_run_directory(tmp_path):
    (tmp_path / "afile").write_text("x")
    one_error(run_cli("build", "--resume", "afile", "-q", cwd=tmp_path), "afile", "a file, not a run directory")
    (tmp_path / "r" / "spec.yaml").mkdir(parents=True)
    one_error(run_cli("build", "--resume", "r", "-q", cwd=tmp_path), "r/spec.yaml is a folder")


@pytest.fixture
def run(spec, tmp_path):
    r = run_cli("build", spec, "--out", tmp_path / "run", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return tmp_path / "run"


@pytest.mark.slow
def test_resume_clears_a_killed_writes_temporary_files(run, tmp_path):
    for name in ("last.pt", "best.pt", "examples.pt"):
        (run / f".{name}.k1ll3d.tmp").write_bytes((run / "last.pt").read_bytes()[:100])
    (run / ".notes.tmp").write_text("not specdl's")
    r = run_cli("build", "--resume", run, "-q", "-o", "train.epochs=3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in run.glob(".*.tmp")) == [".notes.tmp"]
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["epoch"] == 3


@pytest.mark.slow
def test_an_atomic_write_over_a_folder_names_the_file(run, tmp_path):
    (run / "examples.pt").unlink()
    (run / "examples.pt").mkdir()
    line = one_error(run_cli("build", "--resume", run, "-q", "-o", "train.epochs=3", cwd=tmp_path), "examples.pt")
    assert ".tmp" not in line, line
    assert not list(run.glob(".*.tmp"))


@pytest.mark.slow
def test_an_unwritable_home_is_not_the_users_concern(spec, tmp_path):
    (tmp_path / "afile").write_text("x")
    for env in ({"HOME": str(tmp_path / "afile"), "XDG_CACHE_HOME": "", "XDG_CONFIG_HOME": "", "MPLCONFIGDIR": ""},
                {"MPLCONFIGDIR": str(tmp_path / "afile")}):  # "" reads as unset
        r = run_cli("build", spec, "--out", "o", "-q", "--force", env=env, cwd=tmp_path)
        assert r.returncode == 0 and r.stderr == "", r.stderr
    shutil.rmtree(tmp_path / "o")


PRE_EDITS = {  # an edit of preprocess.json -> words of the one line it must give
    "short": (lambda d: d["transforms"][0].__setitem__("mean", [1.0]), "does not fit the run's spec"),
    "text": (lambda d: d["transforms"][0].__setitem__("mean", "abc"), "other than finite numbers"),
    "nan": (lambda d: d["transforms"][0]["std"].__setitem__(0, float("nan")), "finite"),
    "no state": (lambda d: d.__setitem__("transforms", []), "one fitted state"),
    "extra state": (lambda d: d["target_transforms"].append({}), "target_transforms"),
    "names": (lambda d: d.__setitem__("class_names", ["x"]), "1 class names for 3 classes"),
    "name types": (lambda d: d.__setitem__("class_names", [1, 2, 3]), "class_names"),
    "feat": (lambda d: d["facts"]["info"].__setitem__("feat", [-4]), "is damaged"),
    "classes": (lambda d: d["facts"]["info"].__setitem__("classes", 0), "is damaged"),
    "info keys": (lambda d: d["facts"]["info"].__setitem__("evil", 1), "is damaged"),
    "task": (lambda d: d["facts"]["info"].__setitem__("task", "ranking"), "is damaged"),
}


@pytest.mark.slow
def test_an_edited_preprocess_json_is_one_line_on_every_verb(run, tmp_path):
    import numpy as np

    np.save(tmp_path / "x.npy", np.zeros((3, 4), np.float32))
    np.savez(tmp_path / "e.npz", x=np.zeros((3, 4), np.float32), y=np.array([0, 1, 2]))
    pristine = json.loads((run / "preprocess.json").read_text())
    for name, (edit, words) in PRE_EDITS.items():
        data = json.loads(json.dumps(pristine))
        edit(data)
        (run / "preprocess.json").write_text(json.dumps(data))
        verbs = [["predict", run, "--input", "x.npy"], ["evaluate", run, "--input", "e.npz"],
                 ["export", run, "--out", "m.onnx"]]
        for verb in verbs if name in ("short", "feat") else verbs[:1]:  # every verb loads a run one way
            line = one_error(run_cli(*verb, cwd=tmp_path), "preprocess.json", words)
            assert line.startswith("specdl: error:"), (name, line)
    (run / "preprocess.json").write_text(json.dumps(pristine))
    assert run_cli("predict", run, "--input", "x.npy", cwd=tmp_path).returncode == 0
