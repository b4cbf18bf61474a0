"""Whole-spec checks: data -> input type, graph shapes, output vs target, loss,
metrics and monitors. What ``specdl check`` proves before any training."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..components.base import REGISTRY
from ..components.tensor import TT
from ..errors import Issue, ShapeError, SourceError, SpecError, did_you_mean
from ..sources.info import DataInfo, describe
from .graph import INPUT, Graph, build_graph
from .inputs import exclusive_issues, graph_sources, input_issues
from . import heads
from .heads import fitting_metrics as _fitting_metrics
from .score_checks import absent_class_warnings, head_absent_warnings, top_k_issues

# A multi-target regression reports each target's metrics up to this many targets
MAX_TARGETS = 16

DEFAULT_LOSS = {"classification": "cross_entropy", "regression": "mse", "multilabel": "bce_with_logits"}
DEFAULT_METRICS = {"classification": ["accuracy", "f1"], "regression": ["mse", "r2"],
                   "multilabel": ["accuracy", "f1"]}


@dataclass
class Analysis:
    """Everything settled about a spec before torch is touched."""

    spec: object
    data: DataInfo
    graph: Graph
    loss: object
    metrics: list
    monitor: str
    mode: str
    warnings: list[Issue] = field(default_factory=list)
    heads: dict | None = None  # several outputs (spec 12.7): target -> the head's own Analysis

    @property
    def task(self) -> str:
        return "several" if self.heads else self.data.task

    @property
    def binary(self) -> bool:
        """Two classes, one logit and bce_with_logits (check proved the output one logit)."""
        return self.task == "classification" and self.loss.type_name == "bce_with_logits"

    @property
    def kind(self) -> str:
        """What the model's output predicts: binary (one logit), classification (a logit
        per class), multilabel or regression."""
        return "binary" if self.binary else self.task

    @property
    def probability(self) -> str | None:
        """How the model's outputs become probabilities (runtime/loop.py's ``probabilities``):
        sigmoid (one logit, or a logit per label), exp (a final log_softmax), as_is (a final
        softmax), softmax (logits); None for regression."""
        if self.task in ("regression", "several"):  # several outputs: each head's own
            return None
        if self.binary or self.task == "multilabel":
            return "sigmoid"
        return {"log_softmax": "exp", "softmax": "as_is"}.get(self.graph.output.type, "softmax")

    @property
    def scored(self) -> bool:
        """Whether a metric reads the probabilities (roc_auc, pr_auc, log_loss, top_k_accuracy):
        the predictions then carry them (runtime/loop.py's ``scored_predictions``)."""
        return any(m.scores for m in self.metrics)

    def predictor(self, curves: bool = False) -> tuple[str, dict]:
        """runtime/loop.py's function that turns outputs into predictions and its arguments
        besides ``invert`` and ``threshold``: ``scored_predictions`` (the probabilities too)
        where a metric reads them, or (``curves``: build's test split, for roc.png and pr.png)
        on any classification head; else ``predictions``. Build, evaluate and the script call it."""
        if self.scored or (curves and self.probability is not None):
            return "scored_predictions", {"how": self.probability, "task": self.kind}
        return "predictions", {"task": self.kind}

    def metric_fns(self, only: set | None = None) -> dict:
        """The metrics (or just those in ``only``), name -> fn(y_true, y_pred), as build and
        evaluate call them (``Metric.code``: the same as the script's source)."""
        return {m.type_name: m.function(self.kind, self.data.classes) for m in self.metrics
                if only is None or m.type_name in only}

    def step_macs(self) -> int:
        """Multiply-adds of one training batch's forward pass (the static cost model)."""
        return sum(n.macs() for n in self.graph.nodes) * self.spec.train.batch_size

    def frozen(self) -> bool:
        """Whether some parameters are frozen (the optimizer then gets only the others)."""
        return self.has_layer(lambda n: n.layer.frozen())

    def has_layer(self, pred) -> bool:
        """Whether some node, inside blocks too, satisfies ``pred``."""
        def walk(g):
            return any(pred(n) or any(walk(s) for s in n.subgraphs) for n in g.nodes)
        return walk(self.graph)

    def watched_metrics(self) -> list[str]:
        """Metrics computed on the validation split every epoch: the monitored ones and
        the spec's first metric from predictions, for the curves (the loss always is; a
        score metric only where monitored; the full set is computed once, on the test split)."""
        es = self.spec.train.early_stopping
        names = {self.monitor} | ({es.monitor} if es else set())
        for t, h in (self.heads or {"": self}).items():  # several outputs: each head's loss and first metric
            at = f"[{t}]" if t else ""
            first = next((m for m in h.metrics if not m.scores), None)
            if self.spec.data.validates() and first is not None:
                names.add(f"val_{first.type_name}{at}")
            if t and self.spec.data.validates():
                names.add(f"val_loss{at}")
        return sorted(n[4:] for n in names if n.startswith("val_") and n != "val_loss")

    def epoch_form(self) -> str:
        """runtime/metrics.py's function giving a watched metric's per-epoch form:
        ``epoch_score`` where a score metric is watched (NumPy forms of roc_auc, pr_auc,
        log_loss), else ``epoch_metric``. Build and the script call it."""
        watched = {w.split("[")[0] for w in self.watched_metrics()}
        metrics = [m for h in self.heads.values() for m in h.metrics] if self.heads else self.metrics
        return "epoch_score" if any(m.scores and m.type_name in watched for m in metrics) else "epoch_metric"

    def head_tuples(self) -> list[tuple]:
        """Several outputs: each head as runtime/heads.py takes it, (target, kind, per-sample
        output shape, columns of its packed targets)."""
        import math

        return [(t, h.kind, tuple(h.graph.output.out.shape[1:]), math.prod(h.label_shape))
                for t, h in self.heads.items()]

    def target_names(self) -> list[str] | None:
        """The columns of a multi-target regression (2 to MAX_TARGETS values per sample),
        whose metrics are reported one by one besides their mean; None otherwise."""
        outputs = tuple(self.data.outputs or ())
        if self.task != "regression" or len(outputs) != 1 or not 2 <= outputs[0] <= MAX_TARGETS:
            return None
        names = self.data.target_names
        return list(names) if names and len(names) == outputs[0] else [str(j) for j in range(outputs[0])]

    def es_mode(self) -> str | None:
        es = self.spec.train.early_stopping
        if es is None:
            return None
        if es.mode != "auto" or self.heads:
            return heads.head_mode(es.monitor, es.mode, self.heads) if self.heads else es.mode
        return _mode(es.monitor, "auto", self.metrics)

    @property
    def label_shape(self) -> tuple:
        """The per-sample shape of the targets as the data holds them: a multilabel row of
        labels, the regression targets' shape (none where the model gives one value per
        sample), or none."""
        if self.task == "multilabel":
            return (self.data.classes,)
        if self.task == "regression" and self.target_shape != ():
            return tuple(self.data.outputs)
        return ()

    @property
    def target_shape(self) -> tuple:
        """Per-sample target shape the loss receives (empty for class indices)."""
        out = self.graph.output.out
        if self.task == "classification" and not self.binary:
            return ()
        return tuple(out.shape[1:])


def graph_blockers(spec) -> list[str]:
    """What keeps a spec's training step out of a CUDA graph, in words: ``check``
    rejects ``cuda_graphs: true`` with each, ``auto`` stays off."""
    tr, sched = spec.train, spec.scheduler
    found = []
    if tr.device in ("cpu", "mps"):
        found.append(f"train.device is {tr.device}, and CUDA graphs need a CUDA device")
    if tr.precision == "fp16":
        found.append("precision fp16's gradient scaler reads the GPU every step (bf16 has none)")
    if tr.compile:
        found.append("train.compile makes graphs of its own")
    if tr.accumulate > 1:
        found.append(f"train.accumulate {tr.accumulate} makes steps differ from batch to batch")
    if sched is not None and sched.every == "batch":
        found.append(f"scheduler {sched.type_name} changes the learning rate every batch")
    return found


def _mode(monitor: str, mode: str, metrics) -> str:
    if mode != "auto":
        return mode
    name = monitor.split("_", 1)[1] if "_" in monitor else monitor
    m = next((m for m in metrics if m.type_name == name), None)
    return "max" if m is not None and m.higher_is_better else "min"


def _metric_issues(spec, info, metrics, issues: list) -> list[str]:
    """Metrics that do not fit the task, and monitors of what is not computed (appended to
    ``issues``); the names a monitor may take."""
    src = spec._source
    for i, m in enumerate(spec.metrics or []):
        if info.task not in m.tasks:
            fit = _fitting_metrics(info.task, m.scores)
            issues.append(src.issue(("metrics", i), f"`{m.type_name}` is a {m.tasks[0]} metric; "
                                    f"this data is {info.task}: use {', '.join(fit)}", m.type_name))
    misfit = {f"val_{m.type_name}" for m in spec.metrics or [] if info.task not in m.tasks}
    names = ["val_loss", "train_loss"] + [f"val_{m.type_name}" for m in metrics if f"val_{m.type_name}" not in misfit]
    # a wrong metrics list is said once, at the metric: a monitor of any metric waits for that fix
    waiting = misfit | {f"val_{n}" for n, c in REGISTRY["metric"].items() if info.task in c.tasks} if misfit else set()
    ck = spec.train.checkpoint
    for where, mon in ((("train", "checkpoint", "monitor"), ck.monitor),
                       (("train", "early_stopping", "monitor"),
                        spec.train.early_stopping.monitor if spec.train.early_stopping else None)):
        if mon is not None and mon not in names and mon not in waiting:
            unlisted = mon[4:] if mon.startswith("val_") and spec.metrics is not None else None
            fits = unlisted in REGISTRY["metric"] and info.task in REGISTRY["metric"][unlisted].tasks
            issues.append(src.issue(where, f"cannot monitor `{mon}`: `{unlisted}` is not in `metrics`; add it "
                                    f"there, or monitor one of {', '.join(sorted(names))}" if fits else
                                    f"cannot monitor `{mon}`" + did_you_mean(mon, names)))
    return names


def _classes_read_as_regression(spec, info, loss, issues: list, warnings: list) -> None:
    """A target of a few integers (0/1) read as regression, with classification metrics:
    one error, at the loss where it is a classification loss too, else at the first such
    metric, saying `data.task: classification`; not one more per metric (edits in place)."""
    wrong = [(i, m.type_name) for i, m in enumerate(spec.metrics or []) if "regression" not in m.tasks]
    if info.task != "regression" or not info.hint or not wrong:
        return
    src, names = spec._source, ", ".join(f"`{n}`" for _, n in wrong)
    paths = {("metrics", i) for i, _ in wrong}
    issues[:] = [x for x in issues if tuple(x.path) not in paths]
    warnings[:] = [w for w in warnings if info.hint not in w.message]
    fits = ", ".join(sorted(n for n, c in REGISTRY["metric"].items() if "regression" in c.tasks))
    them = f"{names} {'is a classification metric' if len(wrong) == 1 else 'are classification metrics'}"
    at = next((k for k, x in enumerate(issues) if info.hint in x.message), None)
    if at is not None:  # the loss's error already names the hint: it names the metrics too
        old = issues[at]
        issues[at] = src.issue(tuple(old.path), f"`{loss.type_name}` is a classification loss and {them}, but the "
                               f"data was read as regression: {info.hint} (for regression: loss "
                               f"{DEFAULT_LOSS['regression']}, metrics {fits})", old.component)
        return
    issues.append(src.issue(("metrics", wrong[0][0]), f"{them}, but the data was read as regression: {info.hint} "
                            f"(for regression: metrics {fits})", wrong[0][1]))


def data_warnings(info, src) -> list[Issue]:
    """The source's warnings about its data (an id column, a wide category), located."""
    return [src.issue(("data", *field) if isinstance(field, tuple) else ("data", field), why, severity="warning")
            for field, why in info.warnings]


def analyze(spec, preflight: bool = False) -> Analysis:
    src = spec._source
    if getattr(spec.data, "targets", None) is not None:
        return _analyze_heads(spec)
    warnings: list[Issue] = []
    if issues := exclusive_issues(spec, src) + heads.single_target_issues(spec, src):
        raise SpecError(issues)
    try:
        info = describe(spec.data, spec.seed)
    except ShapeError as e:
        raise SpecError([src.issue(("data", e.group, e.index), str(e),
                                   getattr(spec.data, e.group)[e.index].type_name)]) from None
    except SourceError as e:
        where = ("data", *e.field) if isinstance(e.field, tuple) else ("data", e.field)
        at = e.field[1] if isinstance(e.field, tuple) and e.field[0] == "transforms" else None
        what = spec.data.transforms[at].type_name if at is not None else spec.data.source
        raise SpecError([src.issue(where, str(e), what)]) from None
    warnings += data_warnings(info, src)
    feat, sources = info.feat, graph_sources(info)
    if spec.model.input is not None and sources is None:
        if tuple(spec.model.input) != tuple(feat):
            issues.append(src.issue(("model", "input"), f"model.input {list(spec.model.input)} does "
                                    f"not match the data's per-sample shape {list(feat)}; "
                                    "leave it out to take it from the data"))
        feat = tuple(spec.model.input)
    graph = build_graph(spec.model.layers, sources or TT(("N", *feat), info.dtype), src)
    from .inferred import check as check_inferred

    issues += check_inferred(graph, src)
    issues += input_issues(spec, info, graph, src)
    issues += _token_issues(spec, graph, src)
    issues += _split_issues(spec, info, src)
    issues += _lone_batch_issues(spec, info, graph, src)

    loss = spec.loss or REGISTRY["loss"][DEFAULT_LOSS[info.task]]()
    metrics = spec.metrics or [REGISTRY["metric"][m]() for m in DEFAULT_METRICS[info.task]]
    issues += _target_issues(spec, info, graph, loss, warnings)
    issues += _threshold_issues(spec, info, loss)
    names = _metric_issues(spec, info, metrics, issues)
    issues += top_k_issues(spec, info, loss)
    _classes_read_as_regression(spec, info, loss, issues, warnings)
    if spec.train.channels_last is True and spec.train.distributed.strategy == "fsdp":
        issues.append(src.issue(("train", "channels_last"), "true cannot run with distributed.strategy: "
                                "fsdp (FSDP shards contiguous parameters only); use auto or false, or "
                                "strategy: ddp"))
    if spec.train.cuda_graphs is True:
        issues += [src.issue(("train", "cuda_graphs"), f"true cannot run here: {why}; use auto or false")
                   for why in graph_blockers(spec)]
    if not spec.data.validates():
        issues += _unvalidated_monitor_issues(spec, src, names)
    issues += _target_transform_issues(src, spec.data.target_transforms, info)
    warnings += layer_warnings(graph, src) + absent_class_warnings(spec, info, metrics)
    if spec.export.onnx or preflight:
        warnings += export_preflight(graph, src)
    if issues:
        raise SpecError(issues)
    ck = spec.train.checkpoint
    monitor = ck.monitor if spec.data.validates() else "train_loss"
    return Analysis(spec, info, graph, loss, metrics, monitor, _mode(monitor, ck.mode, metrics), warnings)


def _analyze_heads(spec) -> Analysis:
    """Several outputs (spec 12.7): the graph from the first target's view of the data, and
    each head proved against its target as one target's output is (front/heads.py)."""
    from .inferred import check as check_inferred

    src = spec._source
    issues = exclusive_issues(spec, src) + heads.structure_issues(spec, src)
    if issues:
        raise SpecError(issues)
    infos = heads.describe_targets(spec, src)
    first = next(iter(infos.values()))
    graph = build_graph(spec.model.layers, graph_sources(first) or TT(("N", *first.feat), first.dtype), src)
    issues += check_inferred(graph, src) + input_issues(spec, first, graph, src) + heads.head_issues(spec, graph, src)
    if issues:
        raise SpecError(issues)
    warnings, parts = data_warnings(first, src), {}  # the data's, the same in every target's view
    for t, info in infos.items():
        view = heads.HeadGraph(graph.input, graph.nodes, graph.sources, spec.model.outputs[t])
        parts[t] = _head_analysis(spec, t, info, view, issues, warnings)
    for t, found in head_absent_warnings(spec, infos).items():  # a class a split lacks, per head
        warnings += heads.prefixed(found, spec.model.outputs[t], t)
    issues += heads.monitor_issues(spec, parts, src) + _split_issues(spec, first, src)
    issues += heads.threshold_issues(spec, parts, src)
    if spec.export.onnx:  # one named output per head
        warnings += export_preflight(graph, src)
    if not spec.data.validates():
        issues += _unvalidated_monitor_issues(spec, src, heads.monitor_names(parts))
    if issues:
        raise SpecError(issues)
    ck = spec.train.checkpoint
    monitor = ck.monitor if spec.data.validates() else "train_loss"
    one = next(iter(parts.values()))
    return Analysis(spec, first, graph, one.loss, one.metrics, monitor, heads.head_mode(monitor, ck.mode, parts),
                    warnings + layer_warnings(graph, src), heads=parts)


def _head_analysis(spec, t: str, info, view, issues: list, warnings: list) -> Analysis:
    """One head's Analysis, its problems (each naming the head and the target) added to ``issues``."""
    src = spec._source
    loss = (spec.loss or {}).get(t) or REGISTRY["loss"][DEFAULT_LOSS[info.task]]()
    metrics = (spec.metrics or {}).get(t) or [REGISTRY["metric"][m]() for m in DEFAULT_METRICS[info.task]]
    warned: list[Issue] = []
    found = _target_issues(spec, info, view, loss, warned,
                           (t in (spec.loss or {}), ("loss", t), ("data", "targets", t)))
    found += heads.metric_issues(spec, t, info, metrics, src) + heads.classes_issues(spec, t, info, src)
    found += top_k_issues(spec, info, loss, (spec.metrics or {}).get(t, []), ("metrics", t))
    found += _target_transform_issues(src, getattr(spec.data.targets[t], "transforms", []), info,
                                      ("data", "targets", t, "transforms"))
    issues += heads.prefixed(found, view.head, t)
    warnings += heads.prefixed(warned, view.head, t)
    return Analysis(spec, info, view, loss, metrics, "", "min")


def _unvalidated_monitor_issues(spec, src, names) -> list[Issue]:
    """Without a validation split, a monitor the spec names must be train_loss (the
    checkpoint's default monitor, val_loss, then falls back to train_loss). A monitor not
    in ``names`` is already its own error."""
    ck, es = spec.train.checkpoint, spec.train.early_stopping
    named = [mon for mon, given in ((ck.monitor, "monitor" in ck.model_fields_set),
                                    (es.monitor if es else None, es is not None)) if given]
    val = next((mon for mon in named if mon.startswith("val_") and mon in names), None)
    if val is None:
        return []
    where, what = spec.data.validation_missing()
    return [src.issue(where, f"monitoring `{val}` needs {what}; or monitor train_loss")]


def _target_transform_issues(src, transforms: list, info: DataInfo,
                             at: tuple = ("data", "target_transforms")) -> list[Issue]:
    """Target transforms (``at``: one target's, or a named target's of several outputs):
    regression only, and invertible (metrics are in the data's units)."""
    issues = []
    for j, t in enumerate(transforms):
        if info.task != "regression":
            issues.append(src.issue((*at, j), "target transforms apply to regression targets; this data is "
                                    f"{info.task}: remove it", t.type_name))
        elif not t.invertible:
            issues.append(src.issue((*at, j), "a target transform must be invertible (standardize or minmax)",
                                    t.type_name))
    return issues


def split_sizes(n: int, split) -> dict:
    """The samples in each split of ``n`` rows, as scikit-learn's train_test_split draws
    them (``splits.split_rows``: first test, then val of the rest); val None without one."""
    import math

    n_test = math.ceil(split.test * n) if split.test > 0 else 0
    n_val = math.ceil(split.val / (1.0 - split.test) * (n - n_test)) if split.val > 0 else None
    return {"train": n - n_test - (n_val or 0), "val": n_val, "test": n_test}


def _split_issues(spec, info, src) -> list[Issue]:
    """Where the number of samples is known, every split must be able to hold a sample
    of every class when stratified (scikit-learn refuses otherwise, at build time)."""
    split, n = spec.data.held_out(), spec.data.sample_count()
    if n is None or info.task != "classification" or not split.stratify or not split.test:
        return []
    sizes = split_sizes(n, split)
    small = [(k, v) for k, v in sizes.items() if v is not None and v < (info.classes or 0)]
    if not small:
        return []
    which, size = small[0]
    return [src.issue(("data", "split"), f"with {n} samples, the {which} split holds {size}, fewer than the "
                      f"{info.classes} classes a stratified split needs one of each of; raise "
                      f"{'test' if which == 'test' else 'val' if which == 'val' else 'the data size'}, "
                      "or set stratify: false")]


def lone_batch(graph, n_train: int, batch_size: int) -> str | None:
    """Batch normalisation in training needs more than one value per channel: a training
    batch of one sample (batch_size 1, or a last batch of one) fails on a batch norm
    that sees no spatial positions ([N, C], or 1 x 1 maps). What to change, or None."""
    last = n_train % batch_size or batch_size
    if batch_size > 1 and last != 1:
        return None

    def lone(n):
        return n.type.startswith("batchnorm") and all(d == 1 for d in n.out.shape[2:])

    def walk(g):
        for n in g.nodes:
            if lone(n):
                return n
            found = next((f for sub in n.subgraphs if (f := walk(sub)) is not None), None)
            if found is not None:
                return found
        return None

    node = walk(graph)
    if node is None:
        return None
    what = "every training batch holds one sample" if batch_size == 1 else \
        f"the last training batch holds one sample ({n_train} training samples in batches of {batch_size})"
    return (f"{what}, and {node.name} ({node.type}) cannot normalise a batch of one in training; use "
            f"another train.batch_size (not 1, nor a divisor of {n_train - 1})")


def _lone_batch_issues(spec, info, graph, src) -> list[Issue]:
    """``lone_batch`` where the train split's size is known without reading data."""
    n = spec.data.sample_count()
    if n is None:
        return []
    why = lone_batch(graph, split_sizes(n, spec.data.held_out())["train"], spec.train.batch_size)
    return [src.issue(("train", "batch_size"), why)] if why else []


def _token_issues(spec, graph, src) -> list[Issue]:
    """An embedding fed the input directly must cover every token id the data holds."""
    embeddings = [n for n in graph.nodes if n.type == "embedding" and INPUT in n.inputs]
    if not embeddings:
        return []
    top = spec.data.known_max_token()
    return [src.issue(n.path + ("num_embeddings",), f"the data holds token ids up to {top}, but "
                      f"num_embeddings is {n.layer.num_embeddings}; use {top + 1} or more", "embedding")
            for n in embeddings if top is not None and top >= n.layer.num_embeddings]


def layer_warnings(graph, src) -> list[Issue]:
    """Each layer's `check_warning` (a block's layers once, at their first call)."""
    out = []

    def walk(g):
        for n in g.nodes:
            why = n.layer.check_warning()
            if why:
                out.append(src.issue(n.path, why, n.type, severity="warning"))
            for sub in n.subgraphs[:1]:
                walk(sub)
    walk(graph)
    return out


def export_preflight(graph, src) -> list[Issue]:
    """Section 10: layers whose ONNX export is doubtful, reported before training. Every
    built-in layer exports (tests/test_export.py exports every bundled spec); a user
    module cannot be vouched for, so it is a warning."""
    out = []

    def walk(g):
        for n in g.nodes:
            why = n.layer.export_issue()
            if why:
                out.append(src.issue(n.path, f"ONNX export: {why}", n.type, severity="warning"))
            for sub in n.subgraphs[:1]:
                walk(sub)
    walk(graph)
    return out


def _target_issues(spec, info: DataInfo, graph: Graph, loss, warnings, at=None) -> list[Issue]:
    """Section 10: the model's output must be what the loss needs for this data (``at``:
    where the loss and the target stand, a head's of several outputs; default one target's)."""
    src, out, last = spec._source, graph.output.out, graph.output
    given, at, target_at = at or (spec.loss is not None, ("loss",), ("data", "target"))
    lpath = at if given else last.path
    issues = []
    binary = info.task == "classification" and loss.type_name == "bce_with_logits"
    if loss.task != info.task and not binary:
        what = "binary (one logit) or multilabel" if loss.type_name == "bce_with_logits" else loss.task
        issues.append(src.issue(lpath, f"`{loss.type_name}` is a {what} loss, but the data is "
                                f"{info.task}; use {DEFAULT_LOSS[info.task]}"
                                + (f" (or: {info.hint})" if info.hint else ""), loss.type_name))
        return issues
    if binary:
        issues += _binary_issues(src, info, last, loss, lpath)
    elif info.task in ("classification", "multilabel"):
        want = ("N", info.classes)
        what = f"{info.classes} classes" if info.task == "classification" else f"{info.classes} labels"
        if tuple(out.shape) != want:
            one = " (or, for one logit, loss: bce_with_logits)" if info.classes == 2 else ""
            fix = _extra_dims(out, 2) or f"make the last layer give {info.classes} features{one}"
            fix += "".join(f"; {why}" for field, why in info.warnings if field == "target")  # `Yes` and `yes`
            issues.append(src.issue(last.path, f"the model's output is {out}, but the data has {what}, "
                                    f"so {loss.type_name} needs [N, {info.classes}]; {fix}", last.type))
    else:
        t = tuple(info.outputs)
        ok = tuple(out.shape) == ("N", *t) or (t == (1,) and tuple(out.shape) == ("N",))
        if not ok:
            want = "[N, " + ", ".join(map(str, t)) + "]"
            what = (f"{t[0]} regression target{'s' if t[0] != 1 else ''}" if len(t) == 1 else
                    f"regression targets of shape [{', '.join(map(str, t))}]")
            fix = _extra_dims(out, 1 + len(t)) or (
                f"make the last layer give {t[0]} feature{'s' if t[0] != 1 else ''}" if len(t) == 1
                else f"make the model end in {want}")
            issues.append(src.issue(last.path, f"the model's output is {out}, but the data has {what}, "
                                    f"so {loss.type_name} needs {want}; {fix}"
                                    + (f" (or: {info.hint})" if info.hint else ""), last.type))
        elif info.hint:
            warnings.append(src.issue(target_at, f"read as regression: {info.hint}", severity="warning"))
    for key in ("weight", "pos_weight"):
        w = getattr(loss, key, None)
        one_for_all = key == "pos_weight" and w is not None and len(w) == 1  # broadcast to every label
        if w is not None and not one_for_all and len(w) != (1 if binary else info.classes) and not (binary and issues):
            what = ("one logit (the positive class's weight)" if binary else
                    f"{info.classes} {'classes' if info.task == 'classification' else 'labels'}")
            issues.append(src.issue((*at, key), f"{key} gives {len(w)} values; the data has {what}",
                                    loss.type_name))
    if out.dtype != "float32":
        issues.append(src.issue(last.path, f"the model's output is {out.dtype}; a loss needs float",
                                last.type))
    if loss.wants == "log_probs" and last.type != "log_softmax":
        warnings.append(src.issue(last.path, f"{loss.type_name} expects log-probabilities; end the "
                                  "model with log_softmax: {dim: 1}, or use cross_entropy on raw "
                                  "logits", last.type, severity="warning"))
    if loss.wants == "logits" and last.type in ("softmax", "log_softmax", "sigmoid"):
        warnings.append(src.issue(last.path, f"{loss.type_name} expects raw logits and applies "
                                  f"its own normalisation; drop the final {last.type}", last.type,
                                  severity="warning"))
    return issues


def _binary_issues(src, info: DataInfo, last, loss, lpath) -> list[Issue]:
    """bce_with_logits on classes: two classes, and one logit ([N, 1] or [N]) for the second."""
    out = last.out
    if info.classes != 2:
        return [src.issue(lpath, f"`{loss.type_name}` on classes takes two classes and one logit (binary); "
                          f"the data has {info.classes} classes: use cross_entropy with [N, {info.classes}] "
                          "(or data.task: multilabel for 0/1 label columns)", loss.type_name)]
    if tuple(out.shape) not in (("N", 1), ("N",)):
        fix = _extra_dims(out, 2) or "make the last layer give 1 feature (or use cross_entropy with [N, 2])"
        return [src.issue(last.path, f"the model's output is {out}, but two classes with {loss.type_name} "
                          f"need one logit, [N, 1] or [N]; {fix}", last.type)]
    return []


def _extra_dims(out, rank: int) -> str:
    """The fix when the output keeps dimensions the target lacks (a forgotten flatten or pooling)."""
    extra = len(out.shape) - rank
    if extra <= 0:
        return ""
    pool = {3: " (adaptive_avgpool1d: 1; for a sequence [N, T, F], select or a recurrent layer's "
                "output: last)", 4: " (adaptive_avgpool2d: 1, then flatten)"}.get(len(out.shape), "")
    return (f"it has {extra} dimension{'s' if extra > 1 else ''} too many: flatten before the last linear "
            f"layer (linear acts on the last dimension only), or pool first{pool}")


def _threshold_issues(spec, info: DataInfo, loss) -> list[Issue]:
    """train.threshold turns probabilities into labels: one-logit binary and multilabel only."""
    if "threshold" not in spec.train.model_fields_set:
        return []
    if info.task == "multilabel" or (info.task == "classification" and loss.type_name == "bce_with_logits"):
        return []
    what = f"{info.classes} classes with {loss.type_name}" if info.task == "classification" else info.task
    return [spec._source.issue(("train", "threshold"), "a threshold applies to binary classification (one "
                               f"logit, bce_with_logits) and multilabel data; this spec is {what}")]
