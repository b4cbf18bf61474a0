"""A finished run directory, ready to use: the spec, the model with its best weights,
and the run's fitted preprocessing (never re-fitted)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from .errors import RunError, SpecError, one_line
from .inputs import check_finite, check_raw, read_inputs  # noqa: F401 - predict's --input (specdl/inputs.py)

PREPROCESS = "preprocess.json"


def save_preprocess(run_dir: Path, spec, arrays) -> None:
    """What was fitted on the train split, as plain JSON (runtime/prepare.py's record,
    which a generated script writes too)."""
    from .runtime.prepare import preprocess_record

    data = preprocess_record(arrays.states, arrays.target_states, arrays.encoder, arrays.class_names,
                             spec.data.saved_facts(spec.seed))
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
    why = _facts_problem(pre.get("facts"))
    if why:
        raise RunError(f"{path} is damaged ({why}); restore it or build the run again")
    return pre


def _dims(v) -> bool:
    return isinstance(v, list) and bool(v) and all(type(n) is int and 0 < n < 2**31 for n in v)


def _facts_problem(facts) -> str | None:
    """What is wrong with preprocess.json's saved facts of the data (None: nothing, or none saved)."""
    from .sources.info import DataInfo

    if facts is None:
        return None
    info = facts.get("info") if isinstance(facts, dict) else None
    if not isinstance(info, dict) or not set(info) <= set(DataInfo.__dataclass_fields__) or not all(
            k in info for k in ("feat", "dtype", "task", "classes", "outputs")):
        return "its `facts` are not those of a data set"
    classes = info["classes"]
    if not _dims(info["feat"]) or (info["outputs"] is not None and not _dims(info["outputs"])) or (
            classes is not None and not _dims([classes])):
        return "the data's saved shapes are not positive whole numbers"
    if info["dtype"] not in ("float32", "int64") or info["task"] not in ("classification", "regression",
                                                                         "multilabel"):
        return "the data's saved dtype or task is not one specdl writes"
    cols = facts.get("columns")
    if cols is not None and not (isinstance(cols, list) and len(cols) == 2 and all(
            isinstance(c, list) and all(isinstance(n, str) for n in c) for c in cols)):
        return "the saved CSV columns are not two lists of names"
    return None


def check_saved(path: Path, pre: dict, analysis) -> None:
    """preprocess.json against the run's spec: one fitted state per transform, each with
    the keys and shapes a fit on the run's shapes gives, of finite numbers; one class name
    per class. An edited file is one line, never a traceback or a silent broadcast."""
    why = _states_problem(pre, analysis) or _names_problem(pre["class_names"], analysis)
    if why:
        raise RunError(f"{path} does not fit the run's spec ({why}); restore it or build the run again")


def _states_problem(pre: dict, analysis) -> str | None:
    data = analysis.spec.data
    for key in ("transforms", "target_transforms"):
        states, steps = pre[key], getattr(data, key)
        if data.file_backed and key == "transforms":
            steps = []  # image transforms fit nothing
        if not isinstance(states, list) or len(states) != len(steps) or not all(isinstance(x, dict) for x in states):
            return f"`{key}` is not one fitted state for each of the spec's {len(steps)} {key}"
        for t, state in zip(steps, states):
            for k, v in state.items():
                try:
                    ok = np.isfinite(np.asarray(v, dtype=np.float64)).all()
                except (TypeError, ValueError):
                    ok = False
                if not ok:
                    return f"{t.type_name}'s `{k}` holds other than finite numbers"
    for t, state, want in zip(data.transforms, pre["transforms"], _probe_states(analysis) or []):
        shapes = {k: list(np.shape(v)) for k, v in state.items()}
        wanted = {k: list(np.shape(v)) for k, v in want.items()}
        if shapes != wanted:
            return f"the fitted {t.type_name} is {shapes}; the run's data gives {wanted}"
    return None


def _probe_states(analysis) -> list | None:
    """What the run's transforms fit on zeros of its per-sample shape (None for image data)."""
    from .runtime.prepare import fit_transforms

    data = analysis.spec.data
    if data.file_backed or not data.transforms:
        return None
    raw = (len(data.columns()[0]),) if data.source == "csv" else tuple(data.facts(analysis.spec.seed).feat)
    try:
        return fit_transforms({"train": np.zeros((2, *raw))}, [t.step() for t in data.transforms])[1]
    except Exception:  # noqa: BLE001 - shapes the transforms refuse: check said so already
        return None


def _names_problem(names, analysis) -> str | None:
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return "`class_names` is not a list of names"
    if analysis.task == "classification" and len(names) != analysis.data.classes:
        return f"{len(names)} class names for {analysis.data.classes} classes"
    return None


def unseen_notes(names, cats, onehot) -> None:
    """One note per categorical column holding categories the train split never saw
    (encoded as all zeros, as in training): how many rows, and which values."""
    import sys

    for j, name in enumerate(names):
        rows = np.flatnonzero(onehot[j].sum(axis=1) == 0)
        if len(rows):
            values = list(dict.fromkeys(cats[rows, j].tolist()))
            shown = ", ".join(repr(v)[:40] for v in values[:3])
            shown += f" and {len(values) - 3} more" if len(values) > 3 else ""
            print(one_line(f"specdl: note: `{name}`: {len(rows)} of {len(cats)} rows hold {len(values)} "
                           f"categor{'y' if len(values) == 1 else 'ies'} the run's train split never saw "
                           f"({shown}); they encode as all zeros"), file=sys.stderr)



def _written(run_dir) -> list:
    from .rundir import written

    return written(run_dir)


def run_files(run_dir=None, checkpoint=None, spec=None, preprocess=None) -> tuple[Path, Path, Path]:
    """(spec, preprocessing file, checkpoint) of a run directory, or as given: a spec with
    the checkpoint and preprocess.json a generated script writes (<name>.best.pt,
    <name>.preprocess.json). Anything missing is one line saying what to give."""
    if run_dir is not None and (spec is not None or preprocess is not None):
        raise RunError("give a run directory, or a spec with its --checkpoint and --preprocess; not both")
    if run_dir is None:
        if spec is None or checkpoint is None or preprocess is None:
            raise RunError("give a run directory, or --spec SPEC --checkpoint C --preprocess P together (a "
                           "generated script writes <name>.best.pt and <name>.preprocess.json beside it)")
        for what, path in (("spec", spec), ("preprocessing file", preprocess)):
            if not Path(path).is_file():
                from .errors import no_such

                raise RunError(f"{path} is a folder, not the {what}" if Path(path).is_dir()
                               else no_such(path, f"the {what}"))
        return Path(spec), Path(preprocess), Path(checkpoint)
    run_dir = Path(run_dir)
    if not (run_dir / "spec.yaml").exists():
        from .errors import not_a_run

        raise RunError(not_a_run(run_dir))
    if not (run_dir / PREPROCESS).exists():
        raise RunError(f"{run_dir} has no {PREPROCESS} (a run from an older specdl?); build it again")
    return run_dir / "spec.yaml", run_dir / PREPROCESS, Path(checkpoint) if checkpoint else run_dir / "best.pt"


class LoadedRun:
    """``specdl.load_run(dir)``: ``.model`` (best weights, eval mode), ``.inputs(x)``
    applies the run's preprocessing, ``.predict(x)`` returns predictions. ``x``: what
    `specdl predict --input` reads (a path) or rows in memory (specdl/given.py). A
    generated script's outputs stand for a run directory: ``spec``, ``checkpoint`` and
    ``preprocess`` (its <name>.preprocess.json)."""

    def __init__(self, run_dir=None, checkpoint=None, spec=None, preprocess=None):
        from . import checkpoint as ckpt
        from .front import analysis_of as _analysis
        from .front import load

        spec_path, pre_path, path = run_files(run_dir, checkpoint, spec, preprocess)
        self.pre = read_preprocess(pre_path)
        try:
            spec = load(spec_path)
            spec.data.use_saved(self.pre.get("facts"))  # the data itself need not be at hand
            self.analysis = _analysis(spec)
        except SpecError as e:
            said = "no longer checks" if run_dir is not None else "does not check"
            raise RunError(f"{spec_path} {said}: {e.issues[0].message}") from None
        check_saved(pre_path, self.pre, self.analysis)
        self.spec, self.run_dir = self.analysis.spec, Path(run_dir) if run_dir is not None else None
        self.rows, self.files, self.source = [], None, "the given inputs"  # set by each read
        self.notes = True  # unseen categories noted (not while export verifies with one of its own)
        self.reads = [spec_path, pre_path, path]  # what an --out must not overwrite
        self.kept = [] if run_dir is None else _written(run_dir)  # nor what specdl wrote in the run
        state = ckpt.load(path)  # refused before torch is imported where the file is missing
        if "model" in state and "optimizer" in state:  # a last.pt
            state = state["model"]
        from .build import build_model

        self.model = build_model(self.analysis, seed=False)
        try:
            self.model.load_state_dict(state)
        except RuntimeError as e:
            first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
            raise RunError(f"{path} does not match the spec's model: {first}") from None
        self.model.eval()
        from .rundir import older_run_note

        note = older_run_note(self.run_dir) if self.run_dir is not None else None
        if note:
            print(note, file=sys.stderr)

    # -- preprocessing, exactly as in training
    def read(self, x, exclude=()):
        """The run's raw inputs from anything predict takes: a path as `specdl predict
        --input` reads it, or rows, arrays, images in memory (specdl/given.py)."""
        from .given import read_given

        return read_given(self, x, exclude)

    def inputs(self, x):
        """Anything predict takes -> the model's input tensor (transforms as fitted in training)."""
        return self.model_inputs(self.read(x))

    def model_inputs(self, raw):
        """Raw inputs as ``read`` gives them -> the model's input tensor."""
        import torch

        data = self.spec.data
        if data.file_backed:
            return raw  # already transformed by image_inputs
        x, cats = raw if data.source == "csv" else (raw, None)
        x = check_raw(self, np.asarray(x, dtype=np.int64 if self.analysis.data.dtype == "int64" else np.float64))
        first = x
        for t, s in zip(data.transforms, self.fitted("transforms")):
            x = t.apply(x, s)
        if data.source == "csv" and self.pre["categories"] is not None:
            onehot = [(cats[:, j:j + 1] == np.asarray(c, dtype=object)[None, :]).astype(np.float64)
                      for j, c in enumerate(self.pre["categories"])]
            if self.notes:
                unseen_notes(data.columns()[1], cats, onehot)
            x = np.hstack([x, *onehot])
        x = torch.as_tensor(x, dtype=torch.int64 if self.analysis.data.dtype == "int64" else torch.float32)
        return check_finite(self, x, first)

    def outputs(self, x):
        import torch

        bs = self.spec.train.eval_chunk
        try:
            with torch.inference_mode():
                return torch.cat([self.model(x[i:i + bs]).float() for i in range(0, len(x), bs)])
        except (RuntimeError, IndexError, ValueError, TypeError) as e:  # what the checks of specdl/inputs.py let through
            if "allocate" in str(e):
                raise
            raise RunError(f"the model cannot take the inputs of {self.source}: "
                           f"{str(e).splitlines()[0][:200]}") from None

    def predict(self, x) -> dict:
        """{"prediction": [...], and "probabilities" (classification)} for anything
        `read` takes."""
        return self.predictions(self.inputs(x))

    def predictions(self, x) -> dict:
        """Predictions for model inputs ``x`` (``model_inputs``)."""
        import torch

        out = self.outputs(x)
        task, threshold = self.analysis.kind, self.spec.train.threshold
        if task in ("classification", "binary"):
            probs = self.probabilities(out)
            # one logit: the second class where its probability reaches train.threshold
            index = (probs[:, 1] >= threshold).long() if task == "binary" else out.argmax(1)
            names = self.pre["class_names"] or [str(i) for i in range(probs.shape[1])]
            return {"index": index.numpy(), "prediction": [names[i] for i in index.tolist()],
                    "probabilities": probs.numpy(), "classes": names}
        if task == "multilabel":
            probs = torch.sigmoid(out)
            return {"prediction": (probs >= threshold).long().numpy(), "probabilities": probs.numpy()}
        names = self.analysis.target_names()  # several named targets: a column each (prediction_<name>)
        return {"prediction": self.invert_targets(out.double().numpy()), **({"targets": names} if names else {})}

    def probabilities(self, out):
        """Class probabilities from the model's outputs (torch ops: the ONNX graph of
        ``export --with-preprocessing`` runs this too). One logit (binary): both classes'."""
        import torch

        if self.analysis.kind == "binary":
            p = torch.sigmoid(out.reshape(-1))  # not len(out): an export would fix the batch
            return torch.stack([1 - p, p], 1)
        last = self.analysis.graph.output.type
        return out if last == "softmax" else out.exp() if last == "log_softmax" else torch.softmax(out, 1)

    def fitted(self, key: str) -> list:
        """The fitted states of ``transforms`` or ``target_transforms``, as arrays."""
        return [{k: np.asarray(v) for k, v in s.items()} for s in self.pre[key]]

    def invert_targets(self, y):
        """Model outputs -> the data's units (the target transforms undone, last first)."""
        from .runtime.prepare import invert

        return invert(y, [t.step() for t in self.spec.data.target_transforms], self.fitted("target_transforms"))

    def transform_targets(self, y):
        """Targets in the data's units -> as the loss saw them in training."""
        for t, s in zip(self.spec.data.target_transforms, self.fitted("target_transforms")):
            y = t.apply(y, s)
        return y


FORMATS = ("csv", "json", "npy")


def output_format(fmt: str | None, out, keep=()) -> str:
    """--format, else the --out file's suffix (.json, .npy), else CSV; an .npy file
    goes to --out and holds no kept columns."""
    if fmt is None:
        suffix = Path(out).suffix.lstrip(".").lower() if out is not None else ""
        fmt = suffix if suffix in FORMATS else "csv"
    if fmt == "npy" and out is None:
        raise RunError("--format npy writes a binary file: give it with --out PATH")
    if fmt == "npy" and keep:
        raise RunError("--keep adds columns to CSV or JSON rows; an .npy file holds the predictions only")
    return fmt


def kept_columns(run, path, keep) -> dict:
    """predict --keep: the named columns of a CSV input, text as written, one per row
    read; the output's own column names are refused."""
    from .inputs import csv_delimiter, read_columns

    if not keep:
        return {}
    if Path(path).suffix != ".csv" or run.spec.data.file_backed:
        raise RunError(f"--keep carries columns of a CSV input through; {path} is not a .csv file")
    own = {"file", "prediction"} | {f"p_{c}" for c in run.pre["class_names"] or []}
    for name in keep:
        if name in own or name.startswith("prediction_"):
            raise RunError(f"--keep {name}: the output has its own column `{name}`; rename the input column")
    return read_columns(path, list(dict.fromkeys(keep)), csv_delimiter(run))


def prediction_rows(pred: dict, files=None, kept: dict | None = None) -> list[dict]:
    """One dict per sample: the kept input columns (or the image file), then the
    prediction (and each class's probability)."""
    rows = []
    for i in range(len(pred["prediction"])):
        row = {"file": files[i]} if files else {}
        row.update({name: cells[i] for name, cells in (kept or {}).items()})
        p = pred["prediction"][i]
        if "classes" in pred:
            row["prediction"] = p
            row.update({f"p_{c}": float(pred["probabilities"][i][j]) for j, c in enumerate(pred["classes"])})
        else:
            arr = np.atleast_1d(np.asarray(p)).reshape(-1)
            labels = pred.get("targets") or range(arr.size)
            row.update({"prediction": float(arr[0])} if arr.size == 1 else
                       {f"prediction_{j}": float(v) for j, v in zip(labels, arr)})
        rows.append(row)
    return rows


def prediction_array(pred: dict):
    """What --format npy holds: the class probabilities [N, classes] (classification,
    multilabel), or the predictions in the data's units [N, ...] (regression)."""
    return np.asarray(pred["probabilities"] if "probabilities" in pred else pred["prediction"], dtype=np.float32)


def write_predictions(pred: dict, out: Path | None, files=None, fmt: str | None = None,
                      kept: dict | None = None) -> str | bytes:
    """The predictions as CSV, JSON (a list of rows) or .npy (``output_format``), written
    to ``out`` when given; returns the text (or the .npy bytes)."""
    fmt = output_format(fmt, out, kept)
    if fmt == "npy":
        buf = __import__("io").BytesIO()
        np.save(buf, prediction_array(pred), allow_pickle=False)
        text = buf.getvalue()
    else:
        rows = prediction_rows(pred, files, kept)
        if fmt == "json":
            text = json.dumps(rows, indent=1) + "\n"
        else:
            import csv

            sio = __import__("io").StringIO()
            w = csv.DictWriter(sio, fieldnames=list(rows[0]) if rows else ["prediction"])
            w.writeheader()
            w.writerows(rows)
            text = sio.getvalue()
    if out is not None:
        from .files import write_output

        write_output(out, text, "the predictions")
    return text
