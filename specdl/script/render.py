"""Analysis -> a standalone, readable PyTorch script (Jinja, StrictUndefined).

Every expression in the script comes from the same registry entries that ``build``
uses (``Call.code`` beside ``Call.__call__``), so the two cannot drift.

One escaping path: every ``{{ }}`` of the template passes Jinja's ``finalize``
(``emit``), which lets through only ``Code`` (source that specdl's emitters wrote,
values in it rendered by ``literal``), numbers, booleans and plain words. Values go
through the ``lit`` filter (a Python literal), docstrings and comments through ``doc``.
After rendering, ``codeguard.guard`` checks every identifier of the script's syntax tree.
"""

from __future__ import annotations

import ast
import functools
import itertools
import json
import re
import sys

from ..components.call import Call, Name, literal
from ..files import templates_dir
from ..front.plan import dtypes, plan

OPTIONAL_IMPORTS = ["import functools", "import gc", "import itertools", "import json", "import math", "import os",
               "import re", "import warnings", "from collections import Counter", "from contextlib import nullcontext", "from dataclasses import dataclass",
               "from torch.utils.tensorboard import SummaryWriter"]
BASE_IMPORTS = ["import numpy as np", "import torch", "from sklearn import metrics", "from torch import nn"]


def sort_imports(lines) -> list[str]:
    """Merge ``from m import a`` lines per module and order them as isort does."""
    plain, froms = set(), {}
    for line in lines:
        if line.startswith("from "):
            mod, _, names = line[5:].partition(" import ")
            froms.setdefault(mod, set()).update(n.strip() for n in names.split(","))
        else:
            plain.add(line)
    return sorted(plain, key=lambda s: s.split()[1]) + [
        f"from {m} import {', '.join(sorted(ns))}" for m, ns in sorted(froms.items())]


class Code(str):
    """Python source written by specdl's own emitters (a Call's code, an expression, a
    line), with every value in it rendered by ``literal``."""


_WORD = re.compile(r"[A-Za-z0-9_.\-]*| *")  # what may be printed bare: names, numbers, indents


def emit(v) -> str:
    """Jinja's ``finalize``: the one gate between a value and the script."""
    if isinstance(v, Code):
        return v
    if v is None or isinstance(v, (bool, int, float)):
        return literal(v)
    if isinstance(v, str) and _WORD.fullmatch(v):
        return v
    from .codeguard import UnsafeCode

    raise UnsafeCode(f"internal error: {str(v)[:60]!r} would reach the generated script unescaped; "
                     "codegen stopped")


def comment_safe(text: str) -> str:
    """Text for a docstring or comment: anything that could end one (quotes, backslashes,
    line breaks) or that is not plain printable ASCII becomes ?."""
    return re.sub(r"[^A-Za-z0-9_./ ,=()\[\]:*+`<>-]", "?", str(text))[:200]


def _doc(text) -> Code:
    return Code(comment_safe(text))


def _indent(text, width: int = 4, first: bool = False):
    import jinja2.filters

    out = jinja2.filters.do_indent(text, width, first)
    return Code(out) if isinstance(text, Code) else out


@functools.cache
def _env():
    """The one Jinja environment (it keeps each template compiled; a template edited on disk
    is compiled again, as jinja2's auto_reload checks its time)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True, finalize=emit)
    # `rendered` marks a macro's output: template text whose every {{ }} passed emit already
    env.filters.update(lit=lambda v: Code(literal(v)), doc=_doc, indent=_indent, rendered=Code)
    return env


def context(a, spec_path: str | None = None, distributed: bool = False) -> dict:
    """Everything the template reads, for an analysed spec."""
    spec = a.spec
    if distributed and (spec.data.file_backed or getattr(spec.data, "image_inputs", list)()):
        from ..errors import RunError

        raise RunError("codegen --distributed supports in-memory data sources in this version")
    ctx = {"name": spec.name, "seed": spec.seed, "task": a.task, "distributed": distributed,
           "spec_path": comment_safe(spec_path or getattr(spec._source, "file", "spec.yaml")),
           **_model_context(a), **_data_context(a), **_training_context(a, distributed)}
    ctx["predict"] = _predict(a, ctx["invert"])
    ctx.update(_heads_context(a, ctx))
    return _runtime(ctx)


def _heads_context(a, ctx: dict) -> dict:
    """Several outputs (spec 12.7, script/heads.py): their data section, loss, predictions and
    metrics in place of one target's; for one target, the switches that keep its script as it is."""
    if not a.heads:
        return {"heads_settings": [], "record_fn": "preprocess_record", "metric_lambda": Code("lambda y_true, y_pred: "),
                "watched_code": Code(literal(a.watched_metrics()))}
    from .heads import heads_data, heads_training

    data, training = heads_data(a), heads_training(a)
    names = data.pop("data_facts_names")
    facts = {"class_names": names, "facts": a.spec.data.saved_facts(a.spec.seed)}
    settings = ["# each output: (its target, what it predicts, its per-sample shape, its columns of the packed targets)",
                f"HEADS = {literal(a.head_tuples())}"]
    return {**data, **training, "heads_settings": [Code(x) for x in settings], "record_fn": "heads_record",
            "task": "several-output", "data_facts": json_lines(facts), "y_fitted": Code("y_fitted"), "invert": None,
            "predict": Code(training["predict"]), "metric_lambda": Code(""),
            "run_model": _run_model(a.spec.train.compile, ctx["distributed"], _fsdp(a, ctx["distributed"]), "Joined({})"),
            "watched_code": Code(training["watched_code"]),
            "split_lines": [Code(x) for x in data.pop("heads_split")], "targets_template": "data/heads_targets.py.j2",
            "heads_targets": [Code(x) for x in data["heads_targets"]]}


def _predict(a, invert) -> Code:
    """The script's ``predict``: runtime/loop.py's ``predictions`` with the spec's values, or
    ``scored_predictions`` (the probabilities too) where a metric reads the probabilities."""
    name, args = a.predictor()
    return Code(Call("functools.partial", (Name(name),),
                     {**args, "invert": invert and Name(invert), "threshold": a.spec.train.threshold}).code(width=1000))


def _runtime(ctx: dict) -> dict:
    """The runtime functions the script reads (``needed`` over the catalogue, from the
    script rendered without them), and the imports that it and they read."""
    from .runtime_source import free_names, names_read, needed, source

    first = _env().get_template("train.py.j2").render(**_as_code({**ctx, "imports": []}))
    reads = names_read(first)
    ctx["runtime_refs"] = needed(reads, catalogue())
    functions = [source(m, n) for m, n in ctx["runtime_refs"]]
    ctx["runtime"] = [*ctx["runtime"], *functions]
    return _imports(ctx, reads.union(*map(free_names, functions)))


def _model_context(a) -> dict:
    from .codeguard import script_names
    from .modelcode import ModelWriter

    writer = ModelWriter(definitions=dict(a.spec.model.blocks), reserved=script_names())
    classes = [{**c, "init": [Code(ln) for ln in c["init"]], "forward": [Code(ln) for ln in c["forward"]],
                "input_shape": Code(c["input_shape"]), "args": Code(c["args"])}
               for c in writer.model(a.graph, tuple(a.spec.model.outputs[t] for t in a.heads or ()))]
    return {"modules": classes, "runtime": [], "spec_names": writer.spec_names, "needs": sorted(writer.needs)}


def _data_context(a) -> dict:
    data = a.spec.data
    imports, load = data.code()
    names = data.class_names()  # as build saves them (data.py)
    template = {True: getattr(data, "named_template", NAMED_TEMPLATE)}.get(a.graph.named, data.script_template)  # named inputs: their own section
    ctx = {
        "data_imports": imports, "load_lines": load, "file_backed": data.file_backed,
        "data_template": template, "categorical": bool(getattr(data, "categorical", None)),
        "test": data.held_out().test, "val": data.held_out().val, "validates": data.validates(),
        "stratify": data.split.stratify and a.task == "classification",
        "fits": not data.file_backed and bool(data.transforms or data.target_transforms or getattr(data, "categorical", None)),
        "data_facts": json_lines({"class_names": names, "facts": data.saved_facts(a.spec.seed)}),
    }
    ctx.update(data_section(template)(a, data, ctx["stratify"]))
    return {**ctx, **_record_context(ctx), **_split_context(a, ctx)}


def _split_context(a, ctx: dict) -> dict:
    """An in-memory data section's targets as training reads them and its split (several
    outputs: script/heads.py's lines in place of these)."""
    split = (f"rows = split_rows(y, val={literal(ctx['val'])}, test={literal(ctx['test'])}, seed=SEED, "
             f"stratify={literal(ctx['stratify'])})")
    return {"split_lines": [Code(f"y = targets(y, {literal(a.task)}, {literal(a.label_shape)})"), Code(split)],
            "targets_template": "data/targets.py.j2"}


def data_section(template: str):
    """What a data section's template reads (templates/data/, the source's script_template),
    as a function of (analysis, source, stratify)."""
    return {"data/in_memory.py.j2": _memory_context, "data/images.py.j2": _loader_context,
            "data/image_cache.py.j2": _cache_context, NAMED_TEMPLATE: _named_context,
            "data/named_images.py.j2": _named_images_context}[template]


NAMED_TEMPLATE = "data/named.py.j2"  # the data section of named inputs in memory (spec 12.1)


def _memory_context(a, data, stratify: bool) -> dict:
    """Data in memory: the dtypes (the run plan's, as build reads them), the transforms."""
    dt = dtypes(a)
    return {"x_dtype": dt.read, "x_torch": Code(f"torch.{dt.input}"), "y_torch": Code(f"torch.{dt.target}"),
            "target_shape": Code(literal(a.label_shape)), "transforms": [t.step_code() for t in data.transforms],
            "target_transforms": [t.step_code() for t in data.target_transforms], "chunks": Code("chunks")}


def _named_context(a, data, stratify: bool) -> dict:
    """Named inputs in memory: as one input's, each input's torch dtype (int64 ids stay int64,
    floats become float32), evaluation chunks sliced from the Inputs (runtime/inputs.py)."""
    dtypes_code = "{" + ", ".join(f"{literal(i.name)}: torch.{i.dtype}" for i in a.data.inputs) + "}"
    return {**_memory_context(a, data, stratify), "input_dtypes": Code(dtypes_code), "chunks": Code("Inputs.chunks"),
            "fit_lines": [Code(line) for line in data.fit_code()],
            "record_lines": [Code(line) for line in data.record_code()]}


def _named_images_context(a, data, stratify: bool) -> dict:
    """Named inputs with a CSV's image inputs (spec 12.5): as in memory, and each image
    input's train and eval pipelines, read per sample by DataLoaders (``num_workers``)."""
    names = data.image_inputs()
    pipelines = [{**_pipeline("", data.inputs[n].pipeline(train=split == "train"), note),
                  "name": Code(f"IMAGE_TF[{literal(n)}, {literal(split)}]")}
                 for n in names for split, note in (("train", "augmentation first"), ("eval", "no augmentation"))]
    return {**_named_context(a, data, stratify), "pipelines": pipelines, "image_names": Code(literal(names)),
            "num_workers": a.spec.train.num_workers}


def _loader_context(a, data, stratify: bool) -> dict:
    """Image files read per sample by DataLoaders (``num_workers`` processes), from the
    data sets the source's lines make."""
    return {"image_lines": [Code(ln) for ln in data.script_lines(stratify)], "num_workers": a.spec.train.num_workers,
            "pipelines": [_pipeline("train_tf", data.pipeline(train=True), "augmentation first"),
                          _pipeline("eval_tf", data.pipeline(train=False), "no augmentation")]}


def _record_context(ctx: dict) -> dict:
    """What the script's preprocess record is made of, and the comment over its data section."""
    transforms, targets = bool(ctx.get("transforms")), bool(ctx.get("target_transforms"))
    steps = ["load", f"split (seeded{', stratified' * ctx['stratify']})",
             *["fit the transforms on the train split"] * ctx["fits"]]
    return {"fitted": Code("x_fitted" if transforms else "[]"), "y_fitted": Code("y_fitted" if targets else "[]"),
            "encoder": Code("encoder" if ctx["categorical"] else "None"), "data_steps": Code(", ".join(steps)),
            "invert": Code("invert_targets") if targets else None}


def json_lines(value, width: int = 100) -> list[str]:
    """A value as JSON text in Python string literals of at most ``width`` characters, one
    a line (implicit concatenation: the script reads it with ``json.loads``)."""
    text, out = json.dumps(value), []
    while text:
        n = min(len(text), width - 2)
        while len(literal(text[:n])) > width:
            n -= 1
        out.append(literal(text[:n]))
        text = text[n:]
    return out


def _cache_context(a, data, stratify: bool) -> dict:
    """An image folder read through the uint8 cache: its folders and split, the steps
    before the cache of the train and the eval splits, the batched augmentation
    (functools.partial of specdl/runtime/images.py's functions), the steps run on each batch."""
    (pre_t, aug, post_t), (pre_e, _, post_e) = data.cache_plan(True), data.cache_plan(False)
    augment = [Code(Call("functools.partial", (Name(fn),), kw).code(width=1000)) for fn, kw in aug]
    return {"folders": Code(literal(data.folders())), "split": Code(data.split_call(stratify)), "pipelines": [
        _pipeline("pre_train", pre_t, "before the cache (once per image): decoding and the deterministic uint8 steps"),
        _pipeline("pre_eval", pre_e, "the same for val and test: no augmentation comes first there"),
        {"name": "augment", "open": Code("["), "close": Code("]"), "calls": augment,
         "note": _doc("the random steps, on each training batch (drawing from the shuffle generator)")},
        _pipeline("post_train", post_t, "after augmentation, on each training batch"),
        _pipeline("post_eval", post_e, "on each evaluation chunk")]}


def _pipeline(name: str, calls, note: str) -> dict:
    """A torchvision v2.Compose of ``calls`` (Calls), assigned to ``name`` in the script."""
    return {"name": name, "open": Code("v2.Compose(["), "close": Code("])"), "calls": [Code(c.code()) for c in calls],
            "note": _doc(note)}


def _training_context(a, distributed: bool = False) -> dict:
    """The training settings, from the run plans: threads (the same on every device),
    oneDNN and channels-last as on the CPU (the script applies them there), CUDA_GRAPHS
    as on CUDA (``_graphs_context``)."""
    spec, tr, sched, es, cpu = a.spec, a.spec.train, a.spec.scheduler, a.spec.train.early_stopping, plan(a, "cpu")
    sharded = _fsdp(a, distributed)
    params = "[p for p in model.parameters() if p.requires_grad]" if a.frozen() else "model.parameters()"
    return {
        "kind": a.kind, "threshold": tr.threshold, "by_target": _by_target(a.target_names()),
        "loss_code": f"binary_loss({a.loss.ctor().code()})" if a.binary else a.loss.ctor().code(), "optimizer_code": spec.optimizer.ctor().code(params),
        "scheduler_code": sched.ctor(tr.epochs, Name("math.ceil(N_BATCHES / ACCUMULATE)"), a.mode).code("optimizer")
        if sched else "None",
        "scheduler_every": sched.every if sched else None,
        "metrics": [(m.type_name, m.code(a.kind, a.data.classes)) for m in a.metrics],
        "monitor": a.monitor, "mode": a.mode, "watched": a.watched_metrics(), "epoch_form": a.epoch_form(),
        "early": (es.monitor, a.es_mode(), es.patience, es.min_delta) if es else None, "epochs": tr.epochs, "batch_size": cpu.batch_size,
        "eval_batch_size": cpu.eval_chunk,
        "accumulate": tr.accumulate, "grad_clip": tr.grad_clip, "precision": tr.precision, "compile": tr.compile,
        "tensorboard": tr.tensorboard, "export_onnx": spec.export.onnx, "onnx": onnx_export(a, sharded),
        "deterministic": tr.deterministic,
        **_graphs_context(a, distributed),
        "threads": cpu.threads, "onednn": cpu.onednn, "device": _device(tr.device),
        "run_model": _run_model(tr.compile, distributed, sharded), **WEIGHTS[sharded],
        "ranks": Code("start_ranks(DEVICE)" if distributed else "0, 1, DEVICE"),
        # on the CPU only (auto); True/False as the spec says
        "channels_last": _channels_last("cpu" if tr.channels_last == "auto" and cpu.channels_last
                                        else tr.channels_last is True, sharded),
    }


# The best epoch's weights kept, and loaded back for the test: copies of the state dict; under
# FSDP (--distributed, strategy fsdp) the full weights, gathered from the ranks (runtime/settings.py)
WEIGHTS = {
    False: {"keep_best": Code("{k: v.detach().clone() for k, v in model.state_dict().items()}"),
            "load_best": Code("model.load_state_dict(best_state)")},
    True: {"keep_best": Code("full_weights(model, sharded=WORLD > 1)  # gathered from the ranks"),
           "load_best": Code("load_full_weights(model, best_state, sharded=WORLD > 1)")},
}


def _channels_last(value, sharded: bool):
    """The script's channels_last: as the plan says; under FSDP (``sharded``) only where
    the script runs as one process (FSDP shards contiguous parameters only)."""
    return Name(f"{literal(value)} if WORLD == 1 else False") if sharded and value else value


# The script's ONNX export of one input, or of named inputs (a graph input each): the values
# of one statement's parts (OUTPUTS: the graph's output names, ``onnx_export``'s)
ONNX_EXPORT = {
    False: {"what": Code(""), "example": Code("next(test_chunks())[:2].cpu()"), "args": Code("(example,)"),
            "names": Code('input_names=["input"], output_names=OUTPUTS,'),
            "shapes": Code('dynamic_shapes=({0: torch.export.Dim("batch")},)')},
    True: {"what": Code(", one graph input per named input"), "example": Code('next(test_chunks())[:2].to("cpu").tensors'),
           "args": Code("()"), "names": Code("kwargs=example, input_names=list(example),"),
           "shapes": Code('output_names=OUTPUTS, dynamic_shapes={k: {0: torch.export.Dim("batch")} for k in example}')},
}


def onnx_export(a, sharded: bool = False) -> dict:
    """ONNX_EXPORT's parts for the analysis ``a``: one output, ``output``; several outputs:
    one per head, named by its target (as build's export.onnx). ``sharded`` (FSDP): the
    model exported is a plain one holding the best weights."""
    parts = ONNX_EXPORT[a.graph.named]
    outputs = json.dumps(list(a.heads or ["output"]))
    what = Code(f"{parts['what']}, one named output per head") if a.heads else parts["what"]
    model = Code("load_full_weights(Model(), best_state)" if sharded else "model")
    return {**parts, "what": what, "model": model,
            **{k: Code(str(parts[k]).replace("OUTPUTS", outputs)) for k in ("names", "shapes")}}


def _run_model(compiled: bool, distributed: bool, sharded: bool = False, wrap: str = "{}") -> Code:
    """The model as training runs it (``wrap``: several outputs' ``Joined({})``), compiled
    (train.compile), data-parallel (--distributed): DDP, or under FSDP (``sharded``) the
    model sharded in place under torchrun (``shard(model) if WORLD > 1 else model``)."""
    def run(model: str) -> str:
        model = wrap.format(model)
        return Call("torch.compile", (Name(model),)).code() if compiled else model

    if sharded:
        return Code(f"{run('shard(model)')} if WORLD > 1 else {run('model')}")
    return Code(Call("data_parallel", (Name(run("model")), Name("DEVICE"), Name("WORLD"))).code() if distributed
                else run("model"))


def _fsdp(a, distributed: bool) -> bool:
    """--distributed with train.distributed.strategy fsdp: the script shards the model
    under torchrun as build does (runtime/settings.py's ``shard``)."""
    return distributed and a.spec.train.distributed.strategy == "fsdp"


def _by_target(names) -> Code | None:
    """test_best's ``by_target``: each target's metrics, in a multi-target regression."""
    if names is None:
        return None
    return Code(Call("functools.partial", (Name("per_target"), Name("METRICS")), {"names": names}).code(width=1000))


def _device(name: str) -> Code:
    """train.device as the argument of the script's torch.device(...)."""
    auto = '"cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"'
    return Code(auto if name == "auto" else literal(name))


def _graphs_context(a, distributed: bool) -> dict:
    """CUDA_GRAPHS as the run plan decides it (``front.plan``), on the script's DEVICE."""
    asked = a.spec.train.cuda_graphs
    if asked != "auto":
        value, why = asked, "train.cuda_graphs: as the spec says"
    elif distributed or not plan(a, "cuda").cuda_graphs:
        value, why = False, "auto: off for this spec (docs/performance.md)"
    else:
        value, why = "cuda", "auto: on CUDA, where this step is launch-bound"
    return {"cuda_graphs": value, "cuda_graphs_why": Code(why)}


def _imports(ctx: dict, reads: set) -> dict:
    """The script's imports that bind a name it ``reads``, in isort's sections (the
    standard library's, then the others) and order."""
    every = [*BASE_IMPORTS, *OPTIONAL_IMPORTS, *ctx["data_imports"], *ctx["needs"]]
    kept = sorted(sort_imports(i for i in every if _bound(i) & reads), key=_third_party)  # stable: isort's order
    ctx["imports"] = [list(section) for _, section in itertools.groupby(kept, key=_third_party)]
    return ctx


def _third_party(line: str) -> bool:
    """Whether an import line's module is outside the standard library (isort's sections)."""
    return line.split()[1].split(".")[0] not in sys.stdlib_module_names


def _bound(line: str) -> set:
    """The names an import line binds."""
    return {a.asname or a.name.split(".")[0] for n in ast.parse(line).body for a in n.names}


def runtime_functions(a, distributed: bool = False) -> list[tuple[str, str]]:
    """(module, name) of each package function a script for ``a`` contains: those it
    reads, and theirs in turn."""
    return context(a, None, distributed)["runtime_refs"]


def catalogue() -> list[list[tuple[str, str]]]:
    """Every runtime function a script may hold, in the order a script holds them: the
    helpers a model or a source reads (components/trust.py:HELPERS; a helper's definitions
    come together), then data preparation, the loop, and the image folders' functions
    (specdl/runtime/images.py)."""
    from ..components.base import REGISTRY
    from ..components.trust import HELPERS
    from .runtime_source import listed

    def refs(module: str, *names: str) -> list[list[tuple[str, str]]]:
        return [[(f"specdl.runtime.{module}", n)] for n in names]

    def tuple_of(module: str, name: str) -> list[list[tuple[str, str]]]:  # a module's SCRIPT_FUNCTIONS, ...
        return [[r] for r in listed(f"specdl.runtime.{module}", name)]

    steps = dict.fromkeys((getattr(f, "__module__", None), getattr(f, "__name__", None))
                          for t in REGISTRY["transform"].values() for f in t.functions)
    steps.pop((None, None), None)  # a transform with nothing to fit
    helpers = [[(module, n) for n in names] for _, (module, names) in sorted(HELPERS.items())]
    return [*helpers, *refs("splits", "split_rows"), *tuple_of("prepare", "PREPARE_FUNCTIONS"),
            *tuple_of("inputs", "INPUT_FUNCTIONS"), *tuple_of("image_inputs", "IMAGE_INPUT_FUNCTIONS"),
            *refs("text", "WORD", "SPACE", "PIECE", "UNK", "AUTO_MAX"),
            *tuple_of("text", "TEXT_FUNCTIONS"),
            *refs("prepare", "FitError", "fit_transforms"), *tuple_of("csv_inputs", "CSV_INPUT_FUNCTIONS"), *([r] for r in steps),
            *refs("prepare", "one_hot", "invert", "preprocess_record"), *tuple_of("loop", "SCRIPT_FUNCTIONS"),
            *tuple_of("loop", "BINARY_FUNCTIONS"), *tuple_of("loop", "PER_TARGET_FUNCTIONS"),
            *tuple_of("heads", "HEAD_FUNCTIONS"),
            *refs("metrics", "MISSING"), *tuple_of("loop", "SCORE_FUNCTIONS"), *tuple_of("metrics", "EPOCH_SCORE_FUNCTIONS"),
            *refs("settings", "torch_settings", "make_deterministic", "start_ranks", "data_parallel", "shard",
                 "full_weights", "load_full_weights"),
            *refs("workers", "auto_workers"), *tuple_of("images", "SCRIPT_FUNCTIONS")]


def _as_code(ctx: dict) -> dict:
    """Mark what specdl's emitters wrote as Code (the one way into the script, with
    ``lit`` and ``doc``); anything left a plain string must pass ``emit`` as a word."""
    ctx["imports"] = [[Code(i) for i in section] for section in ctx["imports"]]
    lines = ("load_lines", "data_facts", "transforms", "target_transforms", "runtime")
    for k in lines:
        if k in ctx:
            ctx[k] = [Code(v) for v in ctx[k]]
    for k in ("loss_code", "optimizer_code", "scheduler_code", "target_shape"):
        if ctx.get(k) is not None:
            ctx[k] = Code(ctx[k])
    ctx["metrics"] = [(m, Code(c)) for m, c in ctx["metrics"]]
    ctx["spec_path"] = _doc(ctx["spec_path"])
    return ctx


def render(a, spec_path: str | None = None, distributed: bool = False) -> str:
    """The generated script for an analysed spec (``distributed``: it also runs under
    torchrun, data-parallel). Stops with UnsafeCode if the script would hold a name that
    neither specdl nor the spec wrote."""
    from .codeguard import guard

    ctx = context(a, spec_path, distributed)
    script = _env().get_template("train.py.j2").render(**_as_code(ctx))
    script = re.sub(r"[ \t]+\n", "\n", script)  # no trailing blanks (an empty indented line)
    script = re.sub(r'(__name__ == "__main__":\n)\n+', r"\1", script)
    guard(script, ctx["spec_names"])
    return script
