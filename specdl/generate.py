"""Analysis -> a standalone, readable PyTorch script (Jinja, StrictUndefined).

Every expression in the script comes from the same registry entries that ``build``
uses (``Call.code`` beside ``Call.__call__``), so the two cannot drift; values are
rendered as Python literals, never spliced as code.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from .components.base import HELPERS, Name, literal
from .data import val_fraction
from .graph import INPUT


def templates_dir() -> Path:
    """The templates shipped in the wheel (specdl/templates), or the repo's templates/."""
    packaged = resources.files("specdl") / "templates"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "templates"


STDLIB = {"csv", "functools", "gc", "json", "math", "os"}
BASE_IMPORTS = ["import numpy as np", "import torch", "from sklearn import metrics",
                "from sklearn.model_selection import train_test_split", "from torch import nn"]


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


def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["lit"] = literal
    return env


def comment_safe(text: str) -> str:
    """Text for a docstring or comment: anything but plain path characters becomes ?."""
    return re.sub(r"[^A-Za-z0-9_./ -]", "?", str(text))[:200]


def shape_comment(tt) -> str:
    return "# (" + ", ".join(str(d) for d in tt.shape) + ")"


class ModelWriter:
    """Python classes for a graph: one ``nn.Module`` class per distinct block instance
    (written before its first use), then ``Model``. Each ``forward`` names a variable
    only where a value is used again later, and comments every line with its shape."""

    def __init__(self):
        self.classes: list[dict] = []
        self._by_body: dict[str, str] = {}
        self.needs: set[str] = set()
        self.helpers: set[str] = set()

    def model(self, graph) -> list[dict]:
        self.add_class("Model", graph)
        return self.classes

    def constructor(self, node) -> str:
        if node.subgraphs:
            made = [f"{self.add_class(camel(node.layer.block), g, node.layer)}()" for g in node.subgraphs]
            return made[0] if len(made) == 1 else f"nn.Sequential({', '.join(made)})"
        call = node.layer.ctor_many(node.in_types)
        self.needs |= {f"import {m}" for m in call.imports()}
        self.helpers |= {h for h in node.layer.helpers}
        return call.code()

    def add_class(self, name: str, graph, block=None) -> str:
        init = [f"self.{n.name} = {self.constructor(n)}" for n in graph.nodes if not n.layer.functional]
        forward = self.forward(graph)
        body = "\n".join(init + forward)
        if body in self._by_body:
            return self._by_body[body]
        taken = {c["name"] for c in self.classes}
        base, k = name, 2
        while name in taken:
            name, k = f"{base}{k}", k + 1
        doc = None
        if block is not None:
            args = ", ".join(f"{a}={literal(v)}" for a, v in block.args.items())
            shape = "(" + ", ".join(map(str, graph.input.shape)) + ")"
            doc = f"Block `{block.block}`{f' ({args})' if args else ''} on {shape}."
        self._by_body[body] = name
        self.classes.append({"name": name, "doc": doc, "init": init, "forward": forward,
                             "input_shape": "(" + ", ".join(map(str, graph.input.shape)) + ")"})
        return name

    def forward(self, graph) -> list[str]:
        consumers = graph.consumers()
        order = [INPUT] + [n.name for n in graph.nodes]
        var = {}
        for i, name in enumerate(order):
            nxt = order[i + 1] if i + 1 < len(order) else None
            chain = consumers.get(name, []) == [nxt] or (nxt is None)
            var[name] = "x" if chain else ("inp" if name == INPUT else name)
        fwd = [] if var[INPUT] == "x" else [("inp = x", "")]
        for n in graph.nodes:
            args = [var[i] for i in n.inputs]
            self.needs |= set(n.layer.needs)
            if n.layer.functional:
                lines = [f"{var[n.name]} = {n.layer.expr(*args)}"]
            else:
                lines = n.layer.call_code(f"self.{n.name}", args, var[n.name])
            fwd += [(ln, "") for ln in lines[:-1]] + [(lines[-1], shape_comment(n.out))]
        fwd.append((f"return {var[graph.nodes[-1].name]}", ""))
        width = max(len(line) for line, _ in fwd)
        return [(line.ljust(width) + "  " + note).rstrip() for line, note in fwd]


def camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_") if p) or "Block"


def context(a, spec_path: str | None = None, distributed: bool = False) -> dict:
    spec, tr = a.spec, a.spec.train
    data = spec.data
    imports, load = data.code()
    helper_names = set(getattr(data, "helpers", ()))
    writer = ModelWriter()
    classes = writer.model(a.graph)
    sched = spec.scheduler
    ctx = {
        "name": spec.name,
        "spec_path": comment_safe(spec_path or getattr(spec._source, "file", "spec.yaml")),
        "seed": spec.seed,
        "task": a.task,
        "classes_n": a.data.classes,
        "imports": sort_imports(BASE_IMPORTS + imports + sorted(writer.needs)),
        "load_lines": load,
        "x_dtype": "int64" if a.data.dtype == "int64" else "float64",
        "x_torch": "torch.int64" if a.data.dtype == "int64" else "torch.float32",
        "y_torch": "torch.int64" if a.task == "classification" else "torch.float32",
        "squeeze_y": a.task == "regression" and a.target_shape == (),
        "target_shape": ", ".join(map(str, a.data.outputs or ())),
        "flatten_targets": a.task == "regression" and len(a.target_shape) > 1,
        "file_backed": data.file_backed,
        "source": data.source,
        "categorical": bool(getattr(data, "categorical", None)),
        "num_workers": tr.num_workers,
        "test": 0.0 if data.source == "torchvision" else spec.data.split.test,
        "val": spec.data.split.val,
        "val_fraction": spec.data.split.val if data.source == "torchvision" else val_fraction(spec.data.split),
        "stratify": spec.data.split.stratify and a.task == "classification",
        "transform_lines": [] if data.file_backed else [ln for t in data.transforms for ln in t.code("x")],
        "target_lines": [ln for t in spec.data.target_transforms for ln in t.code("y")],
        "target_invert": [t.invert_code("y_pred", "y") for t in reversed(spec.data.target_transforms)],
        "modules": classes,
        "helpers": [HELPERS[h][0] for h in sorted(writer.helpers | helper_names)],
        "frozen": a.frozen(),
        "loss_code": a.loss.ctor().code(),
        "optimizer_code": spec.optimizer.ctor().code(
            "[p for p in model.parameters() if p.requires_grad]" if a.frozen() else "model.parameters()"),
        "scheduler_code": None,
        "scheduler_every": sched.every if sched else None,
        "metrics": [(m.type_name, m.call().code("y_true", "y_pred")) for m in a.metrics],
        "monitor": a.monitor,
        "mode": a.mode,
        "watched": a.watched_metrics(),
        "epochs": tr.epochs,
        "batch_size": tr.batch_size,
        "eval_batch_size": tr.eval_chunk,
        "accumulate": tr.accumulate,
        "grad_clip": tr.grad_clip,
        "precision": tr.precision,
        "compile": tr.compile,
        "tensorboard": tr.tensorboard,
        "export_onnx": spec.export.onnx,
        "distributed": distributed,
        "deterministic": tr.deterministic,
        "threads": a.threads(),
        "onednn": a.onednn(),
        # "cpu": on the CPU only (auto); True/False as the spec says
        "channels_last": "cpu" if tr.channels_last == "auto" and a.channels_last("cpu") else tr.channels_last is True,
        "device": tr.device,
        "early": tr.early_stopping,
        "es_mode": a.es_mode(),
    }
    if data.file_backed:
        ctx.update(train_tf=[c.code() for c in data.pipeline(train=True)],
                   eval_tf=[c.code() for c in data.pipeline(train=False)],
                   root=getattr(data, "root", None),
                   roots={k: getattr(data, k, None) for k in ("train", "val", "test")},
                   tv_class=getattr(data, "name", None) and __import__("specdl.sources.images", fromlist=["x"]).TORCHVISION[data.name][0],
                   download=getattr(data, "download", False))
        from .image_data import AUTO_WORKERS

        ctx["auto_workers"] = AUTO_WORKERS
        ctx["imports"] = sort_imports(ctx["imports"] + ["import functools"]
                                      + (["import os"] if tr.num_workers == "auto" else []))
    if tr.tensorboard:
        ctx["imports"] = sort_imports(ctx["imports"] + ["from torch.utils.tensorboard import SummaryWriter"])
    if distributed:
        if data.file_backed:
            from .errors import RunError

            raise RunError("codegen --distributed supports in-memory data sources in this version")
        ctx["imports"] = sort_imports(ctx["imports"] + [
            "import os", "import torch.distributed as dist", "from torch.nn.parallel import DistributedDataParallel"])
    if ctx["categorical"]:
        ctx["imports"] = sort_imports(ctx["imports"] + ["from sklearn.preprocessing import OneHotEncoder"])
    std = [i for i in ctx["imports"] if i.split()[1].split(".")[0] in STDLIB]
    ctx["stdlib"] = sort_imports(["import gc", "import json", "import math", *std])
    ctx["imports"] = [i for i in ctx["imports"] if i not in std]
    if sched is not None:
        ctx["scheduler_code"] = sched.ctor(tr.epochs, Name("STEPS_PER_EPOCH"), a.mode).code("optimizer")
    return ctx


def render(a, spec_path: str | None = None, distributed: bool = False) -> str:
    """The generated script for an analysed spec (``distributed``: it also runs under
    torchrun, data-parallel)."""
    return _env().get_template("train.py.j2").render(**context(a, spec_path, distributed))
