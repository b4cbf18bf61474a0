"""Several outputs in build (spec 12.7): the data of every target split alike and packed
(runtime/heads.py), the weighted loss, each head's predictions and metrics, what a
several-output run reports per target."""

from __future__ import annotations

import functools

from ..errors import RunError, SpecError
from ..runtime import heads as rt
from ..runtime import loop
from ..runtime.prepare import FitError, invert, take
from ..sources.base import split_indices
from ..sources.targets import target_views
from .arrays import Arrays, _check_classes


def prepare_heads(spec, analysis, checked_targets, features) -> Arrays:
    """Load the data once for the inputs and once per further target, split every target
    by the same rows (stratified by the first classification target), fit each target's
    transforms on the train split; the targets packed as columns (``pack_targets``)."""
    views = target_views(spec.data)
    first = next(iter(views.values()))
    loaded = first.load(spec.seed)
    ys = {t: checked_targets(loaded.y if v is first else v.load(spec.seed).y, v, analysis.heads[t])
          for t, v in views.items()}
    strat = next((t for t, h in analysis.heads.items() if h.task == "classification"), None)
    rows = split_indices(ys[strat if strat else next(iter(ys))], spec.data.split, spec.seed,
                         spec.data.split.stratify and strat is not None)
    for t, view in views.items():
        if analysis.heads[t].task == "classification":
            try:
                _check_classes(take(ys[t], rows), analysis.heads[t].data.classes, view.class_names())
            except RunError as e:  # the split lacks a class of this target: named
                raise RunError(f"target `{t}`: {e}") from None
    xs, states, encoder, inputs = features(spec, analysis, loaded, rows)
    try:
        y, y_true, fitted = rt.prepare_targets(ys, rows, {t: h.task for t, h in analysis.heads.items()},
                                               {t: [s.step() for s in v.target_transforms] for t, v in views.items()})
    except FitError as e:
        t = e.group.split(".")[1]
        raise SpecError([spec._source.issue(("data", "targets", t, "transforms", e.index), "the statistic fitted on "
                         "the train split's targets is not finite (values too large); scale them",
                         views[t].target_transforms[e.index].type_name)]) from None
    return Arrays(xs, y, y_true, states, fitted, encoder, {t: v.class_names() for t, v in views.items()}, inputs)


def heads_loss(analysis, build_loss) -> rt.HeadsLoss:
    """Each head's loss as one target's (``build_loss``), weighted by loss_weights (default 1.0)."""
    weights = analysis.spec.loss_weights or {}
    return rt.HeadsLoss({t: build_loss(h) for t, h in analysis.heads.items()},
                        {t: weights.get(t, 1.0) for t in analysis.heads}, analysis.head_tuples())


def head_metrics(analysis, loss_fn, only: set | None = None) -> dict:
    """``<metric>[<target>]`` -> fn(y_true, y_pred) of every head (``only``: those named),
    each head's loss as ``loss[<target>]`` (the script's METRICS)."""
    heads, out = analysis.head_tuples(), {}
    for t, h in analysis.heads.items():
        out[f"loss[{t}]"] = rt.head_loss(loss_fn, t)
        for m in h.metrics:
            fn = m.function(h.kind, h.data.classes)
            out[f"{m.type_name}[{t}]"] = rt.head_metric(fn, t, heads)
    return {k: v for k, v in out.items() if only is None or k in only}


def head_predict(analysis, arrays, out, curves: bool = False):
    """Each head's predictions in its target's units (runtime/loop.py's, by Analysis.predictor)."""
    views, predictors = target_views(analysis.spec.data), {}
    for t, h in analysis.heads.items():
        name, args = h.predictor(curves)
        steps = [s.step() for s in views[t].target_transforms]
        predictors[t] = functools.partial(getattr(loop, name), **args, threshold=analysis.spec.train.threshold_of(t),
                                          invert=functools.partial(invert, steps=steps, fitted=arrays.target_states[t]))
    return rt.head_predictions(out, analysis.head_tuples(), predictors)


def by_target(analysis, test: dict) -> dict:
    """report.json's ``targets``: each target's test metrics and loss, nested by target."""
    return {t: {k[:-len(t) - 2]: v for k, v in test.items() if k.endswith(f"[{t}]")} for t in analysis.heads}
