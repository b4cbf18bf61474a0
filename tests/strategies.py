"""Hypothesis strategies derived from the registry's pydantic fields, so that a new
component is covered by the registry-wide tests without new test code."""

from __future__ import annotations

import types
import typing

import annotated_types as at
from hypothesis import strategies as st

SKIP_FIELDS = {"type", "name", "inputs"}
RANKS = (2, 3, 4, 5)  # every rank a layer of the registry takes, batch included


def rare(draw) -> bool:
    """True one time in five. (Hypothesis favours the simplest draw, 0, so the common
    case must be the one a 0 picks.)"""
    return draw(st.integers(0, 4)) == 4


def for_annotation(ann, metadata=(), length=None) -> st.SearchStrategy:
    """Small values of the annotated type, within its pydantic bounds; lists mostly of
    ``length`` items when one is given (a spatial layer's one size per dimension)."""
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Annotated:  # a Field(...) inside carries its bounds in .metadata
        inner = [x for a in args[1:] for x in (getattr(a, "metadata", None) or [a])]
        return for_annotation(args[0], tuple(metadata) + tuple(inner), length)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([for_annotation(a, metadata, length) for a in args])
    if origin is typing.Literal:
        return st.sampled_from(args)
    if ann is type(None):
        return st.none()
    lo = hi = None
    strict_lo = strict_hi = False
    min_len = 0
    for m in metadata:
        for attr, is_strict, upper in (("ge", False, False), ("gt", True, False),
                                       ("le", False, True), ("lt", True, True)):
            v = getattr(m, attr, None)
            if v is not None:
                if upper:
                    hi, strict_hi = v, is_strict
                else:
                    lo, strict_lo = v, is_strict
        if isinstance(m, at.MinLen) or hasattr(m, "min_length"):
            min_len = getattr(m, "min_length", 0) or 0
    if ann is bool:
        return st.booleans()
    if ann is int:
        a = -3 if lo is None else lo + (1 if strict_lo else 0)
        b = a + 5 if hi is None else hi - (1 if strict_hi else 0)
        return st.integers(a, min(b, a + 5))
    if ann is float:
        a = -2.0 if lo is None else float(lo)
        b = a + 2.0 if hi is None else float(hi)
        return st.floats(a, b, exclude_min=strict_lo, exclude_max=strict_hi, allow_nan=False)
    if ann is str:
        return st.text("abc", min_size=1, max_size=3)
    if origin in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return st.tuples(*(for_annotation(a) for a in args))
        items = st.lists(for_annotation(args[0]), min_size=max(min_len, 1), max_size=4)
        if length is None:
            return items
        fits = st.lists(for_annotation(args[0]), min_size=length, max_size=length)
        return st.integers(0, 4).flatmap(lambda k: items if k == 4 else fits)
    raise NotImplementedError(f"no strategy for {ann}")


@st.composite
def params(draw, cls) -> dict:
    """Keyword arguments for a component: required fields always, optional ones sometimes;
    from the component's ``examples`` where it gives some."""
    out = {}
    examples = getattr(cls, "examples", {})
    for name, f in cls.model_fields.items():
        if name in SKIP_FIELDS:
            continue
        if name in examples:
            if f.is_required() or draw(st.booleans()):
                out[name] = draw(st.sampled_from(examples[name]))
        elif f.is_required() or draw(st.booleans()):
            out[name] = draw(for_annotation(f.annotation, f.metadata, getattr(cls, "nd", None)))
    return out


def _fixed_sizes(cls) -> dict:
    """Sizes the layer's rank hint fixes, by position: ``[N, 3, H, W]`` -> {1: 3}."""
    parts = [p.strip() for p in cls.rank_hint.split("(")[0].strip(" []").split(",")]
    return {i: int(p) for i, p in enumerate(parts) if p.isdigit()}


@st.composite
def input_types(draw, cls, dtype="float32"):
    """An input type (batch included): mostly of a rank the layer takes (so that most
    draws exercise its shape rule past the rank check) and with the sizes its rank hint
    fixes, or one of its example inputs; sometimes of another rank."""
    fitting = getattr(cls, "examples", {}).get("input")
    if fitting and not rare(draw):
        return ("N", *draw(st.sampled_from(fitting))), dtype
    fits = list(cls.ranks) if cls.ranks else [2, 3, 4]
    others = [r for r in RANKS if r not in fits]
    rank = draw(st.sampled_from(others if others and rare(draw) else fits))
    dims = draw(st.lists(st.integers(1, 9), min_size=rank - 1, max_size=rank - 1))
    for i, size in _fixed_sizes(cls).items():
        if i < rank and not rare(draw):
            dims[i - 1] = size
    return ("N", *dims), dtype


@st.composite
def related_shapes(draw, base, n) -> list:
    """n shapes like ``base`` (batch included), for merges and multi-input layers: each
    dimension kept, mostly, or redrawn, now and then one dimension fewer, so that both
    agreeing and clashing inputs come."""
    out = [tuple(base)]
    for _ in range(n - 1):
        dims = [draw(st.integers(1, 5)) if rare(draw) else d for d in base[1:]]
        if len(dims) > 1 and rare(draw) and rare(draw):
            dims = dims[1:]
        out.append(("N", *dims))
    return out


# ------------------------------------------------------------ option combinations
# A task as the data gives it: (data, width of the model's output); ``multilabel`` reads
# the npz a test writes (``files["multilabel"]``). Small: a build takes a fraction of a second.
TASKS = {
    "classification": ({"source": "synthetic", "shape": [5], "classes": 3, "size": 60}, 3),
    "binary": ({"source": "synthetic", "shape": [5], "classes": 2, "size": 60}, 1),
    "multilabel": ({"source": "npz", "task": "multilabel"}, 3),
    "regression": ({"source": "synthetic", "shape": [5], "outputs": 1, "size": 60}, 1),
    "multi_target": ({"source": "synthetic", "shape": [5], "outputs": 2, "size": 60}, 2),
}
DATA_TASK = {"binary": "classification", "multi_target": "regression"}


def _component(draw, kind, name, **fixed) -> dict:
    """One registry component in its explicit form, its arguments drawn (``fixed`` wins)."""
    from specdl.components.base import REGISTRY

    return {"type": name, **draw(params(REGISTRY[kind][name])), **fixed}


@st.composite
def _loss(draw, task, width) -> dict:
    from specdl.components.base import REGISTRY

    if task == "binary":
        names = ["bce_with_logits"]
    else:
        names = sorted(n for n, c in REGISTRY["loss"].items() if c.task == DATA_TASK.get(task, task))
    name = draw(st.sampled_from(names))
    loss = _component(draw, "loss", name)
    for key in ("weight", "pos_weight"):  # one value per class (label; binary: one)
        if key in loss:
            per = st.lists(st.sampled_from([0.5, 1.0, 2.0]), min_size=width, max_size=width)
            loss[key] = draw(st.one_of(per, st.sampled_from([0.5, 2.0])) if key == "pos_weight" else per)
    return loss


def _optimizer(draw) -> dict:
    """An optimizer with every argument drawn, within what trains (momentum below 1;
    nesterov with momentum and no dampening, as torch demands)."""
    from specdl.components.base import REGISTRY

    opt = _component(draw, "optimizer", draw(st.sampled_from(sorted(REGISTRY["optimizer"]))),
                     lr=draw(st.sampled_from([1e-3, 1e-2])))
    for key in ("momentum", "dampening", "weight_decay"):
        if key in opt:
            opt[key] = draw(st.sampled_from([0.0, 0.5, 0.9]))
    if opt.get("nesterov"):
        opt["momentum"], opt["dampening"] = 0.9, 0.0
    return opt


def _monitor(draw, metrics, validates) -> str:
    names = ["train_loss"] + (["val_loss", *(f"val_{m}" for m in metrics)] if validates else [])
    return draw(st.sampled_from(names))


@st.composite
def _train(draw, task, metrics, validates) -> dict:
    tr = {"epochs": draw(st.integers(1, 3)), "batch_size": draw(st.sampled_from([7, 16, 1000])),
          "device": "cpu", "accumulate": draw(st.integers(1, 3)),
          "precision": draw(st.sampled_from(["fp32", "bf16", "fp16"])),
          "checkpoint": {"monitor": _monitor(draw, metrics, validates),
                         "mode": draw(st.sampled_from(["auto", "min", "max"])), "interval": 0}}
    optional = {"grad_clip": st.sampled_from([0.1, 1.0]), "eval_batch_size": st.sampled_from([5, 64]),
                "deterministic": st.booleans(), "threads": st.sampled_from(["auto", 1, 2]),
                "threshold": st.sampled_from([0.3, 0.5, 0.8])}
    for key, values in optional.items():
        if (key != "threshold" or task in ("binary", "multilabel")) and rare(draw):
            tr[key] = draw(values)
    if draw(st.booleans()):
        tr["early_stopping"] = {"monitor": _monitor(draw, metrics, validates), "patience": draw(st.integers(1, 2)),
                                "mode": draw(st.sampled_from(["auto", "min", "max"])),
                                "min_delta": draw(st.sampled_from([0.0, 0.01]))}
    return tr


def _mistake(draw, spec, task) -> tuple | None:
    """Now and then one mistake that check must report, as its one error: a metric of
    another task, or a monitor of no listed metric. Returns its YAML path."""
    from specdl.components.base import REGISTRY

    if not rare(draw):
        return None
    if draw(st.booleans()):
        other = sorted(n for n, c in REGISTRY["metric"].items() if DATA_TASK.get(task, task) not in c.tasks)
        spec["metrics"] = [*spec.get("metrics", []), draw(st.sampled_from(other))]
        return ("metrics", len(spec["metrics"]) - 1)
    spec["train"]["checkpoint"]["monitor"] = "val_nothing"
    return ("train", "checkpoint", "monitor")


@st.composite
def run_specs(draw, files) -> tuple[dict, list]:
    """A spec combining a task, its loss (with options), an optimizer and a scheduler
    (each with drawn arguments), training options, early stopping, monitors, metrics and
    splits; and the paths of the mistakes in it (none: a spec check must accept)."""
    from specdl.components.base import REGISTRY

    task = draw(st.sampled_from(sorted(TASKS)))
    data, width = TASKS[task]
    data = {**data, **({"path": str(files["multilabel"])} if task == "multilabel" else {})}
    val = draw(st.sampled_from([0.2, 0.2, 0.0]))
    data["split"] = {"val": val, "test": 0.25, "stratify": draw(st.booleans())}
    if DATA_TASK.get(task, task) == "regression" and draw(st.booleans()):
        data["target_transforms"] = draw(st.sampled_from([["standardize"], ["minmax"], ["minmax", "standardize"]]))
    if rare(draw):  # the task's default loss (one logit needs bce_with_logits named)
        loss = {"type": "bce_with_logits"} if task == "binary" else None
    else:
        loss = draw(_loss(task, width))
    layers = [{"linear": 8}, *(["batchnorm1d"] if rare(draw) else []), "relu", {"linear": width}]
    if loss is not None and loss["type"] == "nll":
        layers.append({"log_softmax": {"dim": 1}})
    elif width == 1 and rare(draw):
        layers.append("flatten")  # [N]: one logit, or one target
    # metrics from predictions: a score metric's value on these small splits may be undefined (a class
    # absent from val), and top_k_accuracy's k depends on the classes (tests/test_score_metrics.py)
    fits = sorted(n for n, c in REGISTRY["metric"].items() if DATA_TASK.get(task, task) in c.tasks and not c.scores)
    metrics = draw(st.lists(st.sampled_from(fits), min_size=1, max_size=3, unique=True)) if draw(st.booleans()) \
        else None
    spec = {"name": "combo", "seed": draw(st.integers(0, 3)), "data": data, "model": {"layers": layers},
            "optimizer": _optimizer(draw),
            "train": draw(_train(task, metrics or (["accuracy", "f1"] if task not in ("regression", "multi_target")
                                                   else ["mse", "r2"]), val > 0))}
    spec.update({k: v for k, v in (("loss", loss), ("metrics", metrics)) if v is not None})
    if draw(st.booleans()):
        name = draw(st.sampled_from(sorted(REGISTRY["scheduler"])))
        spec["scheduler"] = _component(draw, "scheduler", name, **({"max_lr": 0.01} if name == "onecycle" else {}))
    mistakes = [m for m in [_mistake(draw, spec, task)] if m is not None]
    if "batchnorm1d" in layers and _lone_batch(spec, files):
        mistakes.append(("train", "batch_size"))
    return spec, mistakes


def _lone_batch(spec, files) -> bool:
    """Whether the last training batch holds one sample (batch norm then cannot train)."""
    import numpy as np

    from specdl.front.analysis import split_sizes
    from specdl.sources.base import Split

    data, bs = spec["data"], spec["train"]["batch_size"]
    n = data["size"] if "size" in data else len(np.load(files["multilabel"])["y"])
    train = split_sizes(n, Split(**data["split"]))["train"]
    return bs == 1 or train % bs == 1
