"""`specdl export RUN --with-preprocessing` of a named-input run (spec 12.5): one graph
input per data input, the fitted preprocessing of the numeric and categorical inputs in
the graph, verified with onnxruntime against `specdl predict` on the same raw inputs.

A ``numeric`` input takes its raw columns (float32 [N, k], NaN where missing) through its
fitted transforms; a ``categorical`` input takes its cells as strings [N] (an ai.onnx.ml
LabelEncoder in front gives the index, 0 for a category the train split never saw, and
the graph one-hot encodes it where the input does); a ``text`` input takes token ids
[N, length] (tokenizing stays in Python: runs/named.py's ``graph_feed``); an ``image``
input takes uint8 [N, C, H, W] after its transforms before `to_tensor` (decoded and
resized without torch: runs/pixels.py), the graph scaling and normalizing it; an array
run's inputs are taken as they are. Output: as runs/deploy.py's."""

from __future__ import annotations

import numpy as np
import torch

from .deploy import (
    UNSEEN,
    Deployable,
    _tensors,
    as_uint8,
    image_steps,
    image_tail,
    other_batch,
    save_raw_graph,
    scaled,
    undo,
)
from .graph_outputs import answers, describe_outputs, wanted
from .inputs import RawInputs, saved_states
from .named import csv_columns, input_names, model_inputs


class NamedDeployable(Deployable):
    """The run's model behind the fitted preprocessing of its named inputs, in torch ops."""

    def __init__(self, run):
        super().__init__(run)
        data = run.spec.data
        self.kinds = {n: k for n, (k, _) in csv_columns(run).items()} if data.source == "csv" else {}
        self.numeric = {n: list(zip(data.inputs[n].transforms, _tensors(_states(run, n))))
                        for n, k in self.kinds.items() if k == "numeric"}
        self.hot = {n: len(run.pre["inputs"][n]["categories"]) for n, k in self.kinds.items()
                    if k == "categorical" and data.inputs[n].encoding == "one_hot"}
        self.pictures = {n: image_steps(data.inputs[n].transforms, f"data.inputs.{n}.transforms")
                         for n, k in self.kinds.items() if k == "image"}

    def forward(self, **inputs):
        x = {}
        for name, v in inputs.items():
            if name in self.numeric:
                v = v.double()
                for t, s in self.numeric[name]:
                    v = t.graph(v, s)
                v = v.float()
            elif name in self.hot:  # index 0 (unseen): all zeros, as in training
                v = (v[:, None] == torch.arange(1, self.hot[name] + 1)).float()
            elif name in self.pictures:  # uint8 images: to [0, 1] and normalized, as to_tensor and normalize
                v = scaled(v, self.pictures[name])
            x[name] = v
        return answers(self.outputs, self.model(**x))


def _states(run, name: str) -> list:
    return saved_states(run.pre["inputs"][name]["transforms"])


def raw_examples(run, inputs: dict) -> dict:
    """The graph's raw inputs rebuilt from the run's saved (preprocessed) examples: numbers
    with their transforms undone (a NaN in the first row where a `fill` leads), category
    indices as their names (the second row's unseen), texts as their ids."""
    out = {}
    for name in input_names(run):
        x = inputs[name].numpy()
        kind = csv_columns(run)[name][0] if run.spec.data.source == "csv" else "array"
        if kind == "categorical":
            cats = np.asarray([UNSEEN, *run.pre["inputs"][name]["categories"]], dtype=object)
            index = np.where(x.max(1) > 0, x.argmax(1) + 1, 0) if x.ndim == 2 else x
            x = cats[index]
            x[1 % len(x)] = UNSEEN
        elif kind == "numeric":
            steps = list(zip(run.spec.data.inputs[name].transforms, _states(run, name)))
            x = undo(steps, x.astype(np.float64), (len(csv_columns(run)[name][1]),), f" of the input `{name}`")
        elif kind == "image":  # the images after the transforms before to_tensor
            x = as_uint8(x, image_steps(run.spec.data.inputs[name].transforms))
        out[name] = x
    return out


def predicted(run, raw: dict) -> list:
    """What `specdl predict` gives for the same raw inputs (texts as their ids), each
    output's (``graph_outputs.wanted``)."""
    rows = [f"row {i}" for i in range(len(next(iter(raw.values()))))]
    return wanted(run.predictions(model_inputs(run, RawInputs(raw, rows), ids=True, pictures=_tail)))


def _tail(run, name: str, images, rows) -> np.ndarray:
    """An image input's uint8 images through the rest of its eval pipeline, in torch."""
    return image_tail(run.spec.data.inputs[name])(torch.as_tensor(images)).numpy()


def export_named(run, inputs: dict, path) -> dict:
    """Export ``NamedDeployable(run)`` (string categories through LabelEncoder nodes in
    front), verified with onnxruntime against ``predicted`` on raw inputs."""
    import onnx

    from ..build.onnx import EXAMPLE_BATCH, agree_each, run_onnx, torch_to_onnx

    raw = raw_examples(run, {k: v.cpu() for k, v in inputs.items()})
    strings = {n: run.pre["inputs"][n]["categories"] for n, (k, _) in
               (csv_columns(run).items() if run.spec.data.source == "csv" else []) if k == "categorical"}
    example = {n: torch.zeros(len(v[:EXAMPLE_BATCH]), dtype=torch.int64) if n in strings
               else torch.as_tensor(v[:EXAMPLE_BATCH]) for n, v in raw.items()}
    model = NamedDeployable(run).eval()
    path = torch_to_onnx(model, example, path, list(raw), list(model.outputs))
    proto = onnx.load(str(path))
    for name, cats in strings.items():
        label_front(proto, name, cats)
    save_raw_graph(proto, path, run, describe(run))
    rows = other_batch(raw)
    got = run_onnx(path, {k: v[rows] for k, v in raw.items()}, every=True)
    run.notes = False  # its own unseen category (UNSEEN) is no news to the user
    try:
        want = predicted(run, {k: v[rows] for k, v in raw.items()})
    finally:
        run.notes = True
    return {"path": str(path), **agree_each(list(model.outputs), got, want, "specdl predict", scale=True),
            "verified_batch": len(got[0]), "example_batch": EXAMPLE_BATCH, "inputs": describe(run)}


def label_front(proto, name: str, categories) -> None:
    """Replace the graph's int64 input ``name`` (category indices) with a string one [N]
    and an ai.onnx.ml LabelEncoder: the train split's categories 1, 2, ...; others 0."""
    from onnx import TensorProto, helper

    g = proto.graph
    old = next(i for i in g.input if i.name == name)
    at = list(g.input).index(old)
    g.input.remove(old)
    g.input.insert(at, helper.make_tensor_value_info(name, TensorProto.STRING, ["batch"]))
    codes = f"specdl_index_{name}"
    for node in g.node:
        node.input[:] = [codes if n == name else n for n in node.input]
    g.node.insert(0, helper.make_node("LabelEncoder", [name], [codes], domain="ai.onnx.ml",
                                      keys_strings=[str(c) for c in categories],
                                      values_int64s=list(range(1, len(categories) + 1)), default_int64=0))
    if not any(o.domain == "ai.onnx.ml" for o in proto.opset_import):
        proto.opset_import.append(helper.make_opsetid("ai.onnx.ml", 2))


def describe(run) -> str:
    """The graph's inputs and output, in words (the message and the file's metadata)."""
    parts = []
    for i in run.analysis.data.inputs:
        shape = ", ".join(map(str, ("N", *i.feat)))
        kind = csv_columns(run)[i.name][0] if run.spec.data.source == "csv" else "array"
        parts.append({"text": f"`{i.name}` int64 token ids [{shape}] (of `{i.column}`, tokenized in Python)",
                      "image": f"`{i.name}` uint8 [{shape}] (the image of `{i.column}` after the transforms before "
                               "to_tensor)",
                      "categorical": f"`{i.name}` string [N] (`{i.column}`)",
                      "numeric": f"`{i.name}` float32 [N, {len(csv_columns(run)[i.name][1]) if kind == 'numeric' else 0}]"
                                 f" (columns {i.column.replace(',', ', ')}; NaN where missing)"}.get(kind, f"`{i.name}` {i.dtype} [{shape}]"))
    return f"{', '.join(parts)}; {describe_outputs(run)}"
