"""What a search leaves behind (specdl/tuning.py): a line per trial while it runs, then
trials.csv, best.yaml, history.png, importance.png and a table of the best trials."""

from __future__ import annotations

import csv
import io
import math
import sys
from pathlib import Path

from .files import write_output

TOP = 10  # rows of the closing table


def _state(t) -> str:
    return t.state.name.lower()


def _value(v) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.4g}"


def _params(t) -> str:
    return "  ".join(f"{k.rsplit('.', 1)[-1]}={_num(v)}" for k, v in t.params.items())


def _num(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _epochs(t) -> int:
    return len(t.intermediate_values)


def _best(study):
    try:
        return study.best_trial
    except ValueError:  # no trial completed yet
        return None


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


def write_results(study, tdir: Path, spec, show: bool, metric: str):
    """trials.csv, best.yaml, the two plots and (``show``) the table; (best spec, path)."""
    trials = study.get_trials(deepcopy=False)
    write_output(tdir / "trials.csv", _csv(trials), "trials.csv")
    best_spec, best_path = _best_yaml(study, tdir, spec.search, metric)
    plots = _plots(study, tdir)
    if show:
        _table(study, trials, spec, metric)
        for line in plots:
            print(line, file=sys.stderr)
        where = f"best spec: {best_path}" if best_path else "no trial completed: no best.yaml"
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


def _best_yaml(study, tdir: Path, search, metric: str):
    """The whole spec with the best trial's values and the trial's monitor (less the
    search section): it checks clean, builds as is, and picks the trial's best epoch."""
    best = _best(study)
    if best is None:
        return None, None
    from .front import check
    from .search import override, without_search
    from .source import dump_yaml

    values = [override(k, v) for k, v in best.params.items()]
    a = check(tdir / "spec.yaml", search.monitor_overrides() + values, search=False)
    head = (f"# The best of study {study.study_name!r} (trial {best.number + 1} of {len(study.trials)}, "
            f"{metric} {best.value:.6g}), written by `specdl tune`.\n"
            f"# Its run: {best.user_attrs.get('run_dir', '?')}; the search section is in {tdir / 'spec.yaml'}.\n")
    path = tdir / "best.yaml"
    write_output(path, head + dump_yaml(without_search(a.spec.to_dict())), "best.yaml")
    return check(path, search=False).spec, path


def _plots(study, tdir: Path) -> list[str]:
    """history.png and importance.png (Optuna's matplotlib plots); a note for a plot
    that cannot be drawn yet."""
    from optuna.trial import TrialState

    from .report import _pyplot

    plt = _pyplot()
    from optuna.visualization import matplotlib as ovm

    notes = []
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    for name, draw, needs in (("history.png", ovm.plot_optimization_history, 1),
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


def _table(study, trials, spec, metric: str) -> None:
    from rich.console import Console
    from rich.table import Table

    direction = study.direction.name.lower()
    done = [t for t in trials if t.value is not None and _state(t) == "complete"]
    done.sort(key=lambda t: t.value, reverse=direction == "maximize")
    table = Table(title=f"{spec.name}: best {min(TOP, len(done))} of {len(trials)} trials "
                        f"({metric}, {direction[:3]})")
    keys = sorted({k for t in trials for k in t.params})
    for col in ["trial", metric, *keys, "epochs"]:
        table.add_column(col, justify="right")
    for t in done[:TOP]:
        table.add_row(str(t.number + 1), _value(t.value), *(_num(t.params.get(k, "")) for k in keys),
                      str(_epochs(t)))
    Console(width=max(100, 20 * (len(keys) + 3))).print(table)
    counts = {s: sum(_state(t) == s for t in trials) for s in ("complete", "pruned", "fail")}
    print(f"{counts['complete']} complete, {counts['pruned']} pruned, {counts['fail']} failed; "
          f"{sum(_epochs(t) for t in trials)} epochs in all")
