"""`specdl export RUN --with-preprocessing`: an ONNX graph that takes raw rows (or raw
images) and does the run's fitted preprocessing itself, verified with onnxruntime
against `specdl predict` (``LoadedRun.predict``) on the same raw inputs.

Tabular runs: input ``numeric``, the raw feature values (float32, NaN where missing;
int64 token ids for token models) through the fitted transforms (each transform's
``graph``: the same arithmetic as ``apply``, with torch ops, in float64 as in
training); for a CSV with categorical columns also ``categorical``, the raw cells as
strings (trimmed, as the CSV reader reads them), one-hot encoded by the fitted
categories (an unseen one: all zeros, as in training). Image runs: input ``image``,
uint8 [N, C, H, W] at the model's size (what the run's transforms before `to_tensor`
give); the graph scales to [0, 1] and normalizes. Output: ``probabilities``
(classification, multilabel) or ``prediction`` in the data's units (regression, the
target transforms undone)."""

from __future__ import annotations

import json

import numpy as np
import torch

from ..components.external import sizes_found
from ..errors import RunError
from ..front.plan import dtypes
from .graph_outputs import answers, describe_outputs, graph_outputs, wanted
from .graph_outputs import tensors as _tensors

UNSEEN = "\x00unseen"  # a category no training row held: verifies the unknown-category path


class Deployable(torch.nn.Module):
    """The run's model behind its fitted preprocessing, in torch ops."""

    def __init__(self, run):
        super().__init__()
        self.run, self.model = run, run.model
        data, self.outputs = run.spec.data, graph_outputs(run)
        self.tokens = run.analysis.data.dtype == "int64"
        self.image = image_steps(data.transforms) if data.file_backed else None
        self.steps = [] if data.file_backed else list(zip(data.transforms, _tensors(run.fitted("transforms"))))
        self.sizes = [len(c) for c in run.pre["categories"] or []] if data.source == "csv" else []

    def forward(self, first, codes=None):
        """``first``: the image, the numeric columns, or (a CSV of categorical columns
        only) the category codes; ``codes``: the category codes after numeric columns."""
        if self.image is not None:
            x = scaled(first, self.image)
        elif self.sizes and codes is None:
            x = self.one_hot(first).float()
        else:
            x = first if self.tokens else first.double()
            for t, s in self.steps:
                x = t.graph(x, s)
            x = torch.cat([x, self.one_hot(codes)], 1) if self.sizes else x
            x = x if self.tokens else x.float()
        return answers(self.outputs, self.model(x))

    def one_hot(self, codes):
        """Category codes [N, columns] (-1: unseen) -> the fitted one-hot columns."""
        return torch.cat([(codes[:, j:j + 1] == torch.arange(k)).double() for j, k in enumerate(self.sizes)], 1)


def image_steps(transforms, what: str = "data.transforms") -> list:
    """(mean, std) per normalize after `to_tensor`: the part of an image run's (or image
    input's) transforms the graph does; those before it must be ones `serve --backend
    onnx` does without torch (runs/pixels.py). Anything else after `to_tensor` is refused."""
    from .pixels import before_to_tensor

    before_to_tensor(transforms, what)
    steps = list(transforms)
    names = [t.type_name for t in steps]
    tail = steps[names.index("to_tensor") + 1:] if "to_tensor" in names else []
    out = []
    for t in tail:
        if t.type_name != "normalize":
            raise RunError(f"--with-preprocessing puts to_tensor and normalize into the graph; `{t.type_name}` "
                           f"comes after to_tensor in {what}: move it before to_tensor and train again")
        out.append((torch.tensor(t.mean).view(-1, 1, 1), torch.tensor(t.std).view(-1, 1, 1)))
    return out


def scaled(image, steps):
    """uint8 images [N, C, H, W] -> the model's float input: to [0, 1], then each
    normalize of ``steps`` (``image_steps``)."""
    x = image.float() / 255.0
    for mean, std in steps:
        x = (x - mean) / std
    return x


def as_uint8(x, steps) -> np.ndarray:
    """The model's float images back to the uint8 ones ``scaled`` takes (the normalizes
    undone): the raw examples of an image graph input."""
    x = torch.as_tensor(x).double()
    for mean, std in reversed(steps):
        x = x * std.double() + mean.double()
    return (x * 255).round().clamp(0, 255).to(torch.uint8).numpy()


def image_tail(images):
    """The eval pipeline's part the graph does (to_tensor, normalize), as one v2
    Compose; ``images``: the image source, or an image input (their ``ImageSteps``)."""
    from ..build.images import compose
    from .pixels import before_to_tensor

    done = 1 + sum(len(t.calls()) for t in before_to_tensor(images.transforms))  # v2.ToImage, then those
    return compose(images.pipeline(train=False)[done:])


def input_names(run) -> list[str]:
    if run.spec.data.file_backed:
        return ["image"]
    numeric = _numeric_columns(run)
    cats = run.pre["categories"] if run.spec.data.source == "csv" else None
    return (["numeric"] if numeric is None or numeric else []) + (["categorical"] if cats else [])


def _numeric_columns(run):
    """A CSV run's numeric feature columns (None for other sources)."""
    return run.spec.data.columns()[0] if run.spec.data.source == "csv" else None


def raw_examples(run, inputs: torch.Tensor) -> dict:
    """Raw inputs rebuilt from the run's saved (preprocessed) examples: the transforms
    undone (``restore``), the one-hot columns read back as categories. A NaN in the
    first row (when a `fill` leads) and an unseen category in the second exercise
    those paths."""
    if run.spec.data.file_backed:
        return {"image": as_uint8(inputs, image_steps(run.spec.data.transforms))}
    data, x = run.spec.data, inputs.numpy()
    sizes = [len(c) for c in run.pre["categories"] or []] if data.source == "csv" else []
    width = x.shape[1] - sum(sizes) if sizes else None
    num = x[:, :width] if sizes else x
    out = {}
    if "numeric" in input_names(run):
        out["numeric"] = _restore(run, num.astype(np.float64))
    if sizes:
        hot, cats = x[:, width:], []
        for c in run.pre["categories"]:
            block, hot = hot[:, :len(c)], hot[:, len(c):]
            cats.append(np.where(block.max(1) > 0, np.asarray(c, dtype=object)[block.argmax(1)], UNSEEN))
        out["categorical"] = np.stack(cats, 1).astype(object)
        out["categorical"][1 % len(x)] = UNSEEN
    return out


def _restore(run, x):
    """The transforms undone, last first; raw dtype float32 (int64 for token ids)."""
    if run.analysis.data.dtype == "int64":
        return x.astype(np.int64)
    steps = list(zip(run.spec.data.transforms, run.fitted("transforms")))
    return undo(steps, x, run.spec.data.facts(run.spec.seed).feat)


def undo(steps, x, raw_shape, what: str = ""):
    """Transformed samples back to raw float32 ones of ``raw_shape`` (``steps``: each
    transform with its fitted state), a NaN in the first row where a `fill` leads (filled
    by the graph as by predict). ``what``: which input, for the message."""
    shapes = [tuple(raw_shape)]
    for t, _ in steps:
        shapes.append(tuple(t.infer(shapes[-1])))
    for (t, s), before in reversed(list(zip(steps, shapes))):
        try:
            x = t.restore(x, s, before)
        except NotImplementedError:
            raise RunError(f"cannot verify --with-preprocessing: the `{t.type_name}` transform{what} cannot be "
                           "undone to rebuild raw rows") from None
    x = x.astype(np.float32)
    if steps and steps[0][0].type_name == "fill" and np.isfinite(np.asarray(steps[0][1]["fill"])).all():
        x[0] = np.nan
    return x


def predicted(run, raw: dict) -> list:
    """What `specdl predict` gives for the same raw inputs: the probabilities, or the
    predictions in the data's units (several outputs: each head's)."""
    if run.spec.data.file_backed:
        tail = image_tail(run.spec.data)
        out = run.outputs(torch.stack([tail(torch.as_tensor(im)) for im in raw["image"]]))
        return [(run.probabilities(out) if run.analysis.task == "classification" else torch.sigmoid(out)).numpy()]
    num = raw.get("numeric")
    num = num.astype(dtypes(run.analysis).read) if num is not None else None
    if run.spec.data.source == "csv":
        num = num if num is not None else np.zeros((len(raw["categorical"]), 0))
        run.notes = False  # its own unseen category (UNSEEN) is no news to the user
        try:
            pred = run.predict((num, raw.get("categorical")))
        finally:
            run.notes = True
    else:
        pred = run.predict(num)
    return wanted(pred)


def export_with_preprocessing(run, inputs: torch.Tensor, path) -> dict:
    """Export ``Deployable(run)`` (string categories through ai.onnx.ml LabelEncoder
    nodes in front), verify it with onnxruntime against ``predicted`` on raw inputs."""
    import onnx

    from ..build.onnx import EXAMPLE_BATCH, agree_each, run_onnx, torch_to_onnx

    model = Deployable(run).eval()
    raw = raw_examples(run, inputs.cpu())
    names = input_names(run)
    example = tuple(_as_torch(run, raw[n][:EXAMPLE_BATCH], n) for n in names)
    path = torch_to_onnx(model, example, path, names, list(model.outputs))
    proto = onnx.load(str(path))
    if "categorical" in names:
        string_front(proto, run.pre["categories"])
    save_raw_graph(proto, path, run, describe_raw(run))
    rows = other_batch(raw)
    feed = {k: (v[rows].astype(str).astype(object) if k == "categorical" else v[rows]) for k, v in raw.items()}
    got = run_onnx(path, feed, every=True)
    want = predicted(run, {k: v[rows] for k, v in raw.items()})
    return {"path": str(path), **agree_each(list(model.outputs), got, want, "specdl predict", scale=True),
            "verified_batch": len(got[0]), "example_batch": EXAMPLE_BATCH, "inputs": describe_raw(run)}


def save_raw_graph(proto, path, run, described: str) -> None:
    """A graph with the run's preprocessing, its metadata added (what it takes, the flag
    `serve --backend onnx` reads, the classes), checked and saved."""
    import onnx

    proto.metadata_props.add(key="specdl.inputs", value=described)
    proto.metadata_props.add(key="specdl.with_preprocessing", value="1")
    found = sizes_found(node.layer for node in run.analysis.graph.nodes)
    if found:  # a torchvision backbone's (or module layer's) sizes: serving checks the spec without torch
        proto.metadata_props.add(key="specdl.sizes", value=json.dumps(found))
    if run.pre["class_names"]:
        proto.metadata_props.add(key="specdl.classes", value=json.dumps(run.pre["class_names"]))
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def other_batch(raw: dict) -> slice:
    """The rows of the raw examples to verify with: a batch size other than the traced one."""
    from ..build.onnx import EXAMPLE_BATCH

    return slice(None) if len(next(iter(raw.values()))) != EXAMPLE_BATCH else slice(0, 1)


def _as_torch(run, x, name):
    if name == "categorical":  # the torch part takes category codes; string_front makes them
        return torch.zeros(x.shape, dtype=torch.int64)
    return torch.as_tensor(x)


def string_front(proto, categories) -> None:
    """Replace the graph's int64 ``categorical`` codes input with a string one: per
    column, a Gather and an ai.onnx.ml LabelEncoder (unseen: -1, all-zero one-hot)."""
    from onnx import TensorProto, helper

    g = proto.graph
    old = next(i for i in g.input if i.name == "categorical")
    g.input.remove(old)
    g.input.append(helper.make_tensor_value_info("categorical", TensorProto.STRING, ["batch", len(categories)]))
    for node in g.node:  # the torch part's int64 codes, renamed: the string input takes the name
        node.input[:] = ["specdl_codes" if n == "categorical" else n for n in node.input]
    nodes, codes = [], []
    for j, cats in enumerate(categories):
        nodes += [helper.make_node("Constant", [], [f"specdl_col_{j}"], value=helper.make_tensor(
                      f"specdl_col_{j}_value", TensorProto.INT64, [1], [j])),
                  helper.make_node("Gather", ["categorical", f"specdl_col_{j}"], [f"specdl_cells_{j}"], axis=1),
                  helper.make_node("LabelEncoder", [f"specdl_cells_{j}"], [f"specdl_codes_{j}"], domain="ai.onnx.ml",
                                   keys_strings=[str(c) for c in cats], values_int64s=list(range(len(cats))),
                                   default_int64=-1)]
        codes.append(f"specdl_codes_{j}")
    nodes.append(helper.make_node("Concat", codes, ["specdl_codes"], axis=1))
    for i, node in enumerate(nodes):
        g.node.insert(i, node)
    if not any(o.domain == "ai.onnx.ml" for o in proto.opset_import):
        proto.opset_import.append(helper.make_opsetid("ai.onnx.ml", 2))


def describe_raw(run) -> str:
    """The graph's inputs and output, in words (the export message and the file's
    ``specdl.inputs`` metadata)."""
    a, data = run.analysis, run.spec.data
    if data.file_backed:
        shape = ", ".join(map(str, a.data.feat))
        text = f"`image` uint8 [N, {shape}] (the image after the transforms before to_tensor)"
    else:
        numeric = _numeric_columns(run)
        raw = tuple(data.facts(run.spec.seed).feat) if numeric is None else (len(numeric),)
        kind = "int64 token ids" if a.data.dtype == "int64" else "float32"
        cols = f" (columns {', '.join(numeric)}; NaN where missing)" if numeric else ""
        parts = [f"`numeric` {kind} [N, {', '.join(map(str, raw))}]{cols}"] if "numeric" in input_names(run) else []
        if "categorical" in input_names(run):
            parts.append(f"`categorical` string [N, {len(data.columns()[1])}] (columns {', '.join(data.columns()[1])})")
        text = ", ".join(parts)
    return f"{text}; {describe_outputs(run)}"


def describe_model_input(analysis) -> str:
    """What a plain export's model takes: the input after the run's preprocessing."""
    data, a = analysis.spec.data, analysis
    if a.graph.named:  # one graph input per data input
        return "expects " + ", ".join(f"`{i.name}` {i.dtype} [{', '.join(map(str, ('N', *i.feat)))}]" + (
            f" ({'token ids of' if i.kind == 'text' else i.kind} `{i.column}`)" if i.kind else "")
            for i in a.data.inputs) + " after the run's preprocessing"
    shape = ", ".join(map(str, a.data.feat))
    kind = "int64 token ids" if a.data.dtype == "int64" else "float32"
    steps = [t.type_name for t in data.transforms]
    done = f"after the run's {', '.join(steps)}" if steps else "as the data holds them"
    if data.file_backed:
        return f"expects float32 images [N, {shape}] {done}"
    cols = ""
    if data.source == "csv":
        try:
            numeric, cats = data.columns()
            cols = f" (columns {', '.join(numeric)}{''.join(f', one-hot {c}' for c in cats)})"
        except Exception:  # noqa: BLE001 - the CSV is not at hand: the shape alone
            cols = ""
    return f"expects {kind} [N, {shape}]{cols} {done}"
