"""`specdl tune`: an Optuna study over a spec's `search` section (specdl/front/search.py).

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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import manifest
from ..build.rundir import RunDir
from ..errors import RunError, SpecError
from ..front.search import override
from .study import (
    QUEUED,
    check_storage,
    default_study,
    extend_grid,
    fail_running,
    open_study,
    shown,
    started,
)
from .study import optuna as _optuna

TRIAL_DIR = "trial-{:04d}"
DEFAULT_DB = "study.db"
RESULT_FILES = ("trials.csv", "best.yaml", "history.png", "importance.png")
TUNE_FILES = ("spec.yaml", "tune.json", DEFAULT_DB, *RESULT_FILES)


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
    fingerprint: str = ""  # front.spec_fingerprint of the spec searched
    default_study: str = ""  # <name>-<fingerprint's first 8>
    seed: int = 0  # the spec's (a grid's order)


def tune(spec, trials=None, jobs: int = 1, storage=None, study=None, out=None, overrides=None,
         progress: bool | None = None, table: bool = False) -> TuneResult:
    """Search the spec's `search` space (see the module docstring): ``trials`` in all
    (default search.trials; a study that holds some already runs the rest), ``jobs``
    processes at once, ``storage`` an Optuna database URL (default: SQLite in the tune
    directory), ``study`` its name (default: ``<name>-<fp8>``, the spec's fingerprint; a
    study of another spec is refused), ``out`` the tune directory.
    ``progress``: False is silent; otherwise a line per finished trial on stderr.
    ``table``: print the best trials and where the results are at the end."""
    from ..front import check, spec_fingerprint

    check_storage(storage)  # a storage that is no URL, or does not persist: refused before any trial
    if study is not None and not isinstance(study, str):
        raise TypeError(f"study is a study's name (a str), not {type(study).__name__} {study!r}")
    analysis = check(spec, overrides)  # proves the space before any trial
    s = analysis.spec
    if s.search is None:
        raise RunError("the spec has no `search` section: add one to tune it (docs/tune.md)")
    for name, value in (("jobs", jobs), ("trials", trials)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise RunError(f"--{name} {value}: give a whole number, 1 or more")
    fingerprint = spec_fingerprint(s)
    tdir = _tune_dir(s, out, fingerprint)
    held = RunDir(tdir).lock()
    manifest.begin(tdir, "tune")
    try:
        rec = _record(tdir, s, storage, study, fingerprint)
        plan = _plan(spec, overrides, s, tdir, rec, trials, progress)
        if rec["default_storage"]:  # listed before it is written: a killed tune continues
            manifest.record(tdir, DEFAULT_DB)
        optuna_study = open_study(plan, create=True, search=s.search)
        extend_grid(optuna_study, plan, s.search)
        _write_record(tdir, s, rec)  # once the study opens: a failed start leaves the directory as it was
        # we hold the directory: a RUNNING trial of it (of any, on the default storage) lost its process
        fail_running(optuna_study, None if rec["default_storage"] else tdir)
        remaining = plan.trials - started(optuna_study)
        if progress is not False:
            print(f"tune {s.name}: {started(optuna_study)} trial(s) in study {plan.study!r} "
                  f"({shown(plan.storage)}); running {max(remaining, 0)} more with {jobs} job(s)",
                  file=sys.stderr)
        if remaining > 0:
            try:
                _run(plan, remaining, jobs)
            except KeyboardInterrupt:  # the processes stopped mid-trial: their trials failed, not RUNNING
                fail_running(open_study(plan), tdir)
                raise
        optuna_study = open_study(plan)
        from .report import write_results

        manifest.record(tdir, *RESULT_FILES)  # before they are written, as every writer does
        best = write_results(optuna_study, tdir, s, table, plan.metric, _source_text(spec, overrides))
        return TuneResult(optuna_study, best[0], tdir, best[1])
    finally:
        manifest.adopt(tdir, TUNE_FILES, runs="trial-*")  # what this study wrote there
        held.close()


def _plan(spec, overrides, s, tdir: Path, rec: dict, trials, progress) -> _Plan:
    """What each process needs; a grid search runs at most its grid's points."""
    import math

    from ..components.trust import ALLOW_IMPORT
    from ..front import check
    from ..front.reader import as_list

    ranked = check(spec, [*as_list(overrides), *s.search.monitor_overrides()], search=False)
    total = trials or s.search.trials
    if s.search.sampler == "grid":
        total = min(total, math.prod(d.points() for d in s.search.space.values()))
    return _Plan(str(tdir / "spec.yaml"), str(tdir), rec["url"], rec["study"], total, bool(ALLOW_IMPORT.get()),
                 progress is not False, ranked.monitor, "maximize" if ranked.mode == "max" else "minimize",
                 rec["fingerprint"], default_study(s, rec["fingerprint"]), s.seed)


def _source_text(spec, overrides) -> tuple | None:
    """The user's spec file as written (best.yaml is it, edited), with the overrides given."""
    from ..front.reader import as_list

    if isinstance(spec, (str, Path)) and not (isinstance(spec, str) and "\n" in spec):
        try:
            return Path(spec).read_text(encoding="utf-8"), as_list(overrides)
        except OSError:
            return None
    return None


def _tune_dir(spec, out, fingerprint: str) -> Path:
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
            if not _same_spec(rec, spec, fingerprint):
                raise RunError(f"{path} holds a study of another spec (its spec.yaml); give another --out "
                               "to start a new study")
        return path
    root = Path("runs") / spec.name
    for old in sorted(root.glob("tune-*"), reverse=True):
        rec = _read_record(old)
        if rec is not None and _same_spec(rec, spec, fingerprint):
            return old
    return root / f"tune-{datetime.now():%Y%m%d-%H%M%S}"


def _same_spec(rec: dict, spec, fingerprint: str) -> bool:
    """Whether a tune directory's record is of this spec: its fingerprint, or (a record
    older than fingerprints) the hash of the whole spec less its trial count."""
    if "fingerprint" in rec:
        return rec["fingerprint"] == fingerprint
    return rec.get("spec") == _spec_key(spec)


def _spec_key(spec) -> str:
    """A record's spec key before fingerprints: the spec less its trial count."""
    data = spec.to_dict()
    data["search"] = {k: v for k, v in data.get("search", {}).items() if k != "trials"}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _read_record(path: Path) -> dict | None:
    try:
        return json.loads((path / "tune.json").read_text())
    except (OSError, ValueError):
        return None


def _record(tdir: Path, spec, storage, study, fingerprint: str) -> dict:
    """tune.json's record (which spec, which study, where it is stored): the storage and
    study name given, else those of an earlier run in ``tdir``, else the defaults. The
    default database is recorded relative to the tune directory (``url`` is where it is
    now): a copied directory writes its own, a moved one goes on."""
    old = _read_record(tdir) or {}
    given = storage or (None if old.get("default_storage", True) else old.get("storage"))
    url = given or f"sqlite:///{(tdir / DEFAULT_DB).resolve()}"
    return {"spec": fingerprint, "fingerprint": fingerprint,
            "study": study or old.get("study") or default_study(spec, fingerprint),
            "storage": given or DEFAULT_DB, "default_storage": given is None, "url": url}


def _write_record(tdir: Path, spec, rec: dict) -> None:
    """spec.yaml (what each trial reads) and tune.json, written once the study opened."""
    from ..files import write_output

    manifest.record(tdir, "spec.yaml", "tune.json")  # listed before written: a killed tune continues
    write_output(tdir / "spec.yaml", spec.to_yaml(), "the tune directory's spec")
    kept = {k: v for k, v in rec.items() if k != "url"}
    write_output(tdir / "tune.json", json.dumps(kept, indent=1) + "\n", "tune.json")


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
    from ..components.trust import ALLOW_IMPORT

    ALLOW_IMPORT.set(plan.allow_import)
    optuna = _optuna()
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    from ..front import check

    spec = check(plan.spec_path, search=False).spec
    search, epochs = spec.search, spec.train.epochs
    study = open_study(plan)
    # a seed of its own for each process and each continuation (the same seed would
    # draw the same first values again)
    seed = (spec.seed * 1_000_003 + 7919 * index + started(study)) % 2**32  # numpy takes 32-bit seeds
    queued = search.sampler == "grid" and QUEUED in study.user_attrs
    study.sampler = optuna.samplers.RandomSampler(seed=seed) if queued else _sampler(optuna, search, seed)
    study.pruner = _pruner(optuna, search, epochs)
    printer = _Printer(plan) if plan.progress else None
    try:
        if queued:  # a grid whose points the study's creator queued: each taken once, by one process
            return _run_queue(study, plan, search, quota, printer)
        # the quota, or fewer where other processes (other machines) fill the study first
        stop = optuna.study.MaxTrialsCallback(plan.trials, states=None)
        study.optimize(lambda trial: objective(trial, plan, search), n_trials=quota, catch=(TrialFailed,),
                       callbacks=[stop, *([printer] if printer else [])], gc_after_trial=False)
    except KeyboardInterrupt:
        if threads is not None:
            sys.exit(130)
        raise


def _run_queue(study, plan: _Plan, search, quota: int, printer) -> None:
    """Run queued trials until the quota, the study's total or the queue runs out. Taking a
    queued trial (WAITING -> RUNNING) is atomic in the storage: no point runs twice."""
    import optuna
    from optuna.storages._heartbeat import get_heartbeat_thread
    from optuna.trial import Trial, TrialState

    for _ in range(quota):
        if started(study) >= plan.trials:
            return
        trial_id = study._pop_waiting_trial_id()
        if trial_id is None:
            return
        trial, value = Trial(study, trial_id), None
        with get_heartbeat_thread(trial_id, study._storage):
            try:
                value, state = objective(trial, plan, search), TrialState.COMPLETE
            except optuna.TrialPruned:
                state = TrialState.PRUNED
            except TrialFailed:
                state = TrialState.FAIL
            except BaseException:
                study.tell(trial, state=TrialState.FAIL)
                raise
        frozen = study.tell(trial, value, state=state)
        if printer is not None:
            printer(study, frozen)


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

    from ..build.run import Interrupted, fit
    from ..front import check

    values = {k: suggest(trial, k, d) for k, d in search.space.items()}
    seen = {}  # epoch -> the monitored value
    run_dir = Path(plan.tune_dir) / TRIAL_DIR.format(trial.number + 1)  # trial 1 is trial-0001, as shown
    trial.set_user_attr("run_dir", str(run_dir))
    manifest.record(plan.tune_dir, run_dir.name)  # listed before it is made, as every writer does
    run_dir.mkdir(parents=True, exist_ok=True)  # made here, not by fit: a pruned trial's folder stays
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
        raise _failed(trial, e.issues[0].render().split(": error: ", 1)[-1], run_dir) from None
    except Exception as e:  # noqa: BLE001  (NaN loss, out of memory, ...: the study goes on)
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise _failed(trial, why, run_dir) from None
    trial.set_user_attr("test", result.metrics)
    trial.set_user_attr("best_epoch", result.best_epoch)
    return float(seen.get(result.best_epoch, seen[max(seen)]))


def _failed(trial, message: str, run_dir: Path) -> TrialFailed:
    """The trial's reason recorded; its folder removed where the trial wrote nothing in it
    (trials.csv then names no folder)."""
    message = message[:300]
    trial.set_user_attr("error", message)
    try:
        run_dir.rmdir()  # only when empty
        trial.set_user_attr("run_dir", "")
    except OSError:
        pass
    return TrialFailed(message)


class _Printer:
    """One line per finished trial on standard error."""

    def __init__(self, plan: _Plan):
        self.plan = plan

    def __call__(self, study, t) -> None:
        from .report import trial_line

        print(trial_line(study, t, self.plan.trials, self.plan.metric), file=sys.stderr, flush=True)
