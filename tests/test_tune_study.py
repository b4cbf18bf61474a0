"""A search result belongs to its spec (issue 26, class 3): a study is named and stamped
with the spec's fingerprint, and one of another spec is refused; storages that do not
persist are refused before any trial; tune.json records the default database relative to
the tune folder; a grid's points are queued once, by the process that creates the study;
trial numbers, folders, trials.csv and the plots agree; best.yaml is the user's own file
with the searched values edited in."""

from __future__ import annotations

import csv
import difflib
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
from specdl.errors import RunError

from .conftest import ROOT, run_cli

# comments, a flow mapping (the optimizer), an anchor (the batch size, which the eval batch
# size aliases) and three searched keys, one in each
SPEC = """\
# A tiny regression, searched (a comment the best spec keeps)
name: tiny-tune
seed: 0
data:
  source: sklearn      # scikit-learn's diabetes
  dataset: diabetes
  split: {val: 0.1, test: 0.2}
  transforms: [standardize]
  target_transforms: [standardize]
model:
  layers:
    - linear: 16       # the width searched
    - relu
    - linear: 1
loss: mse
optimizer: {adamw: {lr: 3.0e-3, weight_decay: 0.01}}   # a flow mapping
train:
  epochs: 4
  batch_size: &batch 64
  eval_batch_size: *batch
  device: cpu
  threads: 1
metrics: [mse, r2]

search:
  trials: 3
  sampler: grid
  pruner: none
  space:
    train.batch_size: {choice: [32, 64]}
    model.layers.0.linear: {int: [8, 16], step: 8}
    optimizer.adamw.lr: {choice: [3.0e-3, 1.0e-2]}
# the end
"""


def _rows(tdir: Path) -> list[dict]:
    with open(tdir / "trials.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """One study of SPEC (3 of the grid's 8 points, 2 epochs given as an override)."""
    d = tmp_path_factory.mktemp("searched")
    (d / "spec.yaml").write_text(SPEC)
    old = os.getcwd()
    os.chdir(d)
    try:
        result = specdl.tune(d / "spec.yaml", out=d / "t", overrides=["train.epochs=2"])
    finally:
        os.chdir(old)
    return d, result


# ---------------------------------------------------------------- the fingerprint
def test_the_fingerprint_leaves_out_only_the_trial_count_and_placement(tmp_path):
    from specdl.front import spec_fingerprint

    (tmp_path / "spec.yaml").write_text(SPEC)
    base = spec_fingerprint(specdl.load("spec.yaml"))
    same = ["search.trials=30", "train.device=auto", "train.threads=2", "train.num_workers=0",
            "train.tensorboard=true"]
    assert spec_fingerprint(specdl.load("spec.yaml", same)) == base
    assert spec_fingerprint(specdl.check("spec.yaml")) == base  # an Analysis too
    for other in ("train.epochs=5", "optimizer.adamw.lr=0.1", "search.pruner=median", "seed=1",
                  "model.layers.0.linear=17"):
        assert spec_fingerprint(specdl.load("spec.yaml", [other])) != base, other


def test_the_default_study_is_named_and_stamped_with_the_fingerprint(searched):
    from specdl.front import spec_fingerprint

    d, result = searched
    fingerprint = spec_fingerprint(specdl.load(d / "spec.yaml", ["train.epochs=2"]))
    assert result.study.study_name == f"tiny-tune-{fingerprint[:8]}"
    assert result.study.user_attrs["specdl_fingerprint"] == fingerprint
    record = yaml.safe_load((d / "t" / "tune.json").read_text())
    assert record["study"] == result.study.study_name
    assert record["storage"] == "study.db"  # relative to the tune folder


def _study(url: str, name: str, fingerprint=None, param=None):
    """A study made directly with Optuna (as another spec, or an older specdl, left it)."""
    import optuna

    study = optuna.create_study(storage=url, study_name=name)
    if fingerprint:
        study.set_user_attr("specdl_fingerprint", fingerprint)
    if param:
        study.add_trial(optuna.trial.create_trial(params={param[0]: param[1]}, distributions={param[0]: param[2]},
                                                  value=0.5, user_attrs={"best_epoch": 1}))
    return study


def test_an_explicit_study_of_another_spec_is_refused_naming_both(tmp_path):
    from specdl.front import spec_fingerprint

    (tmp_path / "spec.yaml").write_text(SPEC)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    _study(url, "shared", fingerprint="ab" * 32)
    with pytest.raises(RunError) as e:
        specdl.tune("spec.yaml", storage=url, study="shared", out="t")
    ours = spec_fingerprint(specdl.load("spec.yaml"))
    msg = str(e.value)
    assert "\n" not in msg and "of another spec" in msg and "abababab" in msg and ours[:8] in msg, msg
    assert not (tmp_path / "t").exists()


def test_an_older_study_goes_on_with_a_note_and_another_distribution_is_one_line(tmp_path, capsys):
    import optuna

    (tmp_path / "spec.yaml").write_text(SPEC)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    lr = optuna.distributions.CategoricalDistribution([3.0e-3, 1.0e-2])
    _study(url, "older", param=("optimizer.adamw.lr", 1.0e-2, lr))
    result = specdl.tune("spec.yaml", storage=url, study="older", out="t", trials=1)  # it holds 1: none to run
    assert "made by an older specdl and holds no spec fingerprint" in capsys.readouterr().err
    assert len(result.study.trials) == 1 and result.best_spec.optimizer.lr == 1.0e-2
    wide = optuna.distributions.FloatDistribution(1.0e-4, 1.0e-1, log=True)  # the same key, another kind
    _study(url, "kinds", param=("optimizer.adamw.lr", 1.0e-3, wide))
    with pytest.raises(RunError) as e:
        specdl.tune("spec.yaml", storage=url, study="kinds", out="t2")
    msg = str(e.value)
    assert msg.startswith("search.space.optimizer.adamw.lr: study 'kinds' already searches it as a log float "
                          "range [0.0001, 0.1]") and "\n" not in msg, msg


# ---------------------------------------------------------------- storages
@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:",
                                 "sqlite:///file:x?mode=memory&uri=true"])
def test_a_storage_that_does_not_persist_is_refused_before_any_trial(tmp_path, url):
    (tmp_path / "spec.yaml").write_text(SPEC)
    with pytest.raises(RunError, match="in-memory database ends with the process") as e:
        specdl.tune("spec.yaml", storage=url, out="t")
    assert "\n" not in str(e.value) and not (tmp_path / "t").exists()


def test_a_storage_that_is_not_a_url_is_a_one_line_type_error(tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC)
    with pytest.raises(TypeError, match=r"^storage is a database URL \(a str such as 'sqlite:///study.db'\), "
                                        r"not int 5$"):
        specdl.tune("spec.yaml", storage=5, out="t")
    with pytest.raises(TypeError, match=r"^study is a study's name \(a str\), not int 7$"):
        specdl.tune("spec.yaml", study=7, out="t")


def test_a_copied_or_moved_tune_folder_uses_its_own_database(searched, tmp_path):
    import optuna

    d, result = searched
    name = result.study.study_name
    copy, orig, moved = tmp_path / "copy", tmp_path / "orig", tmp_path / "moved"
    for folder in (copy, orig):
        shutil.copytree(d / "t", folder)
        mark = optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'study.db'}")
        mark.set_user_attr("folder", folder.name)  # which database a tune of the folder opens
    orig.rename(moved)  # the folder moved: its old path is gone
    for folder, mark in ((copy, "copy"), (moved, "orig")):
        again = specdl.tune(d / "spec.yaml", out=folder, overrides=["train.epochs=2"])  # nothing left to run
        assert again.study.user_attrs.get("folder") == mark and len(again.study.trials) == 3
        assert again.best_spec == result.best_spec
    first = optuna.load_study(study_name=name, storage=f"sqlite:///{d / 't' / 'study.db'}")
    assert "folder" not in first.user_attrs
    assert not orig.exists()


# ---------------------------------------------------------------- grid
def test_only_the_process_that_creates_a_grid_study_queues_its_points(tmp_path):
    from types import SimpleNamespace

    from specdl.tuning.study import open_study

    (tmp_path / "spec.yaml").write_text(SPEC)
    search = specdl.load("spec.yaml").search
    plan = SimpleNamespace(storage=f"sqlite:///{tmp_path / 's.db'}", study="g", direction="minimize", trials=8,
                           fingerprint="f" * 64, default_study="g", seed=0, metric="val_loss")
    first = open_study(plan, create=True, search=search)
    second = open_study(plan, create=True, search=search)  # a second process: it finds the study
    points = [tuple(sorted(t.system_attrs["fixed_params"].items())) for t in second.trials]
    assert len(points) == 8 and len(set(points)) == 8 and first._study_id == second._study_id
    assert {t.state.name for t in second.trials} == {"WAITING"}


@pytest.mark.slow  # two processes on one grid: subprocesses, seconds
def test_two_jobs_on_a_grid_run_each_point_once(tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC.replace("trials: 3", "trials: 20"))
    r = run_cli("tune", "spec.yaml", "--jobs", "2", "--out", "t", "-q", "-o", "train.epochs=1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    table = _rows(tmp_path / "t")
    points = [(t["train.batch_size"], t["model.layers.0.linear"], t["optimizer.adamw.lr"]) for t in table]
    assert len(points) == 8 and len(set(points)) == 8, points  # min(20, the grid's 8), none twice


# ---------------------------------------------------------------- the outputs agree
def test_trial_numbers_folders_and_plots_agree(searched, tmp_path):
    d, result = searched
    table = _rows(d / "t")
    for row in table:
        assert Path(row["run_dir"]).name == f"trial-{int(row['trial']):04d}", row
        assert (d / row["run_dir"] / "report.json").exists()
    assert sorted(p.name for p in (d / "t").glob("trial-*")) == ["trial-0001", "trial-0002", "trial-0003"]
    from specdl.build.report import _pyplot
    from specdl.tuning.report import _history

    ax = _history(_pyplot(), result.study, "val_loss")
    assert ax.get_ylabel() == "val_loss" and ax.get_xlabel() == "trial"
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3]


def test_a_pruned_trial_keeps_the_folder_trials_csv_names(searched, tmp_path):
    import optuna

    from specdl.tuning import run as tuning

    d, _ = searched

    class Always(optuna.pruners.BasePruner):  # prunes at the first epoch reported
        def prune(self, study, trial):
            return True

    shutil.copy(d / "t" / "spec.yaml", tmp_path / "spec.yaml")
    plan = tuning._Plan(str(tmp_path / "spec.yaml"), str(tmp_path), "", "p", 1, False, False)
    study = optuna.create_study(pruner=Always())
    trial = study.ask()
    search = specdl.load(tmp_path / "spec.yaml").search
    with pytest.raises(optuna.TrialPruned):
        tuning.objective(trial, plan, search)
    run_dir = Path(study._storage.get_trial(trial._trial_id).user_attrs["run_dir"])
    assert (run_dir / "metrics.jsonl").exists(), "trials.csv names a folder that is gone"
    assert (run_dir / "metrics.jsonl").read_text().count("\n") == 1 and run_dir == tmp_path / "trial-0001"


def test_a_tie_on_the_metric_is_broken_by_the_earlier_best_epoch_and_reported():
    import optuna

    from specdl.tuning.report import _best

    study = optuna.create_study()
    lr = optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
    for value, epoch in ((0.5, 9), (0.5, 3), (0.7, 1)):
        study.add_trial(optuna.trial.create_trial(params={"lr": 1e-3}, distributions={"lr": lr}, value=value,
                                                  user_attrs={"best_epoch": epoch}))
    best = _best(study)
    assert best.number == 1  # trial 2: as good as trial 1, at epoch 3 rather than 9
    from specdl.tuning.report import _tie_note

    assert _tie_note(study, best) == ("; tied on the metric with trial(s) 1, chosen for its earlier best epoch "
                                      "(then the lower trial number)")


@pytest.mark.slow  # Ctrl-C of two tune processes: subprocesses, seconds
def test_ctrl_c_with_two_jobs_records_the_trials_in_flight_as_failed(tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC.replace("epochs: 4", "epochs: 400").replace("sampler: grid",
                                                                                         "sampler: random"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "specdl", "tune", "spec.yaml", "--jobs", "2", "--out", "t", "-q"],
                         cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 240
    while len(list((tmp_path / "t").glob("trial-*/metrics.jsonl"))) < 2 and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
    p.communicate(timeout=120)
    import optuna

    record = yaml.safe_load((tmp_path / "t" / "tune.json").read_text())
    study = optuna.load_study(study_name=record["study"], storage=f"sqlite:///{tmp_path / 't' / 'study.db'}")
    assert study.trials and {t.state.name for t in study.trials} <= {"COMPLETE", "FAIL"}, study.trials
    assert all(t.user_attrs.get("error", "").startswith("interrupted") for t in study.trials
               if t.state.name == "FAIL")


# ---------------------------------------------------------------- best.yaml
def test_best_yaml_is_the_users_file_with_the_searched_values_edited_in(searched):
    d, result = searched
    best_row = min((t for t in _rows(d / "t") if t["state"] == "complete"), key=lambda t: float(t["value"]))
    trial_spec = specdl.load(d / best_row["run_dir"] / "spec.yaml")
    assert specdl.load(d / "t" / "best.yaml") == trial_spec.model_copy(update={"search": None})
    assert result.best_spec == specdl.load(d / "t" / "best.yaml")
    old, new = SPEC.splitlines(), (d / "t" / "best.yaml").read_text().splitlines()
    removed = [line[1:] for line in difflib.unified_diff(old, new, lineterm="", n=0)
               if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in difflib.unified_diff(old, new, lineterm="", n=0)
             if line.startswith("+") and not line.startswith("+++")]
    search = SPEC[SPEC.index("search:"):SPEC.index("# the end")].splitlines()
    changed = [line for line in removed if line not in search]
    # only the searched lines (and the -o override) differ, each as it was written
    assert all(line.split(":")[0].strip(" -") in ("epochs", "batch_size", "eval_batch_size", "linear", "optimizer")
               for line in changed), changed
    assert "  epochs: 2" in added and "# the end" in new and "# A tiny regression, searched" in new[2]
    number = int(best_row["trial"])
    assert added[:2] == new[:2]  # the header
    assert new[0].startswith(f"# The best of study '{result.study.study_name}' (trial {number} of 3")
    if trial_spec.train.batch_size != 64:  # the anchor moves to its alias, which keeps 64
        assert f"  batch_size: {trial_spec.train.batch_size}  # specdl tune: trial {number}" in new
        assert "  eval_batch_size: &batch 64" in new


def test_best_yaml_of_a_spec_given_as_data_is_canonical(searched):
    from specdl.front.reader import dump_yaml
    from specdl.tuning.report import _edited

    d, result = searched
    want = result.best_spec
    assert _edited(None, ["train.epochs=2"], want, 1) == dump_yaml(want.to_dict())  # no text: canonical
    # a text that does not read back to the trial's spec (here: another seed) is not edited but written canonically
    assert _edited((SPEC.replace("seed: 0", "seed: 5"), []), [], want, 1) == dump_yaml(want.to_dict())


EDITED = """\
name: x            # a comment
data: {source: sklearn, dataset: diabetes}
model:
  layers:
    - linear: 16
    - {type: linear, out_features: 8}
    - relu
    - linear: 1
loss: mse
optimizer: adamw
train: &t
  epochs: 2
metrics: [mse]
"""


@pytest.mark.parametrize("key, value", [
    ("optimizer.adamw.lr", 0.01),            # a short-form string becomes a mapping
    ("model.layers.0.out_features", 24),     # the short form's own argument, by its name
    ("model.layers.1.linear", 4),            # a canonical layer, by its short name
    ("train.batch_size", 16),                # under an anchored mapping
    ("train.checkpoint.monitor", "val_mse"),  # a key the file does not write
    ("data.split.val", 0.3),                 # under a flow mapping
    ("seed", 3),                             # at the top
])
def test_a_spec_text_edited_in_place_reads_as_the_override_does(key, value):
    from specdl.front.spec_edit import edit

    out = edit(EDITED, [(key, value)], "specdl tune: trial 1")
    assert specdl.load(out) == specdl.load(EDITED, [f"{key}={yaml.safe_dump(value).splitlines()[0]}"]), out
    assert out.startswith("name: x            # a comment\n")
    kept = [line for line in EDITED.splitlines() if line not in out.splitlines()]
    assert len(kept) <= 1, kept  # at most the one line that held the value
