"""`specdl serve --backend onnx`: the run's ``model.raw.onnx`` (`specdl export RUN
--with-preprocessing`: the fitted preprocessing inside the graph, runs/deploy.py) run by
onnxruntime, without importing torch. A request is read as for the torch backend (predict's
reading); its raw values are the graph's inputs (``numeric``, and ``categorical`` as
strings); the graph's probabilities or values (several outputs: an output per target,
each decided by its head's classes and threshold) become predict's predictions here, with
numpy. An image run's images are decoded, resized and cropped without torch
(runs/pixels.py: ``images``) into the graph's uint8 input; a named-input run's image
inputs likewise (runs/named.py's ``graph_feed``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import RunError
from ..front.plan import dtypes
from ..runs.export import RAW_ONNX
from ..runs.inputs import check_finite, check_float32, check_raw
from ..runs.pixels import source_pixels


class OnnxBackend:
    """onnxruntime on ``RUN/model.raw.onnx``; ``saved``: the run's ``SavedRun``."""

    name = "onnx"
    images = staticmethod(source_pixels)  # an image run's request images: uint8, without torch

    def __init__(self, saved, run_dir, checkpoint=None, allow_import: bool = False):
        import onnxruntime as ort

        self.saved, self.path = saved, raw_model(saved, run_dir, checkpoint)
        try:
            self.session = ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime's errors are one class per kind
            raise RunError(f"onnxruntime cannot load {self.path}: {' '.join(str(e).split())[:200]}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("specdl.with_preprocessing") != "1":
            raise RunError(f"{self.path} is not a graph with the run's preprocessing (no specdl.with_preprocessing "
                           f"in its metadata); write it with `specdl export {run_dir} --with-preprocessing`")
        self.inputs = [i.name for i in self.session.get_inputs()]
        why = other_run(saved, self.session)
        if why:
            raise RunError(f"{self.path} is not this run's graph ({why}): write it again with `specdl export "
                           f"{run_dir} --with-preprocessing`")
        self.classes = json.loads(meta["specdl.classes"]) if "specdl.classes" in meta else None
        self.outputs = [o.name for o in self.session.get_outputs()]
        heads = list(saved.analysis.heads or ())
        if heads and sorted(self.outputs) != sorted(heads):
            raise RunError(f"{self.path} gives {', '.join(self.outputs)}, not one output per target ({', '.join(heads)}): "
                           f"write it again with `specdl export {run_dir} --with-preprocessing`")

    def prepare(self, raw) -> dict:
        """Raw inputs -> the graph's feed (a value the run cannot take: a RunError, a 422)."""
        run, data = self.saved, self.saved.spec.data
        if data.file_backed:  # uint8 [N, C, H, W] from ``images``
            return {"image": np.asarray(raw.x, dtype=np.uint8)}
        if run.analysis.graph.named:
            from ..runs.named import graph_feed

            return graph_feed(run, raw)
        num, cats = raw.x if data.source == "csv" else (raw.x, None)
        num = check_raw(run, np.asarray(num, dtype=dtypes(run.analysis).read), raw.rows)
        check_float32(run, num, raw.rows)  # the graph's input is float32: 1e39 would be infinity there
        if "fill" not in [t.type_name for t in data.transforms]:
            check_finite(run, num, num, raw.rows)  # a missing value the run cannot fill: as predict says it
        feed = {}
        if "numeric" in self.inputs:
            feed["numeric"] = num if num.dtype.kind == "i" else num.astype(np.float32)
        if "categorical" in self.inputs:
            feed["categorical"] = np.asarray(cats, dtype=str).astype(object)
        return feed

    def forward(self, feed: dict) -> dict:
        """The graph's outputs as ``LoadedRun.predictions`` gives predictions (several
        outputs: each head's, from the graph's output named by its target)."""
        outs, run = self.session.run(None, feed), self.saved
        if not run.analysis.heads:
            return decided(outs[0], run.analysis, run.pre["class_names"] or self.classes, run.spec.train.threshold)
        got = dict(zip(self.outputs, outs))
        return {"heads": {t: decided(got[t], h, run.pre["class_names"][t], run.spec.train.threshold_of(t))
                          for t, h in run.analysis.heads.items()}}

    @staticmethod
    def concat(feeds: list[dict]) -> dict:
        return {k: np.concatenate([f[k] for f in feeds]) for k in feeds[0]}

    @staticmethod
    def rows(feed: dict, which: slice) -> dict:
        return {k: v[which] for k, v in feed.items()}


def decided(out, analysis, names, threshold: float) -> dict:
    """One output of the graph (probabilities in class order, a probability per label, or
    values in the data's units) as ``LoadedRun.decided`` gives its predictions: a binary
    output decides the second class where its probability reaches ``threshold``."""
    if analysis.kind in ("classification", "binary"):
        names = names or [str(i) for i in range(out.shape[1])]
        index = (out[:, 1] >= threshold).astype(np.int64) if analysis.kind == "binary" else out.argmax(1)
        return {"index": index, "prediction": [names[i] for i in index.tolist()], "probabilities": out,
                "classes": names}
    if analysis.kind == "multilabel":
        return {"prediction": (out >= threshold).astype(np.int64), "probabilities": out}
    targets = analysis.target_names()
    return {"prediction": out.astype(np.float64), **({"targets": targets} if targets else {})}


def other_run(run, session) -> str | None:
    """What shows a raw graph to be another run's (None: nothing): other inputs than
    this run feeds, a text input of another length."""
    data = run.spec.data
    if run.analysis.graph.named:
        want = {i.name: list(i.feat) if i.kind == "text" else None for i in run.analysis.data.inputs}
    elif data.file_backed:
        want = {"image": None}
    else:
        numeric = data.source != "csv" or bool(data.columns()[0])
        want = {**({"numeric": None} if numeric else {}), **({"categorical": None} if run.pre["categories"] else {})}
    got = {i.name: i.shape[1:] for i in session.get_inputs()}
    if set(got) != set(want):
        return f"it takes {', '.join(f'`{n}`' for n in got)}; this run's inputs are {', '.join(f'`{n}`' for n in want)}"
    for name, feat in want.items():
        if feat and all(isinstance(d, int) for d in got[name]) and list(got[name]) != feat:
            return f"its `{name}` is {list(got[name])} per sample; this run's is {feat}"
    return None


def raw_model(saved, run_dir, checkpoint) -> Path:
    """The run's model.raw.onnx; anything else is one line naming the export command."""
    if checkpoint is not None:
        raise RunError(f"--backend onnx serves {RAW_ONNX}, not a checkpoint: export the weights with `specdl export "
                       f"{run_dir} --with-preprocessing --checkpoint {checkpoint}`, then serve without --checkpoint")
    path = Path(run_dir) / RAW_ONNX
    if not path.is_file():
        raise RunError(f"{run_dir} has no {RAW_ONNX}: write it with `specdl export {run_dir} --with-preprocessing`")
    return path


def graph_sizes(run_dir) -> None:
    """Before the run's spec is checked again (``SavedRun``): the layer sizes its raw graph
    recorded (a torchvision backbone's: sized by a forward pass in torch), so that checking
    it needs no torch. A graph that cannot be read: the backend says so when it loads."""
    path = Path(run_dir) / RAW_ONNX
    if not path.is_file():
        return
    import onnx

    from ..components.external import learn_sizes

    try:
        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        learn_sizes(json.loads(meta.get("specdl.sizes", "[]")))
    except Exception:  # noqa: BLE001 - read again, and refused in one line, by OnnxBackend
        return
