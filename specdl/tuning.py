"""`specdl tune`: an Optuna study over a spec's `search` section (specdl/search.py).

Each trial is an ordinary run (``fit`` on the spec with the trial's values as
overrides) in ``<tune dir>/trial-NNNN``, reporting its monitored value each epoch to
Optuna's pruner. A trial that fails (NaN loss, out of memory, a spec the values break)
is recorded as failed with its one-line reason and the study goes on. The study lives
in a database (default: SQLite ``study.db`` in the tune directory), so running the same
command again continues it, and several processes (``--jobs``) or machines
(``--storage``) can work on one study. docs/tune.md says what each choice does."""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from . import manifest
from .errors import RunError, SpecError
from .rundir import RunDir
from .search import override

TRIAL_DIR = "trial-{:04d}"
DEFAULT_DB = "study.db"
TUNE_FILES = ("spec.yaml", "tune.json", DEFAULT_DB, "trials.csv", "best.yaml", "history.png", "importance.png")


@dataclass
class TuneResult:
    """What a search gives back: the Optuna study, the best spec (None until a trial
    completes), the tune directory and its best.yaml."""

    study: Any
    best_spec: Any
    tune_dir: Path
    best_path: Path | None

    def __iter__(self):  # study, best_spec = specdl.tune(...)
        return iter((self.study, self.best_spec))


class TrialFailed(Exception):
    """A trial that could not finish; its one-line reason is the trial's `error`."""


@dataclass
class _Plan:
    """What every worker process needs to run trials of one study (picklable)."""

    spec_path: str
    tune_dir: str
    storage: str
    study: str
    trials: int
    allow_import: bool
    progress: bool
    metric: str = "val_loss"
    direction: str = "minimize"  # the metric's, as train.checkpoint's mode decides


def tune(spec, trials=None, jobs: int = 1, storage=None, study=None, out=None, overrides=None,
         progress: bool | None = None, table: bool = False) -> TuneResult:
    """Search the spec's `search` space (see the module docstring): ``trials`` in all
    (default search.trials; a study that holds some already runs the rest), ``jobs``
    processes at once, ``storage`` an Optuna database URL (default: SQLite in the tune
    directory), ``study`` its name (default: the spec's), ``out`` the tune directory.
    ``progress``: False is silent; otherwise a line per finished trial on stderr.
    ``table``: print the best trials and where the results are at the end."""
    from .components.base import ALLOW_IMPORT
    from .front import check
    from .source import as_list

    analysis = check(spec, overrides)  # proves the space before any trial
    s = analysis.spec
    if s.search is None:
        raise RunError("the spec has no `search` section: add one to tune it (docs/tune.md)")
    for name, value in (("jobs", jobs), ("trials", trials)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise RunError(f"--{name} {value}: give a whole number, 1 or more")

    tdir = _tune_dir(s, out)
    held = RunDir(tdir).lock()
    manifest.begin(tdir, "tune")
    try:
        rec = _record(tdir, s, storage, study)
        ranked = check(spec, [*as_list(overrides), *s.search.monitor_overrides()], search=False)
        plan = _Plan(str(tdir / "spec.yaml"), str(tdir), rec["storage"], rec["study"], trials or s.search.trials,
                     bool(ALLOW_IMPORT.get()), progress is not False, ranked.monitor,
                     "maximize" if ranked.mode == "max" else "minimize")
        optuna_study = _open_study(plan)
        _write_record(tdir, s, rec)  # once the study opens: a failed start leaves the directory as it was
        if rec["default_storage"]:
            _fail_interrupted(optuna_study)  # we hold the directory: any RUNNING trial's process is gone
        remaining = plan.trials - len(optuna_study.trials)
        if progress is not False:
            print(f"tune {s.name}: {len(optuna_study.trials)} trial(s) in study {plan.study!r} "
                  f"({_shown_storage(plan)}); running {max(remaining, 0)} more with {jobs} job(s)",
                  file=sys.stderr)
        if remaining > 0:
            _run(plan, remaining, jobs)
        optuna_study = _open_study(plan)
        from .tuning_report import write_results

        best = write_results(optuna_study, tdir, s, table, plan.metric)
        return TuneResult(optuna_study, best[0], tdir, best[1])
    finally:
        manifest.adopt(tdir, TUNE_FILES, runs="trial-*")  # what this study wrote there
        held.close()


def _tune_dir(spec, out) -> Path:
    """``--out DIR``, or the newest ``runs/<name>/tune-*`` of this same spec (the same
    command continues its study), or a new ``runs/<name>/tune-<time>``."""
    if out is not None:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise RunError(f"--out {path} is a file; give a folder for the tune directory")
        if path.is_dir() and manifest.occupied(path, "tune", TUNE_FILES):  # the user's other files do not count
            rec = _read_record(path)
            if rec is None:
                raise RunError(f"--out {path} is a non-empty folder that holds no study; give a new or empty folder")
            if rec["spec"] != _spec_key(spec):
                raise RunError(f"{path} holds a study of another spec (its spec.yaml); give another --out "
                               "to start a new study")
        return path
    root = Path("runs") / spec.name
    for old in sorted(root.glob("tune-*"), reverse=True):
        rec = _read_record(old)
        if rec is not None and rec["spec"] == _spec_key(spec):
            return old
    return root / f"tune-{datetime.now():%Y%m%d-%H%M%S}"


def _spec_key(spec) -> str:
    """The spec a study searches, less its trial count (which `--trials` may raise)."""
    data = spec.to_dict()
    data["search"] = {k: v for k, v in data.get("search", {}).items() if k != "trials"}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _read_record(path: Path) -> dict | None:
    try:
        return json.loads((path / "tune.json").read_text())
    except (OSError, ValueError):
        return None


def _record(tdir: Path, spec, storage, study) -> dict:
    """tune.json's record (which spec, which study, where it is stored): the storage and
    study name given, else those of an earlier run in ``tdir``, else the defaults."""
    old = _read_record(tdir) or {}
    default = f"sqlite:///{(tdir / DEFAULT_DB).resolve()}"
    storage = storage or old.get("storage") or default
    return {"spec": _spec_key(spec), "study": study or old.get("study") or spec.name,
            "storage": storage, "default_storage": storage == default}


def _write_record(tdir: Path, spec, rec: dict) -> None:
    """spec.yaml (what each trial reads) and tune.json, written once the study opened."""
    from .files import write_output

    write_output(tdir / "spec.yaml", spec.to_yaml(), "the tune directory's spec")
    write_output(tdir / "tune.json", json.dumps(rec, indent=1) + "\n", "tune.json")


def _shown_storage(plan: _Plan) -> str:
    if plan.storage.startswith("sqlite:///"):
        return plan.storage
    head, sep, tail = plan.storage.partition("@")  # no password on the screen
    return f"{head.split('://')[0]}://…@{tail}" if sep else plan.storage


# What a process that lost the race to create a new database's schema is told
RACES = ("already exists", "UNIQUE constraint failed", "database is locked")


def _open_study(plan: _Plan):
    optuna = _optuna()
    for attempt in range(10):
        try:
            return _create(optuna, plan)
        except Exception as e:  # noqa: BLE001
            # two processes creating the schema of a new database at once: one wins
            if not any(m in str(e) for m in RACES) or attempt == 9:
                _storage_error(plan, e)
            time.sleep(0.2 + 0.3 * attempt)


def _create(optuna, plan: _Plan):
    storage = optuna.storages.RDBStorage(
        plan.storage, heartbeat_interval=60, grace_period=180,
        engine_kwargs={"connect_args": {"timeout": 120}} if plan.storage.startswith("sqlite") else {})
    return optuna.create_study(storage=storage, study_name=plan.study, direction=plan.direction,
                               load_if_exists=True)


def _storage_error(plan: _Plan, e: Exception):
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    if isinstance(e, ValueError):  # a study of this name with another direction, ...
        raise RunError(f"study {plan.study!r}: {first}") from None
    # sqlalchemy: a bad URL, a server that does not answer, no driver
    raise RunError(f"cannot open the study storage {_shown_storage(plan)}: {first[:200]}") from None


def _optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # specdl prints one line per trial
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def _fail_interrupted(study) -> None:
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(t._trial_id, "error", "interrupted (the tune process was stopped)")
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)


# ---------------------------------------------------------------- running trials
def _run(plan: _Plan, remaining: int, jobs: int) -> None:
    """``remaining`` trials over ``jobs`` processes (this one when jobs is 1), each with
    an equal share of the cores for torch's intra-op threads."""
    if jobs == 1:
        return work(plan, remaining, 0, None)
    import multiprocessing as mp

    threads = max(1, (os.cpu_count() or 1) // jobs)
    quotas = [remaining // jobs + (i < remaining % jobs) for i in range(jobs)]
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=work, args=(plan, q, i, threads)) for i, q in enumerate(quotas) if q]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        raise
    bad = [p.exitcode for p in procs if p.exitcode]
    if bad and all(code == 130 for code in bad):
        raise KeyboardInterrupt
    if bad:
        raise RunError(f"{len(bad)} of {len(procs)} tune processes stopped with an error (exit {bad[0]}); "
                       "the trials they finished are in the study: run the same command to continue", exit_code=1)


def work(plan: _Plan, quota: int, index: int, threads: int | None) -> None:
    """One process's share of the trials (also the entry point of each --jobs process)."""
    from .components.base import ALLOW_IMPORT

    ALLOW_IMPORT.set(plan.allow_import)
    optuna = _optuna()
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    from .front import check

    spec = check(plan.spec_path, search=False).spec
    search, epochs = spec.search, spec.train.epochs
    study = _open_study(plan)
    # a seed of its own for each process and each continuation (the same seed would
    # draw the same first values again)
    seed = (spec.seed * 1_000_003 + 7919 * index + len(study.trials)) % 2**32  # numpy takes 32-bit seeds
    study.sampler = _sampler(optuna, search, seed)
    study.pruner = _pruner(optuna, search, epochs)
    try:
        # the quota, or fewer where other processes (other machines) fill the study first
        stop = optuna.study.MaxTrialsCallback(plan.trials, states=None)
        study.optimize(lambda trial: objective(trial, plan, search), n_trials=quota, catch=(TrialFailed,),
                       callbacks=[stop, *([_Printer(plan)] if plan.progress else [])], gc_after_trial=False)
    except KeyboardInterrupt:
        if threads is not None:
            sys.exit(130)
        raise


def _sampler(optuna, search, seed: int):
    if search.sampler == "grid":
        return optuna.samplers.GridSampler({k: d.grid() for k, d in search.space.items()}, seed=seed)
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _pruner(optuna, search, epochs: int):
    """median: stop a trial whose value is worse than the median of earlier trials at the
    same epoch (after 5 trials and the first tenth of the epochs); hyperband: Optuna's
    Hyperband over 1..train.epochs; none: every trial runs to its end."""
    if search.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=max(1, epochs // 10))
    if search.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource="auto")
    return optuna.pruners.NopPruner()


def suggest(trial, key: str, dist):
    if dist.kind == "choice":
        return trial.suggest_categorical(key, dist.choice)
    if dist.kind == "int":
        lo, hi = dist.int_
        return trial.suggest_int(key, lo, hi, step=dist.step or 1, log=dist.log)
    lo, hi = dist.bounds_of(dist.kind)
    return trial.suggest_float(key, lo, hi, log=dist.kind == "log_uniform")


def objective(trial, plan: _Plan, search) -> float:
    """Train the spec with this trial's values; its best epoch's monitored value."""
    import optuna

    from .front import check
    from .trainer import Interrupted, fit

    values = {k: suggest(trial, k, d) for k, d in search.space.items()}
    seen = {}  # epoch -> the monitored value
    run_dir = Path(plan.tune_dir) / TRIAL_DIR.format(trial.number)
    trial.set_user_attr("run_dir", str(run_dir))
    try:
        a = check(plan.spec_path, search.monitor_overrides() + [override(k, v) for k, v in values.items()],
                  search=False)

        def report(epoch: int, row: dict) -> None:
            value = seen[epoch] = row.get(a.monitor)
            if value is not None and math.isfinite(value):
                trial.report(value, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {epoch}")

        result = fit(a, out=run_dir, progress=False, on_epoch=report)
    except optuna.TrialPruned:
        raise
    except Interrupted:  # Ctrl-C: the study stops (this trial is recorded as failed)
        trial.set_user_attr("error", "interrupted")
        raise RunError(f"interrupted in trial {trial.number + 1}; run the same command to continue the study",
                       exit_code=130) from None
    except SpecError as e:
        raise _failed(trial, e.issues[0].render().split(": error: ", 1)[-1]) from None
    except Exception as e:  # noqa: BLE001  (NaN loss, out of memory, ...: the study goes on)
        raise _failed(trial, str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__) from None
    trial.set_user_attr("test", result.metrics)
    trial.set_user_attr("best_epoch", result.best_epoch)
    return float(seen.get(result.best_epoch, seen[max(seen)]))


def _failed(trial, message: str) -> TrialFailed:
    message = message[:300]
    trial.set_user_attr("error", message)
    return TrialFailed(message)


class _Printer:
    """One line per finished trial on standard error."""

    def __init__(self, plan: _Plan):
        self.plan = plan

    def __call__(self, study, t) -> None:
        from .tuning_report import trial_line

        print(trial_line(study, t, self.plan.trials, self.plan.metric), file=sys.stderr, flush=True)
