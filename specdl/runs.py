"""A finished run directory, ready to use: the spec, the model with its best weights,
and the run's fitted preprocessing (never re-fitted)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import RunError, SpecError
from .inputs import check_finite, read_inputs  # noqa: F401 - predict's --input (specdl/inputs.py)

PREPROCESS = "preprocess.json"


def save_preprocess(run_dir: Path, spec, arrays) -> None:
    """What was fitted on the train split, as plain JSON."""
    def plain(state):
        return {k: np.asarray(v).tolist() for k, v in state.items()}

    data = {
        "transforms": [plain(s) for s in arrays.states],
        "target_transforms": [plain(s) for s in arrays.target_states],
        "categories": [c.tolist() for c in arrays.encoder.categories_] if arrays.encoder is not None else None,
        "class_names": arrays.class_names,
        "facts": spec.data.saved_facts(spec.seed),
    }
    (Path(run_dir) / PREPROCESS).write_text(json.dumps(data) + "\n")


PRE_KEYS = ("transforms", "target_transforms", "categories", "class_names")


def read_preprocess(path: Path) -> dict:
    """The run's preprocess.json, or one line saying it is damaged."""
    try:
        pre = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as e:
        raise RunError(f"{path} is damaged ({type(e).__name__}); restore it or build the run again") from None
    if not isinstance(pre, dict) or any(k not in pre for k in PRE_KEYS):
        raise RunError(f"{path} is not a specdl preprocessing file; restore it or build the run again")
    return pre


class LoadedRun:
    """``specdl.load_run(dir)``: ``.model`` (best weights, eval mode), ``.inputs(raw)``
    applies the run's preprocessing, ``.predict(raw)`` returns predictions."""

    def __init__(self, run_dir, checkpoint=None):
        from . import checkpoint as ckpt
        from .api import _analysis
        from .build import build_model

        from .api import load

        run_dir = Path(run_dir)
        if not (run_dir / "spec.yaml").exists():
            raise RunError(f"{run_dir} is not a specdl run directory (no spec.yaml)")
        if not (run_dir / PREPROCESS).exists():
            raise RunError(f"{run_dir} has no {PREPROCESS} (a run from an older specdl?); build it again")
        self.pre = read_preprocess(run_dir / PREPROCESS)
        try:
            spec = load(run_dir / "spec.yaml")
            spec.data.use_saved(self.pre.get("facts"))  # the data itself need not be at hand
            self.analysis = _analysis(spec)
        except SpecError as e:
            raise RunError(f"{run_dir}/spec.yaml no longer checks: {e.issues[0].message}") from None
        self.spec, self.run_dir = self.analysis.spec, run_dir
        path = Path(checkpoint) if checkpoint else run_dir / "best.pt"
        state = ckpt.load(path)
        if "model" in state and "optimizer" in state:  # a last.pt
            state = state["model"]
        self.model = build_model(self.analysis, seed=False)
        try:
            self.model.load_state_dict(state)
        except RuntimeError as e:
            first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
            raise RunError(f"{path} does not match the spec's model: {first}") from None
        self.model.eval()

    # -- preprocessing, exactly as in training
    def inputs(self, raw):
        """Raw features -> the model's input tensor (transforms as fitted in training)."""
        import torch

        data = self.spec.data
        if data.file_backed:
            return raw  # already transformed by image_inputs
        x = raw
        if data.source == "csv":
            x, cats = raw
        x = np.asarray(x, dtype=np.int64 if self.analysis.data.dtype == "int64" else np.float64)
        for t, s in zip(data.transforms, self.pre["transforms"]):
            x = t.apply(x, {k: np.asarray(v) for k, v in s.items()})
        if data.source == "csv" and self.pre["categories"] is not None:
            onehot = [(cats[:, j:j + 1] == np.asarray(c, dtype=object)[None, :]).astype(np.float64)
                      for j, c in enumerate(self.pre["categories"])]
            x = np.hstack([x, *onehot])
        x = torch.as_tensor(x, dtype=torch.int64 if self.analysis.data.dtype == "int64" else torch.float32)
        return check_finite(x, getattr(self, "rows", None))

    def outputs(self, x):
        import torch

        bs = self.spec.train.eval_chunk
        with torch.inference_mode():
            return torch.cat([self.model(x[i:i + bs]).float() for i in range(0, len(x), bs)])

    def predict(self, raw) -> dict:
        """{"prediction": [...], and "probabilities" (classification)}."""
        import torch

        out = self.outputs(self.inputs(raw))
        task, threshold = self.analysis.kind, self.spec.train.threshold
        if task == "binary":
            return binary_prediction(out, self.pre["class_names"], threshold)
        if task == "classification":
            last = self.analysis.graph.output.type
            probs = out if last == "softmax" else out.exp() if last == "log_softmax" else torch.softmax(out, 1)
            names = self.pre["class_names"] or [str(i) for i in range(out.shape[1])]
            return {"index": out.argmax(1).numpy(), "prediction": [names[i] for i in out.argmax(1).tolist()],
                    "probabilities": probs.numpy(), "classes": names}
        if task == "multilabel":
            probs = torch.sigmoid(out)
            return {"prediction": (probs >= threshold).long().numpy(), "probabilities": probs.numpy()}
        y = out.double().numpy()
        for t, s in reversed(list(zip(self.spec.data.target_transforms, self.pre["target_transforms"]))):
            y = t.invert(y, {k: np.asarray(v) for k, v in s.items()})
        return {"prediction": y}


def binary_prediction(out, names, threshold: float) -> dict:
    """One logit: the second class where its probability reaches ``threshold`` (train.threshold);
    the probabilities of both classes, as for any classifier."""
    import torch

    p = torch.sigmoid(out.reshape(len(out)))
    index = (p >= threshold).long()
    names = names or ["0", "1"]
    return {"index": index.numpy(), "prediction": [names[i] for i in index.tolist()],
            "probabilities": torch.stack([1 - p, p], 1).numpy(), "classes": names}


def write_predictions(pred: dict, out: Path | None, files=None) -> str:
    """CSV (or JSON for a .json path) of the predictions; returns the text."""
    rows = []
    n = len(pred["prediction"])
    for i in range(n):
        row = {"file": files[i]} if files else {}
        p = pred["prediction"][i]
        if "classes" in pred:
            row["prediction"] = p
            row.update({f"p_{c}": float(pred["probabilities"][i][j]) for j, c in enumerate(pred["classes"])})
        else:
            arr = np.atleast_1d(np.asarray(p)).reshape(-1)
            row.update({"prediction": float(arr[0])} if arr.size == 1 else
                       {f"prediction_{j}": float(v) for j, v in enumerate(arr)})
        rows.append(row)
    if out is not None and Path(out).suffix == ".json":
        text = json.dumps(rows, indent=1) + "\n"
    else:
        import csv

        buf = __import__("io").StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["prediction"])
        w.writeheader()
        w.writerows(rows)
        text = buf.getvalue()
    if out is not None:
        from .files import write_output

        write_output(out, text, "the predictions")
    return text
