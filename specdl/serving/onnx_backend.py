"""`specdl serve --backend onnx`: the run's ``model.raw.onnx`` (`specdl export RUN
--with-preprocessing`: the fitted preprocessing inside the graph, runs/deploy.py) run by
onnxruntime, without importing torch. A request is read as for the torch backend (predict's
reading); its raw values are the graph's inputs (``numeric``, and ``categorical`` as
strings); the graph's probabilities or values become predict's predictions here, with
numpy. Runs of rows and arrays (image runs resize in torchvision before the graph)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import RunError
from ..front.plan import dtypes
from ..runs.export import RAW_ONNX
from ..runs.inputs import check_finite, check_raw


class OnnxBackend:
    """onnxruntime on ``RUN/model.raw.onnx``; ``saved``: the run's ``SavedRun``."""

    name = "onnx"

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
        self.classes = json.loads(meta["specdl.classes"]) if "specdl.classes" in meta else None

    def prepare(self, raw) -> dict:
        """Raw inputs -> the graph's feed (a value the run cannot take: a RunError, a 422)."""
        run, data = self.saved, self.saved.spec.data
        if run.analysis.graph.named:
            from ..runs.named import graph_feed

            return graph_feed(run, raw)
        num, cats = raw.x if data.source == "csv" else (raw.x, None)
        num = check_raw(run, np.asarray(num, dtype=dtypes(run.analysis).read), raw.rows)
        if "fill" not in [t.type_name for t in data.transforms]:
            check_finite(run, num, num, raw.rows)  # a missing value the run cannot fill: as predict says it
        feed = {}
        if "numeric" in self.inputs:
            feed["numeric"] = num if num.dtype.kind == "i" else num.astype(np.float32)
        if "categorical" in self.inputs:
            feed["categorical"] = np.asarray(cats, dtype=str).astype(object)
        return feed

    def forward(self, feed: dict) -> dict:
        """The graph's output as ``LoadedRun.predictions`` gives predictions."""
        out = self.session.run(None, feed)[0]
        a, threshold = self.saved.analysis, self.saved.spec.train.threshold
        if a.kind in ("classification", "binary"):
            names = self.saved.pre["class_names"] or self.classes or [str(i) for i in range(out.shape[1])]
            index = (out[:, 1] >= threshold).astype(np.int64) if a.kind == "binary" else out.argmax(1)
            return {"index": index, "prediction": [names[i] for i in index.tolist()], "probabilities": out,
                    "classes": names}
        if a.kind == "multilabel":
            return {"prediction": (out >= threshold).astype(np.int64), "probabilities": out}
        names = a.target_names()
        return {"prediction": out.astype(np.float64), **({"targets": names} if names else {})}

    @staticmethod
    def concat(feeds: list[dict]) -> dict:
        return {k: np.concatenate([f[k] for f in feeds]) for k in feeds[0]}

    @staticmethod
    def rows(feed: dict, which: slice) -> dict:
        return {k: v[which] for k, v in feed.items()}


def raw_model(saved, run_dir, checkpoint) -> Path:
    """The run's model.raw.onnx; anything else is one line naming the export command."""
    if checkpoint is not None:
        raise RunError(f"--backend onnx serves {RAW_ONNX}, not a checkpoint: export the weights with `specdl export "
                       f"{run_dir} --with-preprocessing --checkpoint {checkpoint}`, then serve without --checkpoint")
    if saved.spec.data.file_backed:
        raise RunError("--backend onnx serves runs of rows and arrays; an image run's resizing before to_tensor runs "
                       "in torchvision: serve it with --backend torch")
    path = Path(run_dir) / RAW_ONNX
    if not path.is_file():
        raise RunError(f"{run_dir} has no {RAW_ONNX}: write it with `specdl export {run_dir} --with-preprocessing`")
    return path
