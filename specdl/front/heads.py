"""Several outputs in ``check`` (spec 12.7): a spec with ``data.targets``, one head each.
This module owns what check proves of it: the targets and ``model.outputs`` name each
other, every head is proved against its target (width, classes, loss kind, metric kind)
by the single-target checks on the head's view of the graph, every message naming the
head and its target; monitors are per target (``val_f1[sentiment]``) or the weighted total
``val_loss``; and the Analysis of each head."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..components.base import REGISTRY
from ..errors import Issue, ShapeError, SourceError, SpecError, did_you_mean
from ..sources.info import describe
from ..sources.targets import target_views
from .graph import Graph

# A run verb or train option that several outputs do not reach yet (issue 30, part 2).
NOT_YET = "several outputs (data.targets) do not reach {what} in this version"
# One target's value: `val_<metric>[<target>]` (a target name holds no bracket: sources/targets.py)
PER_TARGET = re.compile(r"val_(\w+)\[([^\[\]]+)\]")


@dataclass
class HeadGraph(Graph):
    """The graph as one head sees it: its output is the head layer (``head``)."""

    head: str = ""

    @property
    def output(self):
        return next(n for n in self.nodes if n.name == self.head)


def keyed_by_target(issues: list[Issue]) -> list[Issue]:
    """Several outputs: a `loss` or `metrics` not keyed by target says how it is keyed."""
    def said(i: Issue) -> Issue:
        key = i.path[0] if len(i.path) == 1 else None
        if key not in ("loss", "metrics") or not i.message.startswith("must be a mapping"):
            return i
        example = "{<target>: cross_entropy, ...}" if key == "loss" else "{<target>: [accuracy], ...}"
        return replace(i, message=f"with data.targets, `{key}` is keyed by target, one entry per head: "
                                  f"`{key}: {example}`")
    return [said(i) for i in issues]


def single_target_issues(spec, src) -> list[Issue]:
    """A spec with one target naming what belongs to several outputs."""
    issues = []
    if spec.model.outputs is not None:
        issues.append(src.issue(("model", "outputs"), "model.outputs maps named targets (data.targets) to their "
                                "heads; with one `target` the last layer is the output: leave it out", key=True))
    if spec.loss_weights is not None:
        issues.append(src.issue(("loss_weights",), "loss_weights weigh the losses of several outputs "
                                "(data.targets); with one `target` leave it out", key=True))
    return issues


def structure_issues(spec, src) -> list[Issue]:
    """The targets, model.outputs, loss, metrics and loss_weights name each other; no target
    named like a loss or metric (``val_<metric>[<target>]`` would read ambiguously)."""
    data, targets, issues = spec.data, list(spec.data.targets), []
    key = next((k for k in ("target", "y", "classes", "outputs") if k in data.model_fields_set), None)
    if key is not None:
        issues.append(src.issue(("data", key), f"`{key}` and `targets` cannot both be given: `targets` names "
                                "every target, one head each", key=True))
    for t in targets:
        kind = next((k for k in ("loss", "metric") if t in REGISTRY[k]), None)
        if kind is not None:
            issues.append(src.issue(("data", "targets", t), f"the target `{t}` is named like the {kind} `{t}`; "
                                    f"rename it (e.g. `{t}_target`)", key=True))
    outputs = spec.model.outputs
    if outputs is None:
        return issues + [src.issue(("model",), "with data.targets, model.outputs maps each target to its head "
                                   f"layer: `outputs: {{{', '.join(f'{t}: <layer>' for t in targets)}}}`")]
    for where, keyed in ((("model", "outputs"), outputs), (("loss",), spec.loss or {}),
                         (("metrics",), spec.metrics or {}), (("loss_weights",), spec.loss_weights or {})):
        issues += [src.issue((*where, k), f"`{k}` is not a target" + (did_you_mean(k, targets) or
                             f"; the targets are {', '.join(targets)}"), key=True) for k in keyed if k not in targets]
    issues += [src.issue(("data", "targets", t), f"the target `{t}` has no head: add `{t}: <layer>` to "
                         "model.outputs", key=True) for t in targets if t not in outputs]
    weights = spec.loss_weights or {}
    if targets and all(weights.get(t, 1.0) == 0 for t in targets):
        issues.append(src.issue(("loss_weights",), "every target's weight is 0, so the total loss is 0 and "
                                "nothing trains; give at least one target a weight above 0"))
    return issues


def head_issues(spec, graph, src) -> list[Issue]:
    """Each head is a layer of the graph; a layer whose output feeds nothing is a head."""
    names = [n.name for n in graph.nodes]
    issues = [src.issue(("model", "outputs", t), f"the head `{h}` of target `{t}` is not a layer"
                        + did_you_mean(h, names), key=False) for t, h in spec.model.outputs.items() if h not in names]
    if issues:  # a misspelt head leaves its layer feeding nothing: said once, at the head
        return issues
    heads = set(spec.model.outputs.values())
    used = graph.consumers()
    issues += [src.issue(n.path, f"the output of `{n.name}` feeds nothing: no layer takes it and no target's head "
                         "is it; map a target to it in model.outputs, or remove it", n.type)
               for n in graph.nodes if not used.get(n.name) and n.name not in heads]
    return issues


def describe_targets(spec, src) -> dict:
    """target -> DataInfo of its view (the source as if it had that one target); a problem
    with a target's data is located at that target."""
    out = {}
    for t, view in target_views(spec.data).items():
        try:
            out[t] = describe(view, spec.seed)
        except ShapeError as e:
            raise SpecError([src.issue(("data", e.group, e.index), str(e),
                                       getattr(view, e.group)[e.index].type_name)]) from None
        except SourceError as e:
            where = _target_path(t, e.field)
            raise SpecError([src.issue(where, f"target `{t}`: {e}" if where[1] == "targets" else str(e))]) from None
    return out


def _target_path(t: str, field) -> tuple:
    """Where a view's SourceError belongs in the spec: the target's own keys, else the source's."""
    own = {"target": "column", "y": "array", "task": "task", "target_transforms": "transforms",
           "classes": "classes", "outputs": "outputs"}
    field = field if isinstance(field, tuple) else (field,)
    if field[0] in own:
        return ("data", "targets", t, own[field[0]], *field[1:])
    return ("data", *field)


def prefixed(issues: list[Issue], head: str, target: str) -> list[Issue]:
    """The issues of one head, each message naming the head and its target."""
    return [replace(i, message=f"head `{head}` (target `{target}`): "
                    + i.message.replace("`data.task: ", f"`data.targets.{target}.task: ")) for i in issues]


def metric_issues(spec, t: str, info, metrics, src) -> list[Issue]:
    """A metric that does not fit its target's task."""
    return [src.issue(("metrics", t, i), f"`{m.type_name}` is a {m.tasks[0]} metric; this target is {info.task}: "
                      f"use {', '.join(fitting_metrics(info.task, m.scores))}", m.type_name)
            for i, m in enumerate(metrics) if info.task not in m.tasks]


def fitting_metrics(task: str, scores: bool) -> list[str]:
    """The metrics for ``task``: score metrics in place of a score metric where the task has
    some, else those of the predictions."""
    fit = [n for n, c in REGISTRY["metric"].items() if task in c.tasks and c.scores == scores]
    return sorted(fit or (n for n, c in REGISTRY["metric"].items() if task in c.tasks and not c.scores))


def monitor_names(heads: dict) -> list[str]:
    """What a run of several outputs may monitor: the weighted total, each target's loss and metrics."""
    return ["val_loss", "train_loss"] + [f"val_{m}[{t}]" for t, h in heads.items()
                                         for m in ["loss", *(x.type_name for x in h.metrics)]]


def classes_issues(spec, t: str, info, src) -> list[Issue]:
    """A csv target's ``classes``: the number of classes its column must hold."""
    want = getattr(spec.data.targets[t], "classes", None)
    if want is None or info.classes == want:
        return []
    held = f"{info.classes} classes" if info.task == "classification" else f"{info.task} values"
    return [src.issue(("data", "targets", t, "classes"), f"the column `{spec.data.targets[t].column}` holds "
                      f"{held}, not {want}")]


def monitor_issues(spec, heads: dict, src) -> list[Issue]:
    """Monitors name the weighted total (val_loss, train_loss) or one target's value."""
    names = monitor_names(heads)
    es = spec.train.early_stopping
    issues = []
    for where, mon in ((("train", "checkpoint", "monitor"), spec.train.checkpoint.monitor),
                       (("train", "early_stopping", "monitor"), es.monitor if es else None)):
        if mon is not None and mon not in names:
            issues.append(src.issue(where, f"cannot monitor `{mon}`: " + _unlisted(mon, heads, names)))
    return issues


def _unlisted(mon: str, heads: dict, names: list) -> str:
    """Why a monitor is not computed: its metric is not in its target's metrics, or it is no name at all."""
    m = PER_TARGET.fullmatch(mon)
    name, target = m.groups() if m else ("", "")
    if target in heads and name in REGISTRY["metric"]:
        listed = f"{', '.join(n for n in names if n.endswith(f'[{target}]'))} or the weighted total val_loss"
        tasks, task = REGISTRY["metric"][name].tasks, heads[target].task
        if task not in tasks:  # another head's kind of metric: adding it would be an error
            return f"`{name}` is a {tasks[0]} metric and target `{target}` is {task}; monitor one of {listed}"
        return f"`{name}` is not in `metrics.{target}`; add it there, or monitor one of {listed}"
    return ("with several outputs monitor the weighted total val_loss or one target's value, as "
            "`val_<metric>[<target>]`" + did_you_mean(mon, names))


def threshold_issues(spec, heads: dict, src) -> list[Issue]:
    """``train.threshold`` of several outputs: per target, each a binary or multilabel head's;
    one number needs such a head."""
    if "threshold" not in spec.train.model_fields_set:
        return []
    given = spec.train.threshold
    labelled = [t for t, h in heads.items() if h.kind in ("binary", "multilabel")]
    if not isinstance(given, dict):
        return [] if labelled else [src.issue(("train", "threshold"), "a threshold applies to binary (one logit, "
                                              "bce_with_logits) and multilabel heads; this spec has none")]
    issues = []
    for t in given:
        if t not in heads:
            issues.append(src.issue(("train", "threshold", t), f"`{t}` is not a target" + did_you_mean(t, list(heads)),
                                    key=True))
        elif t not in labelled:
            issues.append(src.issue(("train", "threshold", t), f"head `{heads[t].graph.head}` (target `{t}`): a "
                                    f"threshold applies to binary (one logit, bce_with_logits) and multilabel heads; "
                                    f"this head is {heads[t].kind}"))
    return issues


def head_mode(monitor: str, mode: str, heads: dict) -> str:
    """min or max for a monitor of several outputs (``auto``: by its metric)."""
    if mode != "auto" or "[" not in monitor:
        return "min" if mode == "auto" else mode
    name, target = PER_TARGET.fullmatch(monitor).groups()
    m = next((m for m in heads[target].metrics if m.type_name == name), None)
    return "max" if m is not None and m.higher_is_better else "min"
