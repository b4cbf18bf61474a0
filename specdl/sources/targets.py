"""Several outputs (spec 12.7): ``data.targets``, named targets one head each, of the csv,
npz and synthetic sources. This module owns what a target is in a spec (a csv column, an
npz array, a synthetic width), the refusal of a list (``targets: [a, b]``), and each
target's *view*: the source as if it had that one target (``target_views``), so that the
single-target code reads every target's task, classes and values."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from ..components.base import PosInt
from .base import Base, Task

# A target's name is a key of `loss`, `metrics` and `loss_weights`, the bracket of a monitor
# (`val_f1[<target>]`), a column of predict's output and part of the run directory's file
# names (`roc.<target>.png`): letters, digits, _ and -, starting with a letter.
TARGET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")  # always used with fullmatch


def _check_target_name(v: str) -> str:
    if TARGET_NAME.fullmatch(v) is None:
        raise ValueError(f"{v!r} is not a valid target name: use letters, digits, _ and - (at most 64, "
                         "starting with a letter); it names files of the run and the monitor `val_<metric>[<target>]`")
    return v


def _some(v: dict) -> dict:
    if not v:
        raise ValueError("name at least one target, one head each (`targets: {<name>: {...}}`); for one "
                         "output leave `targets` out")
    return v


def targets_of(kind):
    """The type of a source's ``targets``: names -> ``kind``, at least one (None: one target)."""
    return Annotated[dict[Annotated[str, AfterValidator(_check_target_name)], kind], AfterValidator(_some)] | None


class CsvTarget(Base):
    """One target of a CSV: its column, how it is read (task), its transforms, and (optional)
    the number of classes check expects it to hold."""

    column: str = Field(min_length=1)
    task: Task | None = None
    transforms: list["TransformUnion"] = []  # noqa: F821 - resolved by schema.spec_class
    classes: Annotated[int, Field(ge=2)] | None = None


class NpzTarget(Base):
    """One target of an npz file: the array holding it, how it is read, its transforms."""

    array: str = Field(min_length=1)
    task: Task | None = None
    transforms: list["TransformUnion"] = []  # noqa: F821


class SyntheticTarget(Base):
    """One synthetic target: class indices (``classes``) or values (``outputs``)."""

    classes: Annotated[int, Field(ge=2)] | None = None
    outputs: PosInt | list[PosInt] | None = None

    @model_validator(mode="after")
    def _one(self):
        if (self.classes is None) == (self.outputs is None):
            raise ValueError("give exactly one of `classes` (classification) or `outputs` (regression)")
        return self


def refuse_list(v, key: str):
    """``targets: [a, b]`` (a list): say which of the two forms was meant."""
    if isinstance(v, list):
        names = [str(t) for t in v][:2] or ["a", "b"]
        pair = ", ".join(names)
        raise ValueError(f"`targets` maps a name to each target, one head each (`targets: {{{names[0]}: "
                         f"{{{key}: {names[0]}}}, ...}}`); for one head over several columns (a multi-target "
                         f"regression) write `target: [{pair}]`")
    return v


class SeveralTargets:
    """A source that may name several targets (mixed into csv, npz and synthetic): what a
    run directory or a script keeps of its data is the first target's view's facts, with
    each target's (``targets``: name -> its DataInfo as plain data)."""

    def saved_facts(self, seed: int = 0) -> dict:
        if self.targets is None:
            return super().saved_facts(seed)
        views = target_views(self)
        facts = next(iter(views.values())).saved_facts(seed)
        facts["targets"] = {t: v.saved_facts(seed)["info"] for t, v in views.items()}
        return facts

    def class_names(self) -> list[str] | None:
        return super().class_names() if self.targets is None else None


def target_views(data) -> dict:
    """name -> the source with only that target (``data.targets`` given), in the spec's order:
    a csv excludes the other targets' columns from its features. A csv or npz target without
    a task whose values are a few whole numbers (0/1, which one target reads as regression,
    with a hint) takes its classes from the column (spec 12.7)."""
    views = {}
    for name, t in data.targets.items():
        if data.source == "csv":
            others = [u.column for k, u in data.targets.items() if k != name and u.column not in data.exclude]
            task = t.task or ("classification" if t.classes is not None else None)
            update = {"target": t.column, "task": task, "target_transforms": t.transforms,
                      "exclude": [*data.exclude, *(others if data.features is None and data.inputs is None else [])]}
        elif data.source == "npz":
            update = {"y": t.array, "task": t.task, "target_transforms": t.transforms}
        else:
            update = {"classes": t.classes, "outputs": t.outputs}
        view = data.model_copy(update={**update, "targets": None})
        saved = _saved_facts(data, name)
        view.use_saved(saved)
        if data.source == "csv" and t.task is None:  # a finished run's saved task, else the column's
            saved_task = saved["info"]["task"] if saved else None
            view = view.model_copy(update={"task": saved_task}) if saved_task else _classes_from_column(view)
        views[name] = view
    return views


def _saved_facts(data, name: str) -> dict | None:
    """A target's view of what a run directory saved (``SeveralTargets.saved_facts``): the
    first target's facts with this target's info, so a finished run reads no data."""
    facts = getattr(data, "_facts", None)
    if not facts or name not in facts.get("targets", {}):
        return None
    return {**{k: v for k, v in facts.items() if k != "targets"}, "info": facts["targets"][name]}


def _classes_from_column(view):
    """A csv view read as classification where its numbers suggest classes (``target_hint``)."""
    from ..errors import SourceError

    try:
        hinted = view.target_hint() is not None
    except (SourceError, ValueError, OSError):  # check says why, at the target
        return view
    return view.model_copy(update={"task": "classification"}) if hinted else view
