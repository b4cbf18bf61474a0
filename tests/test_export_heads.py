"""Every head exports with a batch axis that takes any batch size: `export
--with-preprocessing` (and a plain export) of one tiny run per head kind, run by
onnxruntime on a batch other than the traced one and compared with `predict`; every
bundled spec in the slow set."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import specdl
from specdl.errors import RunError

from .conftest import SPECS, skip_pending

EXPORTED = SPECS  # named inputs too: one graph input per data input (spec 12.5)

TRAIN = "train: {epochs: 1, batch_size: 16, device: cpu}\n"
HEADS = {  # head kind -> (labels from x, the spec's data options and the rest)
    "one logit": (lambda x: (x[:, 0] > 0).astype(np.int64),
                  "task: classification, transforms: [standardize]}\nmodel: {layers: [{linear: 4}, relu, {linear: 1}]}\n"
                  "loss: bce_with_logits\n"),
    "softmax": (lambda x: (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0),
                "task: classification, transforms: [standardize]}\nmodel: {layers: [{linear: 4}, relu, {linear: 3}]}\n"),
    "multilabel": (lambda x: (x[:, :3] > 0).astype(np.int64),
                   "task: multilabel, split: {stratify: false}}\nmodel: {layers: [{linear: 4}, relu, {linear: 3}]}\n"
                   "loss: bce_with_logits\n"),
    "multi-target": (lambda x: np.stack([x[:, 0], 2 * x[:, 2]], 1),
                     "target_transforms: [standardize]}\nmodel: {layers: [{linear: 4}, relu, {linear: 2}]}\nloss: mse\n"),
    "inverted regression": (lambda x: 100 + 30 * x[:, 0],
                            "transforms: [minmax], target_transforms: [minmax, standardize]}\n"
                            "model: {layers: [{linear: 4}, relu, {linear: 1}]}\nloss: mse\n"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny run per head kind (80 rows of 4 features, one epoch), trained once."""
    root = tmp_path_factory.mktemp("heads")
    x = np.random.default_rng(0).normal(size=(80, 4)).astype(np.float32)
    out = {"x": x}
    for i, (head, (labels, rest)) in enumerate(HEADS.items()):
        np.savez(root / f"{i}.npz", x=x, y=labels(x))
        (root / f"{i}.yaml").write_text(f"data: {{source: npz, path: {root}/{i}.npz, {rest}{TRAIN}")
        out[head] = specdl.train(specdl.load(root / f"{i}.yaml"), out=root / str(i)).run_dir
    return out


@pytest.mark.parametrize("head", list(HEADS))
def test_every_head_exports_raw_rows_at_any_batch(runs, head, tmp_path):
    r = specdl.export(runs[head], tmp_path / "m.onnx", with_preprocessing=True)
    assert r["verified_batch"] != r["example_batch"]
    proto = onnx.load(str(tmp_path / "m.onnx"))
    for v in [*proto.graph.input, *proto.graph.output]:  # the batch axis is symbolic
        assert v.type.tensor_type.shape.dim[0].dim_param, (v.name, v.type)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    pred = specdl.load_run(runs[head]).predict(runs["x"][:5])
    want = pred["probabilities"] if "probabilities" in pred else pred["prediction"]
    for n in (1, 5):  # neither is the traced batch (2)
        got = session.run(None, {"numeric": runs["x"][:n]})[0]
        assert got.shape == np.shape(want[:n]) and np.abs(got - want[:n]).max() <= 1e-4 * max(1, np.abs(want).max())


def test_a_fixed_batch_axis_is_one_line():
    """The guard behind the head tests: a graph whose batch the exporter fixed is refused
    by name, before onnxruntime meets another batch size."""
    from onnx import TensorProto, helper

    from specdl.build.onnx import fixed_batch

    def graph(dim):
        node = helper.make_node("Identity", ["numeric"], ["probabilities"])
        return helper.make_model(helper.make_graph(
            [node], "g", [helper.make_tensor_value_info("numeric", TensorProto.FLOAT, [dim, 4])],
            [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [dim, 4])]))

    fixed_batch(graph("batch"), 2)
    with pytest.raises(RunError, match=r"fixed the batch of input `numeric` at 2 .*`len\(x\)`"):
        fixed_batch(graph(2), 2)


@pytest.mark.slow  # every bundled spec trained and exported twice: minutes
@pytest.mark.parametrize("spec", EXPORTED, ids=[p.stem for p in EXPORTED])
def test_every_bundled_spec_exports_both_ways(spec, tmp_path):
    skip_pending(spec, "export")
    from .test_codegen import SHORT  # the heavier specs shortened (mobilenet and vit: 4 classes at 32x32)

    over = [*SHORT.get(spec.stem, ["train.epochs=1"]), "train.device=cpu"]
    run = specdl.train(spec, out=tmp_path / "r", overrides=over).run_dir
    images = getattr(specdl.load(spec).data, "image_inputs", list)()  # a CSV's image inputs: the raw graph refused
    for raw in (False, True):
        if raw and images:
            with pytest.raises(RunError, match=f"--with-preprocessing does not take a run with an image input "
                                               f"\\(`{images[0]}`\\)"):
                specdl.export(run, tmp_path / f"{raw}.onnx", with_preprocessing=raw)
            continue
        r = specdl.export(run, tmp_path / f"{raw}.onnx", with_preprocessing=raw)
        assert r["verified_batch"] != r["example_batch"] and r["max_abs_diff"] <= r["tolerance"]
