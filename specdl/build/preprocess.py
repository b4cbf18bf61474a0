"""preprocess.json: what a run fitted on its train split (transform statistics,
categories, class names), written beside the checkpoints, read back and checked against
the spec before a finished run uses it (specdl/runs/)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import RunError

PREPROCESS = "preprocess.json"


def save_preprocess(run_dir: Path, spec, arrays) -> None:
    """What was fitted on the train split, as plain JSON (runtime/prepare.py's record,
    which a generated script writes too)."""
    from ..runtime.csv_inputs import inputs_record
    from ..runtime.heads import heads_record
    from ..runtime.prepare import preprocess_record

    record = heads_record if isinstance(arrays.target_states, dict) else preprocess_record  # several outputs
    data = record(arrays.states, arrays.target_states, arrays.encoder, arrays.class_names,
                  spec.data.saved_facts(spec.seed))
    if arrays.inputs is not None:  # a CSV's named inputs (spec 12.5); a run without them: as before
        data["inputs"] = inputs_record(arrays.inputs)
    (Path(run_dir) / PREPROCESS).write_text(json.dumps(data) + "\n")


PRE_KEYS = ("transforms", "target_transforms", "categories", "class_names")


def read_preprocess(path: Path) -> dict:
    """The run's preprocess.json, or one line saying it is damaged."""
    try:
        pre = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as e:
        raise RunError(f"{path} is damaged ({type(e).__name__}); restore it or build the run again") from None
    if not isinstance(pre, dict) or any(k not in pre for k in PRE_KEYS):
        raise RunError(f"{path} is not a specdl preprocessing file; restore it or build the run again")
    why = _facts_problem(pre.get("facts"))
    if why:
        raise RunError(f"{path} is damaged ({why}); restore it or build the run again")
    return pre


def _dims(v) -> bool:
    return isinstance(v, list) and bool(v) and all(type(n) is int and 0 < n < 2**31 for n in v)


def _facts_problem(facts) -> str | None:
    """What is wrong with preprocess.json's saved facts of the data (None: nothing, or none saved)."""
    from ..sources.info import DataInfo

    if facts is None:
        return None
    info = facts.get("info") if isinstance(facts, dict) else None
    if not isinstance(info, dict) or not set(info) <= set(DataInfo.__dataclass_fields__) or not all(
            k in info for k in ("feat", "dtype", "task", "classes", "outputs")):
        return "its `facts` are not those of a data set"
    classes = info["classes"]
    if not _dims(info["feat"]) or (info["outputs"] is not None and not _dims(info["outputs"])) or (
            classes is not None and not _dims([classes])):
        return "the data's saved shapes are not positive whole numbers"
    if info["dtype"] not in ("float32", "int64") or info["task"] not in ("classification", "regression",
                                                                         "multilabel"):
        return "the data's saved dtype or task is not one specdl writes"
    cols = facts.get("columns")
    if cols is not None and not (isinstance(cols, list) and len(cols) == 2 and all(
            isinstance(c, list) and all(isinstance(n, str) for n in c) for c in cols)):
        return "the saved CSV columns are not two lists of names"
    return None


def check_saved(path: Path, pre: dict, analysis) -> None:
    """preprocess.json against the run's spec: one fitted state per transform, each with
    the keys and shapes a fit on the run's shapes gives, of finite numbers; one class name
    per class. An edited file is one line, never a traceback or a silent broadcast."""
    why = (_states_problem(pre, analysis) or _names_problem(pre["class_names"], analysis)
           or _inputs_problem(pre.get("inputs"), analysis))
    if why:
        raise RunError(f"{path} does not fit the run's spec ({why}); restore it or build the run again")


def _fitted_groups(pre: dict, analysis) -> list[tuple]:
    """(key, saved states, the spec's transforms) of each group of fitted transforms: the
    inputs' (image transforms fit nothing) and the target's; several outputs: each target's."""
    data = analysis.spec.data
    groups = [("transforms", pre["transforms"], [] if data.file_backed else data.transforms)]
    if not analysis.heads:
        return [*groups, ("target_transforms", pre["target_transforms"], data.target_transforms)]
    saved = pre["target_transforms"] if isinstance(pre["target_transforms"], dict) else {}
    return [*groups, *((f"target_transforms.{t}", saved.get(t), getattr(data.targets[t], "transforms", []))
                       for t in analysis.heads)]


def _states_problem(pre: dict, analysis) -> str | None:
    data = analysis.spec.data
    for key, states, steps in _fitted_groups(pre, analysis):
        why = _group_problem(key, states, steps)
        if why:
            return why
    if data.file_backed or not data.transforms:
        return None
    raw = (len(data.columns()[0]),) if data.source == "csv" else tuple(data.facts(analysis.spec.seed).feat)
    return _shapes_problem(data.transforms, pre["transforms"], raw)


def _group_problem(key: str, states, steps) -> str | None:
    """A group of fitted states: one dict per transform, each of finite numbers."""
    if not isinstance(states, list) or len(states) != len(steps) or not all(isinstance(x, dict) for x in states):
        noun = "transforms" if key.startswith("inputs.") else key  # an input's own, or the data's
        return f"`{key}` is not one fitted state for each of the spec's {len(steps)} {noun}"
    for t, state in zip(steps, states):
        for k, v in state.items():
            try:
                ok = np.isfinite(np.asarray(v, dtype=np.float64)).all()
            except (TypeError, ValueError):
                ok = False
            if not ok:
                return f"{t.type_name}'s `{k}` holds other than finite numbers"
    return None


def _shapes_problem(steps, states, raw: tuple) -> str | None:
    """Fitted states against what ``steps`` fit on zeros of the per-sample shape ``raw``:
    the same keys, of the same shapes."""
    from ..runtime.prepare import fit_transforms

    try:
        wants = fit_transforms({"train": np.zeros((2, *raw))}, [t.step() for t in steps])[1]
    except Exception:  # noqa: BLE001 - shapes the transforms refuse: check said so already
        return None
    for t, state, want in zip(steps, states, wants):
        shapes = {k: list(np.shape(v)) for k, v in state.items()}
        wanted = {k: list(np.shape(v)) for k, v in want.items()}
        if shapes != wanted:
            return f"the fitted {t.type_name} is {shapes}; the run's data gives {wanted}"
    return None


FITTED = {"text": ("vocabulary", "length"), "categorical": ("categories",), "numeric": ("transforms",)}


def _inputs_problem(saved, analysis) -> str | None:
    """A CSV's named inputs: what each fitted, with the keys its kind fits (None: fine)."""
    from ..sources.csv_inputs import columns_of

    data = analysis.spec.data
    if data.source != "csv" or not data.inputs:
        return None
    if not isinstance(saved, dict):
        return "it holds no `inputs`: what the named inputs fitted (a run of an older specdl, or a generated " \
               "script's file); build the run with this specdl"
    for info in analysis.data.inputs:
        fit = saved.get(info.name)
        keys = FITTED.get(info.kind, ())
        if not isinstance(fit, dict) or any(k not in fit for k in keys):
            return f"`inputs.{info.name}` is not what a {info.kind} input fits ({', '.join(keys)})"
        if info.kind == "text" and not (isinstance(fit["vocabulary"], list) and type(fit["length"]) is int
                                        and fit["length"] > 0 and all(isinstance(t, str) for t in fit["vocabulary"])):
            return f"`inputs.{info.name}` holds no vocabulary of texts and whole length"
        if info.kind == "categorical" and not (isinstance(fit["categories"], list)
                                               and all(isinstance(c, str) for c in fit["categories"])):
            return f"`inputs.{info.name}.categories` is not a list of texts"
        if info.kind == "numeric":  # its transforms' states, as the data's own are checked
            how = data.inputs[info.name]
            why = (_group_problem(f"inputs.{info.name}.transforms", fit["transforms"], how.transforms)
                   or _shapes_problem(how.transforms, fit["transforms"], (len(columns_of(how)),)))
            if why:
                return why
    return None


def _names_problem(names, analysis) -> str | None:
    if analysis.heads:  # several outputs: each target's names (None: not classes, or not named)
        if not isinstance(names, dict) or set(names) != set(analysis.heads):
            return "`class_names` is not one entry per target"
        return next(filter(None, (_names_problem(names[t], h) for t, h in analysis.heads.items())), None)
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return "`class_names` is not a list of names"
    if analysis.task == "classification" and len(names) != analysis.data.classes:
        return f"{len(names)} class names for {analysis.data.classes} classes"
    return None
