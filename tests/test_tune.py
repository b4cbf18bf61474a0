"""`specdl tune`: the search section is checked and proven before any trial; trials are
ordinary runs on one Optuna study (SQLite by default, shared by processes; PostgreSQL
where a server can be started); a failed trial is recorded and the study goes on; the
same command continues a study, a SIGKILL loses only the trial in flight; best.yaml
builds to the best trial's metrics."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import specdl

from .conftest import ROOT, run_cli

SPEC = {
    "name": "tiny-diabetes", "seed": 0,
    "data": {"source": "sklearn", "dataset": "diabetes", "split": {"val": 0.1, "test": 0.2},
             "transforms": ["standardize"], "target_transforms": ["standardize"]},
    "model": {"layers": [{"linear": 16}, "relu", {"linear": 1}]},
    "loss": "mse", "optimizer": {"adamw": {"lr": 3.0e-3}},
    "train": {"epochs": 4, "batch_size": 64, "device": "cpu", "threads": 1},
    "metrics": ["mse", "r2"],
    "search": {"trials": 3, "space": {"optimizer.adamw.lr": {"log_uniform": [1.0e-3, 3.0e-2]},
                                      "model.layers.0.linear": {"int": [8, 32], "step": 8}}},
}


def write(tmp_path, spec=None, name="spec.yaml", **search):
    spec = json.loads(json.dumps(spec or SPEC))
    spec["search"].update(search)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def rows(tdir):
    with open(tdir / "trials.csv") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- check proves the space
@pytest.mark.parametrize("space, expected", [
    ({"model.layers.0.linear": {"int": [0, 32], "step": 8}},
     "search.space.model.layers.0.linear: at 0, model.layers[0].out_features: must be >= 1, got 0"),
    ({"model.layers.5.linear": {"int": [1, 3]}},
     "search.space.model.layers.5.linear: does not resolve (cannot set `model.layers.5.linear`: "
     "model.layers has no `5`)"),
    ({"train.epochz": {"choice": [1, 2]}},
     "search.space.train.epochz: at 1, train.epochz: unknown key `epochz`; did you mean `epochs`?"),
    ({"train.batch_size": {"choice": [16, "big"]}},
     "search.space.train.batch_size: at \"big\", train.batch_size: must be a whole number"),
    ({"data.split.val": {"uniform": [0.1, 0.9]}},
     "search.space.data.split.val: at 0.9, data.split: val 0.9 + test 0.2 leaves nothing to train on"),
])
def test_check_proves_every_bound_and_choice(tmp_path, space, expected):
    spec = json.loads(json.dumps(SPEC))
    spec["search"]["space"] = space
    path = write(tmp_path, spec)
    r = run_cli("check", path, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 2 and lines[1] == "1 error", r.stderr
    line = next(n for n, t in enumerate(path.read_text().splitlines(), 1) if t.strip().startswith(next(iter(space))))
    assert lines[0].startswith(f"{path}:{line}:") and expected in lines[0], (lines[0], expected)


@pytest.mark.parametrize("dist, expected", [
    ({"uniform": [0.5, 0.1]}, "the range [0.5, 0.1] is empty"),
    ({"log_uniform": [0.0, 0.1]}, "a log range starts above 0"),
    ({"int": [8, 60], "step": 8}, "the step 8 does not divide the range [8, 60]; end it at 56"),
    ({"uniform": [0.1, 0.2], "choice": [1]}, "give exactly one of uniform, log_uniform, int, choice"),
    ({"choice": [1, 1]}, "a choice lists each value once"),
    ({"uniform": [0.1, 0.2], "step": 2}, "`step` and `log` go with an `int` range"),
    ({"normal": [0, 1]}, "unknown key `normal`"),
])
def test_bad_distributions_are_located(tmp_path, dist, expected):
    spec = json.loads(json.dumps(SPEC))
    spec["search"]["space"] = {"optimizer.adamw.lr": dist}
    r = run_cli("check", write(tmp_path, spec), cwd=tmp_path)
    assert r.returncode == 2 and expected in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.splitlines()[0].split(": error: ")[1].startswith("search.space.optimizer.adamw.lr")


def test_grid_needs_finite_dimensions_and_metric_must_be_monitored(tmp_path):
    r = run_cli("check", write(tmp_path, sampler="grid"), cwd=tmp_path)
    assert r.returncode == 2 and "`optimizer.adamw.lr` is a continuous range" in r.stderr
    r = run_cli("check", write(tmp_path, metric="val_accuracy"), cwd=tmp_path)
    assert r.returncode == 2 and "error: search.metric: cannot monitor `val_accuracy`" in r.stderr, r.stderr  # said once


@pytest.mark.slow  # subprocesses: seconds (the default suite stays under 5 minutes)
def test_build_and_codegen_ignore_the_search_section(tmp_path):
    spec = json.loads(json.dumps(SPEC))
    spec["search"]["space"] = {"model.layers.0.linear": {"int": [0, 8]}}  # would not prove
    path = write(tmp_path, spec)
    assert run_cli("check", path, cwd=tmp_path).returncode == 2
    code = specdl.codegen(path)
    assert "search" not in code.split('"""', 2)[2]
    r = run_cli("build", path, "-o", "train.epochs=1", "--out", tmp_path / "run", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- running a study
@pytest.mark.slow  # a whole study (CI runs it); tests/test_tune_study.py covers its parts in the default run
def test_tune_writes_results_and_best_yaml_rebuilds_the_best_trial(tmp_path):
    path = write(tmp_path)
    r = run_cli("tune", path, "--out", tmp_path / "t", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    tdir = tmp_path / "t"
    for name in ("study.db", "trials.csv", "best.yaml", "history.png", "importance.png", "spec.yaml"):
        assert (tdir / name).stat().st_size > 0, name
    table = rows(tdir)
    assert [int(t["trial"]) for t in table] == [1, 2, 3]
    assert [line.split()[1] for line in r.stderr.splitlines() if line.startswith("trial ")] == ["1/3", "2/3", "3/3"]
    assert "val_loss" in r.stdout and "best spec:" in r.stdout
    done = [t for t in table if t["state"] == "complete"]
    best = min(done, key=lambda t: float(t["value"]))
    trial_report = json.loads((tdir / f"trial-{int(best['trial']):04d}" / "report.json").read_text())
    assert trial_report["best_val_loss"] == pytest.approx(float(best["value"]))
    assert specdl.check(tdir / "best.yaml").spec.search is None  # checks clean; a plain spec
    b = run_cli("build", tdir / "best.yaml", "--out", tmp_path / "again", "-q", cwd=tmp_path)
    assert b.returncode == 0, b.stderr
    again = json.loads((tmp_path / "again" / "report.json").read_text())
    assert again["test"] == trial_report["test"]  # the same seed: the same model, to the last bit
    assert specdl.load(tdir / "best.yaml").model.layers[0].out_features == int(best["model.layers.0.linear"])


@pytest.mark.slow  # subprocesses: seconds (the default suite stays under 5 minutes)
def test_a_failing_trial_is_recorded_and_the_study_goes_on(tmp_path):
    spec = json.loads(json.dumps(SPEC))
    spec["search"] = {"trials": 3, "sampler": "grid", "pruner": "none",
                      "space": {"optimizer.adamw.lr": {"choice": [1.0e-3, 1.0e+30, 3.0e-3]}}}
    r = run_cli("tune", write(tmp_path, spec), "--out", tmp_path / "t", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    table = rows(tmp_path / "t")
    states = {float(t["optimizer.adamw.lr"]): t["state"] for t in table}
    assert states == {1.0e-3: "complete", 1.0e+30: "fail", 3.0e-3: "complete"}
    failed = next(t for t in table if t["state"] == "fail")
    assert "the training loss became nan" in failed["error"] or "inf" in failed["error"], failed
    assert "\n" not in failed["error"] and "Traceback" not in r.stderr


@pytest.mark.slow
def test_the_same_command_continues_the_study(tmp_path):
    path = write(tmp_path)
    first = run_cli("tune", path, "--trials", "2", "-q", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (tdir,) = (tmp_path / "runs" / "tiny-diabetes").glob("tune-*")
    assert len(rows(tdir)) == 2
    again = run_cli("tune", path, "--trials", "3", "-q", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert list((tmp_path / "runs" / "tiny-diabetes").glob("tune-*")) == [tdir]
    assert [t["trial"] for t in rows(tdir)] == ["1", "2", "3"]


@pytest.mark.slow
def test_sigkill_loses_only_the_trial_in_flight(tmp_path):
    spec = json.loads(json.dumps(SPEC))
    spec["train"]["epochs"] = 400  # long enough to be killed in the middle of trial 2
    spec["search"]["pruner"] = "none"
    path = write(tmp_path, spec)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "specdl", "tune", str(path), "--out", str(tmp_path / "t"), "-q"],
                         cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not (tmp_path / "t" / "trial-0002" / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    p.send_signal(signal.SIGKILL)
    p.wait()
    r = run_cli("tune", path, "--out", tmp_path / "t", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    table = rows(tmp_path / "t")
    assert [t["state"] for t in table][:2] == ["complete", "fail"]
    assert table[1]["error"].startswith("interrupted")
    assert len(table) == 3  # the study still holds 3 trials: the killed one counts, as failed


@pytest.mark.slow
def test_two_processes_share_one_sqlite_study(tmp_path):
    path = write(tmp_path, trials=4)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "specdl", "tune", str(path), "--storage", url, "--trials",
                               "4", "--out", str(tmp_path / f"m{i}"), "-q"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    import optuna

    study = optuna.load_study(study_name=_study_name(path), storage=url)
    assert 4 <= len(study.trials) <= 5  # two machines' worth of trials in one study
    assert {t.state.name for t in study.trials} <= {"COMPLETE", "PRUNED"}
    dirs = {t.user_attrs["run_dir"].split("/")[-2] for t in study.trials}
    assert dirs == {"m0", "m1"} or len(study.trials) == 4


@pytest.mark.slow
def test_jobs_run_trials_in_separate_processes(tmp_path):
    path = write(tmp_path, trials=4)
    r = run_cli("tune", path, "--jobs", "2", "--out", tmp_path / "t", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "with 2 job(s)" in r.stderr
    table = rows(tmp_path / "t")
    assert len(table) == 4 and all(t["state"] in ("complete", "pruned") for t in table)
    threads = {json.loads((tmp_path / "t" / f"trial-{i:04d}" / "report.json").read_text())["threads"]
               for i in range(4) if (tmp_path / "t" / f"trial-{i:04d}" / "report.json").exists()}
    assert threads == {1}


def test_python_api_returns_the_study_and_the_best_spec(tmp_path):
    result = specdl.tune(write(tmp_path, metric="val_r2"), trials=2, out=tmp_path / "t")
    study, best = result
    assert len(study.trials) == 2 and best is not None and best.search is None
    assert study.direction.name == "MAXIMIZE"  # r2: higher is better, as train.checkpoint decides
    assert best.train.checkpoint.monitor == "val_r2"  # best.yaml picks its best epoch as the trial did
    assert best.optimizer.lr == pytest.approx(study.best_params["optimizer.adamw.lr"])
    assert result.best_path == tmp_path / "t" / "best.yaml"


def test_bad_storage_and_spec_without_search_are_one_line(tmp_path):
    r = run_cli("tune", write(tmp_path), "--storage", "nosuchdb://x", "--out", tmp_path / "t", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("specdl: error: cannot open the study storage") \
        and len(r.stderr.splitlines()) == 1, r.stderr
    r = run_cli("tune", ROOT / "specs" / "iris_mlp.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "has no `search` section" in r.stderr


# ---------------------------------------------------------------- PostgreSQL
def _postgres_bin():
    for d in ("/usr/lib/postgresql",):
        if os.path.isdir(d):
            for v in sorted(os.listdir(d), reverse=True):
                if os.path.exists(f"{d}/{v}/bin/initdb"):
                    return f"{d}/{v}/bin"
    return os.path.dirname(shutil.which("initdb") or "") or None


@pytest.fixture
def postgres(tmp_path):
    """A real PostgreSQL server in a temporary folder, started and stopped by the test."""
    pytest.importorskip("psycopg", reason="PostgreSQL storage needs psycopg (pip install 'psycopg[binary]')")
    bindir = _postgres_bin()
    if not bindir:
        pytest.skip("no PostgreSQL server installed (Debian: apt install postgresql)")
    import tempfile

    data = Path(tempfile.mkdtemp(prefix="specdl-pg-"))  # not under pytest's root-only folder
    as_user = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "specdl"],
                   check=True, capture_output=True, cwd=data)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l", str(data / "log"), "-o",
                    f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True,
                   cwd=data)
    try:
        yield f"postgresql://specdl@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, cwd=data)
        shutil.rmtree(data, ignore_errors=True)


@pytest.mark.slow
def test_a_study_on_postgresql(tmp_path, postgres):
    path = write(tmp_path, trials=2)
    r = run_cli("tune", path, "--storage", postgres, "--out", tmp_path / "a", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_cli("tune", path, "--storage", postgres, "--trials", "3", "--out", tmp_path / "b", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import optuna

    assert len(optuna.load_study(study_name=_study_name(path), storage=postgres).trials) == 3
    assert "…@127.0.0.1" in run_cli("tune", path, "--storage", postgres, "--out", tmp_path / "b",
                                    cwd=tmp_path).stderr


def _study_name(path) -> str:
    """The default study of a spec: its name and the first 8 digits of its fingerprint."""
    from specdl.front import spec_fingerprint

    return f"tiny-diabetes-{spec_fingerprint(specdl.load(path))[:8]}"


def _open_shared(url: str) -> str:
    """Open (creating) the study at ``url`` in a fresh process: "ok" or the error line."""
    from types import SimpleNamespace

    from specdl.tuning.study import open_study

    try:
        open_study(SimpleNamespace(storage=url, study="s", direction="minimize", trials=1, fingerprint="f" * 64,
                                   default_study="s", seed=0, metric="val_loss"), create=True)
        return "ok"
    except BaseException as e:  # noqa: BLE001  (RunError's SystemExit-free line)
        return str(e)


@pytest.mark.slow
def test_processes_creating_one_new_sqlite_database_at_once_all_open_it(tmp_path):
    """Several processes making the same new database: optuna's schema is written by one,
    the others saw `UNIQUE constraint failed: alembic_version` (3 in 24 before the fix)."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(6) as pool:
        for k in range(4):
            outcomes = pool.map(_open_shared, [f"sqlite:///{tmp_path / f'db{k}.db'}"] * 6)
            assert outcomes == ["ok"] * 6, outcomes
