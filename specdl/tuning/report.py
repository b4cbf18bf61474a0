"""What a search leaves behind (specdl/tuning/run.py): a line per trial while it runs, then
trials.csv, best.yaml, history.png, importance.png and a table of the best trials."""

from __future__ import annotations

import csv
import io
import math
import sys
from pathlib import Path

from ..files import write_output

TOP = 10  # rows of the closing table


def _state(t) -> str:
    return t.state.name.lower()


def _value(v) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.4g}"


def _params(t) -> str:
    """Each searched value by its key's last part (a target's loss weight: by its whole key)."""
    return "  ".join(f"{k if k.startswith('loss_weights.') else k.rsplit('.', 1)[-1]}={_num(v)}"
                     for k, v in t.params.items())


def _num(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _epochs(t) -> int:
    return len(t.intermediate_values)


def ranked(study) -> list:
    """The completed trials, best first: by the metric, then (a tie) by the earlier best
    epoch (the cheaper spec to train), then by the lower trial number (docs/tune.md)."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    sign = -1 if study.direction.name == "MAXIMIZE" else 1
    return sorted(done, key=lambda t: (sign * t.value, t.user_attrs.get("best_epoch", 0), t.number))


def _best(study):
    done = ranked(study)
    return done[0] if done else None


def _ties(study, best) -> list:
    return [t for t in ranked(study) if t.value == best.value and t.number != best.number]


def _tie_note(study, best) -> str:
    tied = _ties(study, best)
    if not tied:
        return ""
    return (f"; tied on the metric with trial(s) {', '.join(str(t.number + 1) for t in tied)}, chosen for its "
            "earlier best epoch (then the lower trial number)")


def trial_line(study, t, total: int, metric: str) -> str:
    """``trial 7/30 complete val_loss 0.4123 (best 0.4010, #3)  lr=0.00123 ...  40 epochs``."""
    state = _state(t)
    head = f"trial {t.number + 1}/{total} {state}"
    if state == "fail":
        return f"{head}: {t.user_attrs.get('error', 'failed')}  [{_params(t)}]"
    if state == "pruned":
        last = t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None
        head += f" at epoch {_epochs(t)} ({metric} {_value(last)})"
    else:
        best = _best(study)
        head += f" {metric} {_value(t.value)}" + (f" (best {_value(best.value)}, trial {best.number + 1})" if best else "")
    seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else 0
    return f"{head}  {_params(t)}  {_epochs(t)} epochs  {seconds:.1f} s"


def write_results(study, tdir: Path, spec, show: bool, metric: str, source=None):
    """trials.csv, best.yaml, the two plots and (``show``) the table; (best spec, path).
    ``source``: the user's spec text and the overrides given (best.yaml is that text, edited)."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.name != "WAITING"]  # a grid's queue
    write_output(tdir / "trials.csv", _csv(trials), "trials.csv")
    best_spec, best_path = _best_yaml(study, tdir, spec.search, metric, source)
    plots = _plots(study, tdir, metric)
    if show:
        _table(study, trials, spec, metric)
        for line in plots:
            print(line, file=sys.stderr)
        best = _best(study)
        tie = _tie_note(study, best) if best else ""
        where = f"best spec: {best_path} (trial {best.number + 1}{tie})" if best_path else \
            "no trial completed: no best.yaml"
        print(f"{where}\ntune directory: {tdir}")
    return best_spec, best_path


def _csv(trials) -> str:
    keys = sorted({k for t in trials for k in t.params})
    tests = sorted({k for t in trials for k in t.user_attrs.get("test", {})})
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["trial", "state", "value", *keys, "epochs", "best_epoch", *(f"test_{k}" for k in tests),
                "seconds", "error", "run_dir"])
    for t in trials:
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else ""
        test = t.user_attrs.get("test", {})
        w.writerow([t.number + 1, _state(t), "" if t.value is None else t.value,
                    *(t.params.get(k, "") for k in keys), _epochs(t), t.user_attrs.get("best_epoch", ""),
                    *(test.get(k, "") for k in tests), seconds and round(seconds, 3),
                    t.user_attrs.get("error", ""), t.user_attrs.get("run_dir", "")])
    return out.getvalue()


def _best_yaml(study, tdir: Path, search, metric: str, source=None):
    """The whole spec with the best trial's values and the trial's monitor (less the
    search section): it checks clean, builds as is, and picks the trial's best epoch. It is
    the user's own file with those values edited in (specdl/front/spec_edit.py), or, for a spec
    given as data (or a file that no longer reads back to the trial's spec), canonical."""
    best = _best(study)
    if best is None:
        return None, None
    from ..front import check, load
    from ..front.search import override, without_search

    values = [override(k, v) for k, v in best.params.items()]
    a = check(tdir / "spec.yaml", search.monitor_overrides() + values, search=False)
    want = load(without_search(a.spec.to_dict()))
    done = sum(t.state.name != "WAITING" for t in study.get_trials(deepcopy=False))
    head = (f"# The best of study {study.study_name!r} (trial {best.number + 1} of {done}, "
            f"{metric} {best.value:.6g}{_tie_note(study, best)}), written by `specdl tune`.\n"
            f"# Its run: {best.user_attrs.get('run_dir', '?')}; the search section is in {tdir / 'spec.yaml'}.\n")
    path = tdir / "best.yaml"
    edits = [*(source[1] if source else []), *search.monitor_overrides(), *values]
    write_output(path, head + _edited(source, edits, want, best.number + 1), "best.yaml")
    return check(path, search=False).spec, path


def _edited(source, edits: list[str], want, number: int) -> str:
    """The user's spec text with ``edits`` (``key=value``) set and its search section
    dropped, where that reads back to ``want``; else ``want`` written canonically."""
    import yaml

    from ..errors import SpecError
    from ..front import load
    from ..front.reader import dump_yaml, read_yaml
    from ..front.spec_edit import edit

    canonical = dump_yaml(want.to_dict())
    if source is None:
        return canonical
    text, _ = source
    try:
        sets = [(k, read_yaml(v, "<override>").data if v.strip() else None)
                for k, _, v in (e.partition("=") for e in edits)]
        data = read_yaml(text, "<spec>").data
        if isinstance(data, dict) and "name" not in data:  # the name came from the file's name
            sets.insert(0, ("name", want.name))
        out = edit(text, sets, f"specdl tune: trial {number}", drop=("search",))
        return out if load(out) == want else canonical
    except (SpecError, ValueError, yaml.YAMLError):
        return canonical


def _plots(study, tdir: Path, metric: str) -> list[str]:
    """history.png (each trial's value and the best so far, by trial number as shown
    everywhere) and importance.png (Optuna's); a note for a plot that cannot be drawn yet."""
    from optuna.trial import TrialState

    from ..build.report import _pyplot

    plt = _pyplot()
    from optuna.visualization import matplotlib as ovm

    notes = []
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    for name, draw, needs in (("history.png", lambda s: _history(plt, s, metric), 1),
                              ("importance.png", ovm.plot_param_importances, 2)):
        if len(done) < needs:
            notes.append(f"note: {name} needs {needs} completed trial(s); not drawn")
            continue
        try:
            ax = draw(study)
        except (ValueError, RuntimeError) as e:  # e.g. every trial took the same values
            notes.append(f"note: {name} not drawn: {str(e).splitlines()[0]}")
            continue
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        fig.tight_layout()
        fig.savefig(tdir / name, dpi=100)
        plt.close(fig)
    return notes


def _history(plt, study, metric: str):
    """The value of each completed trial and the best so far, against the trial numbers
    trials.csv, the folders and the screen use (1, 2, ...)."""
    from optuna.trial import TrialState

    done = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number)
    pick = max if study.direction.name == "MAXIMIZE" else min
    best, so_far = [], None
    for t in done:
        so_far = t.value if so_far is None else pick(so_far, t.value)
        best.append(so_far)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([t.number + 1 for t in done], [t.value for t in done], "o", label=metric)
    ax.step([t.number + 1 for t in done], best, where="post", color="tab:red", label="best so far")
    ax.set(title=f"Optimization history ({study.study_name})", xlabel="trial", ylabel=metric)
    ax.legend()
    return ax


def _table(study, trials, spec, metric: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    direction = study.direction.name.lower()
    done = ranked(study)
    table = Table(title=f"{escape(spec.name)}: best {min(TOP, len(done))} of {len(trials)} trials "
                        f"({escape(metric)}, {direction[:3]})")  # a target's metric: val_f1[sentiment]
    keys = sorted({k for t in trials for k in t.params})
    for col in ["trial", escape(metric), *keys, "epochs"]:
        table.add_column(col, justify="right")
    for t in done[:TOP]:
        table.add_row(str(t.number + 1), _value(t.value), *(_num(t.params.get(k, "")) for k in keys),
                      str(_epochs(t)))
    Console(width=max(100, 20 * (len(keys) + 3))).print(table)
    counts = {s: sum(_state(t) == s for t in trials) for s in ("complete", "pruned", "fail")}
    print(f"{counts['complete']} complete, {counts['pruned']} pruned, {counts['fail']} failed; "
          f"{sum(_epochs(t) for t in trials)} epochs in all")
