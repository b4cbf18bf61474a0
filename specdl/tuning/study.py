"""Which Optuna study a search writes to, and that it belongs to the spec (specdl/tuning/run.py
runs the trials). A study is named ``<name>-<fp8>`` by default and stamped, when created,
with the spec's fingerprint (front.spec_fingerprint): a study of another spec is refused,
not continued. Creating the study is the one atomic step several processes share, so the
process that creates it also queues a grid search's points: no point runs twice."""

from __future__ import annotations

import random
import re
import sys
import time

from ..errors import RunError

FINGERPRINT = "specdl_fingerprint"  # the study's user attribute holding its spec's fingerprint
QUEUED = "specdl_grid_queued"  # how many grid points its creator queued (in the seeded order)
# What a process that lost the race to create a new database's schema is told
RACES = ("already exists", "UNIQUE constraint failed", "database is locked")
# Storage URLs whose database lives only as long as the process that opens it: SQLite with
# no file (sqlite://, sqlite:///), `:memory:`, or a URI in memory mode
IN_MEMORY = re.compile(r"sqlite(\+\w+)?://(/(:memory:|file::memory:.*)?)?(\?.*)?|.*[?&]mode=memory\b.*", re.I)


def default_study(spec, fingerprint: str) -> str:
    return f"{spec.name}-{fingerprint[:8]}"


def check_storage(storage) -> None:
    """Refuse, before anything runs, a storage that is not a URL or does not persist:
    every trial would train and the study reopen empty."""
    if storage is None:
        return
    if not isinstance(storage, str):
        raise TypeError(f"storage is a database URL (a str such as 'sqlite:///study.db'), not "
                        f"{type(storage).__name__} {storage!r}")
    if IN_MEMORY.fullmatch(storage.strip()):
        raise RunError(f"--storage {storage}: an in-memory database ends with the process that opens it, so "
                       "each process would see an empty study and the finished trials would be lost; give a "
                       "file (sqlite:///study.db) or a server (postgresql://...)")


def shown(storage: str) -> str:
    if storage.startswith("sqlite:///"):
        return storage
    head, sep, tail = storage.partition("@")  # no password on the screen
    return f"{head.split('://')[0]}://…@{tail}" if sep else storage


def optuna():
    import warnings

    import optuna as o

    o.logging.set_verbosity(o.logging.ERROR)  # specdl prints one line per trial
    warnings.filterwarnings("ignore", category=o.exceptions.ExperimentalWarning)
    return o


def open_study(plan, create: bool = False, search=None):
    """The study of ``plan``: loaded, or with ``create`` created where it does not exist
    (then stamped with the fingerprint and, for a grid search, its points queued)."""
    o = optuna()
    for attempt in range(10):
        try:
            storage = o.storages.RDBStorage(
                plan.storage, heartbeat_interval=60, grace_period=180,
                engine_kwargs={"connect_args": {"timeout": 120}} if plan.storage.startswith("sqlite") else {})
            if not create:
                return o.load_study(storage=storage, study_name=plan.study)
            try:
                study = o.create_study(storage=storage, study_name=plan.study, direction=plan.direction)
            except o.exceptions.DuplicatedStudyError:
                return _existing(o.load_study(storage=storage, study_name=plan.study), plan, search)
            return _stamp(study, plan, search)
        except RunError:
            raise
        except Exception as e:  # noqa: BLE001
            # two processes creating the schema of a new database at once: one wins
            if not any(m in str(e) for m in RACES) or attempt == 9:
                _storage_error(plan, e)
            time.sleep(0.2 + 0.3 * attempt)


def _stamp(study, plan, search):
    """A study this process created: the grid queued first, the fingerprint last (a process
    that finds the fingerprint finds the whole queue)."""
    if search is not None and search.sampler == "grid":
        points = grid_points(search, plan.seed)
        for values in points[: plan.trials]:
            study.enqueue_trial(values)
        study.set_user_attr(QUEUED, min(plan.trials, len(points)))
    study.set_user_attr(FINGERPRINT, plan.fingerprint)
    return study


def _existing(study, plan, search):
    """A study that was there: it must be of this spec (its fingerprint), this direction
    and these distributions; an older study without a fingerprint goes on with a note."""
    stamp = study.user_attrs.get(FINGERPRINT)
    for _ in range(20):  # its creator stamps it a moment after creating it
        if stamp is not None or study.trials:
            break
        time.sleep(0.1)
        stamp = study.user_attrs.get(FINGERPRINT)
    if stamp is None:
        print(f"note: study {plan.study!r} was made by an older specdl and holds no spec fingerprint: "
              "continuing it as this spec's", file=sys.stderr)
    elif stamp != plan.fingerprint:
        raise RunError(f"study {plan.study!r} in {shown(plan.storage)} is of another spec (fingerprint "
                       f"{stamp[:8]}; this spec's is {plan.fingerprint[:8]}): give another --study, or leave "
                       f"--study out for this spec's own ({plan.default_study})")
    if study.direction.name.lower() != plan.direction:
        raise RunError(f"study {plan.study!r} {study.direction.name.lower()}s its metric; this spec's "
                       f"{plan.metric} is to {plan.direction}: give another --study")
    if search is not None:
        check_distributions(study, search, plan.study)
    return study


def check_distributions(study, search, name: str) -> None:
    """Each searched key as the study's earlier trials drew it (Optuna refuses another kind
    or other choices for a name it holds, in the middle of a trial)."""
    o = optuna()
    seen = {}
    for t in study.get_trials(deepcopy=False):
        for key, old in t.distributions.items():
            seen.setdefault(key, old)
    for key, dist in search.space.items():
        if key not in seen:
            continue
        try:
            o.distributions.check_distribution_compatibility(seen[key], distribution(o, dist))
        except ValueError as e:
            raise RunError(f"search.space.{key}: study {name!r} already searches it as {_kind(seen[key])} "
                           f"({str(e).rstrip('.').lower()}); keep its distribution or give another "
                           "--study") from None


def _kind(d) -> str:
    name = type(d).__name__.replace("Distribution", "").lower()
    if name == "categorical":
        return f"a choice of {list(d.choices)}"
    return f"{'a log ' if d.log else 'an '}{name} range [{d.low}, {d.high}]"


def distribution(o, dist):
    """The Optuna distribution of one search dimension (what ``suggest`` asks for)."""
    if dist.kind == "choice":
        return o.distributions.CategoricalDistribution(dist.choice)
    if dist.kind == "int":
        lo, hi = dist.int_
        return o.distributions.IntDistribution(lo, hi, log=dist.log, step=dist.step or 1)
    lo, hi = dist.bounds_of(dist.kind)
    return o.distributions.FloatDistribution(lo, hi, log=dist.kind == "log_uniform")


def grid_points(search, seed: int) -> list[dict]:
    """Every point of a grid search, in an order shuffled by the spec's seed (a study of
    fewer trials than points visits a random part of the grid)."""
    import itertools

    keys = list(search.space)
    points = [dict(zip(keys, values)) for values in itertools.product(*(search.space[k].grid() for k in keys))]
    random.Random(seed).shuffle(points)
    return points


def extend_grid(study, plan, search) -> None:
    """Queue more of the grid where ``plan.trials`` outgrew what the creator queued: each
    point claimed by creating a marker study of its own (the atomic step), so that two
    processes raising --trials at once do not queue one point twice."""
    queued = study.user_attrs.get(QUEUED)
    if queued is None or plan.trials <= queued:
        return
    o = optuna()
    points = grid_points(search, plan.seed)
    for i in range(queued, min(plan.trials, len(points))):
        try:
            o.create_study(storage=study._storage, study_name=f"{plan.study}.specdl-grid-point-{i}")
        except o.exceptions.DuplicatedStudyError:
            continue  # another process queued it
        study.enqueue_trial(points[i])


def _storage_error(plan, e: Exception):
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    if isinstance(e, ValueError):
        raise RunError(f"study {plan.study!r}: {first}") from None
    # sqlalchemy: a bad URL, a server that does not answer, no driver
    raise RunError(f"cannot open the study storage {shown(plan.storage)}: {first[:200]}") from None


def started(study) -> int:
    """Trials that ran or run (not a grid's queued points)."""
    return sum(t.state.name != "WAITING" for t in study.get_trials(deepcopy=False))


def fail_running(study, tdir=None) -> None:
    """Record as failed the RUNNING trials whose process is gone: all of them (the default
    storage, whose tune directory this process holds), or those run in ``tdir``."""
    from pathlib import Path

    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        run_dir = t.user_attrs.get("run_dir")
        if tdir is not None and (run_dir is None or Path(run_dir).resolve().parent != Path(tdir).resolve()):
            continue
        study._storage.set_trial_user_attr(t._trial_id, "error", "interrupted (the tune process was stopped)")
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
