"""ONNX export with torch's current exporter (it needs onnxscript), a dynamic batch
dimension, and verification: onnx.checker, then onnxruntime on real inputs compared
with torch."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import RunError
from ..front.plan import dtypes

TOLERANCE = 1e-4  # max absolute difference between onnxruntime's and torch's outputs
EXAMPLE_BATCH = 2  # the traced example; verification uses another batch size


def export_onnx(model: torch.nn.Module, inputs, path: Path, outputs=None) -> dict:
    """Export ``model`` (on the CPU, eval mode) to ``path`` and verify it on ``inputs``
    (a batch of real inputs of a size other than the example's; named inputs: name ->
    tensor, one graph input each, by that name). ``outputs``: the graph's output names, a
    several-output model's targets (its forward returns a tensor per head, in their
    order), each verified; default one ``output``. Returns the figures."""
    names = list(outputs or ["output"])
    named = inputs if isinstance(inputs, dict) else {"input": inputs}
    model = model.cpu().eval()
    named = {k: v.cpu() for k, v in named.items()}
    n = len(next(iter(named.values())))
    example = {k: v[:EXAMPLE_BATCH] for k, v in named.items()}
    verify = {k: v[:1] if n == EXAMPLE_BATCH else v for k, v in named.items()}
    path = torch_to_onnx(model, example if isinstance(inputs, dict) else (example["input"],), path, list(named), names)
    got = run_onnx(path, {k: v.numpy() for k, v in verify.items()}, every=True)
    with torch.inference_mode():
        want = model(**verify) if isinstance(inputs, dict) else model(verify["input"])
    want = list(want) if isinstance(want, (tuple, list)) else [want]
    return {"path": str(path), **agree_each(names, got, [w.float().numpy() for w in want], "torch"),
            "verified_batch": len(got[0]), "example_batch": len(next(iter(example.values())))}


def torch_to_onnx(model, example, path, input_names, output_names) -> Path:
    """torch.onnx.export with the batch (dimension 0 of every input) dynamic; the file
    passes onnx.checker. Any exporter failure is one RunError line. ``example``: the
    forward's arguments (a tuple), or a named-input model's keyword inputs (a dict)."""
    import onnx

    from ..files import check_output

    path = check_output(path, "the ONNX file", regular=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = torch.export.Dim("batch")
    named = isinstance(example, dict)  # forward(**inputs): the inputs as keyword arguments
    dims = {"inputs": {k: {0: batch} for k in example}} if named else tuple({0: batch} for _ in example)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(model, () if named else example, str(path), kwargs=example if named else None,
                              input_names=input_names, output_names=output_names, dynamic_shapes=dims)
    except Exception as e:  # noqa: BLE001 - any exporter failure is one clear line
        raise RunError(f"ONNX export failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    fixed_batch(proto, len(next(iter(example.values())) if named else example[0]))
    return path


def fixed_batch(proto, example: int) -> None:
    """Every input and output of the graph takes any batch: a fixed dimension 0 (the
    exporter specialised the batch, e.g. on a ``len(x)`` in a forward) is a RunError, not
    an onnxruntime failure on the next batch size."""
    for kind, values in (("input", proto.graph.input), ("output", proto.graph.output)):
        for v in values:
            dims = v.type.tensor_type.shape.dim
            if dims and dims[0].HasField("dim_value"):
                raise RunError(f"ONNX export fixed the batch of {kind} `{v.name}` at {dims[0].dim_value} (the traced "
                               f"example's {example}): a forward reads the batch size as a number (`len(x)`); in a "
                               "`module:` layer write -1 or x.shape[0] instead, otherwise report it as a specdl bug")


def run_onnx(path, feed: dict, every: bool = False):
    """onnxruntime's first output for ``feed`` (``every``: the list of all of them); its
    failure is one RunError line."""
    import onnxruntime as ort

    try:
        out = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feed)
        return out if every else out[0]
    except Exception as e:  # noqa: BLE001 - onnxruntime's errors are one class per kind; any is one line
        raise RunError(f"onnxruntime cannot run the exported {path}: {' '.join(str(e).split())[:300]}") from None


def agreement(got, want, what: str, scale: bool = False) -> dict:
    """The max absolute difference of onnxruntime's outputs from ``want``; over the
    tolerance (times the outputs' magnitude with ``scale``) is a RunError."""
    got, want = np.asarray(got), np.asarray(want)
    diff = float(np.abs(got.astype(np.float64) - want).max()) if got.size and got.shape == want.shape else 0.0
    tol = TOLERANCE * max(1.0, float(np.abs(want).max())) if scale and want.size else TOLERANCE
    if got.shape != want.shape or not diff <= tol:
        raise RunError(f"the ONNX model disagrees with {what}: shape {got.shape} vs {want.shape}, max "
                       f"difference {diff:.3g} (tolerance {tol:.3g})")
    return {"max_abs_diff": diff, "tolerance": tol}


def agree_each(names: list, got: list, want: list, what: str, scale: bool = False) -> dict:
    """``agreement`` of each of the graph's outputs (``names``) with ``want``'s: the largest
    difference, and each output's where there are several (``outputs``)."""
    if len(got) != len(names) or len(want) != len(names):
        raise RunError(f"the ONNX model gives {len(got)} outputs and {what} {len(want)}; its outputs are "
                       f"{', '.join(names)}")
    each = {k: agreement(g, w, what + (f" on the output `{k}`" if len(names) > 1 else ""), scale)
            for k, g, w in zip(names, got, want)}
    worst = max(each.values(), key=lambda a: a["max_abs_diff"])
    return {**worst, **({"outputs": each} if len(names) > 1 else {})}


EXAMPLES = "examples.pt"  # in a run directory: real preprocessed inputs, to verify exports with


def save_examples(run_dir, analysis, arrays) -> None:
    """Keep up to 64 real test inputs in the run directory: `specdl export RUN` then
    verifies without the training data at hand."""
    from . import checkpoints as ckpt

    x = real_inputs(analysis, arrays)
    ckpt.save_atomic({k: v.clone() for k, v in x.items()} if isinstance(x, dict) else x.clone(), Path(run_dir) / EXAMPLES)


def real_inputs(analysis, arrays, split: str = "test", n: int = 64):
    """Up to n real (preprocessed) inputs of a split, for verifying an export (named
    inputs: name -> tensor)."""
    if analysis.spec.data.file_backed or isinstance(arrays.x[split], torch.utils.data.Dataset):  # or image inputs
        from .images import loader

        x = next(iter(loader(arrays.x[split], n, False, None, 0, torch.device("cpu"))))[0]
        return dict(x) if analysis.graph.named else x
    if analysis.graph.named:
        return {i.name: torch.as_tensor(arrays.x[split][i.name][:n], dtype=getattr(torch, i.dtype))
                for i in analysis.data.inputs}
    return torch.as_tensor(arrays.x[split][:n], dtype=getattr(torch, dtypes(analysis).input))
