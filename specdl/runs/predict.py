"""What `specdl predict` writes: the output format, the columns kept from the input, and
the prediction rows (CSV, JSON, .npy; several outputs: a column group per target, or an
.npz keyed by target)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import RunError

FORMATS = ("csv", "json", "npy", "npz")


def output_format(fmt: str | None, out, keep=()) -> str:
    """--format, else the --out file's suffix (.json, .npy, .npz), else CSV; an .npy or
    .npz file goes to --out and holds no kept columns."""
    if fmt is None:
        suffix = Path(out).suffix.lstrip(".").lower() if out is not None else ""
        fmt = suffix if suffix in FORMATS else "csv"
    if fmt in ("npy", "npz") and out is None:
        raise RunError(f"--format {fmt} writes a binary file: give it with --out PATH")
    if fmt in ("npy", "npz") and keep:
        raise RunError(f"--keep adds columns to CSV or JSON rows; an .{fmt} file holds the predictions only")
    return fmt


def check_format(fmt: str, run) -> None:
    """npy holds one run's one output; a run of several outputs writes an .npz keyed by target."""
    heads = list(run.analysis.heads or ())
    if fmt == "npy" and heads:
        raise RunError(f"--format npy holds one array; this run has several outputs ({', '.join(heads)}): use "
                       "--format npz (one array per target)")
    if fmt == "npz" and not heads:
        raise RunError("--format npz holds one array per target of a run of several outputs (data.targets); this "
                       "run has one: use --format npy")


def predict_file(path, out=None, fmt: str | None = None, keep=(), **run) -> tuple[int, str | bytes]:
    """`specdl predict`: a finished run's predictions (``run``: LoadedRun's arguments) for
    the inputs at ``path``, with the ``keep`` columns, written to ``out`` when given in
    ``fmt`` (``output_format``). Returns how many, and the text (or the .npy bytes)."""
    from .loaded import LoadedRun

    fmt = output_format(fmt, out, keep)  # refused before any work
    loaded = LoadedRun(**run)
    check_format(fmt, loaded)
    if out:
        from ..files import check_output

        check_output(out, "the predictions", inputs=[path, *loaded.reads], kept=loaded.kept)
    kept = kept_columns(loaded, path, keep)
    raw = loaded.read(path, exclude=keep)  # as specdl.predict reads it
    pred = loaded.predictions(loaded.model_inputs(raw), raw.source)
    return count(pred), write_predictions(pred, out, raw.files, fmt, kept)


def count(pred: dict) -> int:
    """How many samples ``pred`` (``LoadedRun.predictions``' dict) holds."""
    return len(next(iter(pred["heads"].values()))["prediction"] if "heads" in pred else pred["prediction"])


def kept_columns(run, path, keep) -> dict:
    """predict --keep: the named columns of a CSV input, text as written, one per row
    read; the output's own column names are refused."""
    from .inputs import csv_delimiter, read_columns

    if not keep:
        return {}
    if Path(path).suffix != ".csv" or run.spec.data.file_backed:
        raise RunError(f"--keep carries columns of a CSV input through; {path} is not a .csv file")
    own, heads = {"file", *output_columns(run)}, run.analysis.heads
    for name in keep:
        if name in own or (not heads and name.startswith("prediction_")):
            raise RunError(f"--keep {name}: the output has its own column `{name}`; rename the input column")
    return read_columns(path, list(dict.fromkeys(keep)), csv_delimiter(run, path))


def prediction_rows(pred: dict, files=None, kept: dict | None = None) -> list[dict]:
    """One dict per sample: the kept input columns (or the image file), then the
    prediction (and each class's probability); several outputs: each target's, its
    columns named by the target (``output_columns``)."""
    rows = []
    for i in range(count(pred)):
        row = {"file": files[i]} if files else {}
        row.update({name: cells[i] for name, cells in (kept or {}).items()})
        if "heads" in pred:
            for t, p in pred["heads"].items():
                row.update(_values(p, i, t, f"{t}.p_"))
        else:
            row.update(_values(pred, i))
        rows.append(row)
    return rows


def _values(pred: dict, i: int, name: str = "prediction", p: str = "p_") -> dict:
    """Sample ``i``'s columns of one output: ``name`` (and ``<p><class>``, the class's
    probability) or, for several values, ``<name>_<j>``."""
    value = pred["prediction"][i]
    if "classes" in pred:
        return {name: value, **{f"{p}{c}": float(pred["probabilities"][i][j]) for j, c in enumerate(pred["classes"])}}
    arr = np.atleast_1d(np.asarray(value)).reshape(-1)
    labels = pred.get("targets") or range(arr.size)
    return {name: float(arr[0])} if arr.size == 1 else {f"{name}_{j}": float(v) for j, v in zip(labels, arr)}


def columns_of(analysis, class_names, name: str = "prediction", p: str = "p_") -> dict:
    """One output's columns as ``_values`` writes them, {column: type}."""
    a = analysis
    if a.kind in ("classification", "binary"):
        names = class_names or [str(i) for i in range(a.data.classes)]
        return {name: str, **{f"{p}{c}": float for c in names}}
    width = a.data.classes if a.kind == "multilabel" else math.prod(a.label_shape or (1,))
    labels = a.target_names() or range(width)
    return {name: float} if width == 1 else {f"{name}_{j}": float for j in labels}


def output_columns(run) -> dict:
    """The columns of predict's rows for ``run`` (a SavedRun will do), {column: type}: the
    prediction's; several outputs: each target's, ``<target>`` and ``<target>.p_<class>``."""
    if not run.analysis.heads:
        return columns_of(run.analysis, run.pre["class_names"])
    names = run.pre["class_names"]
    return {c: k for t, h in run.analysis.heads.items() for c, k in columns_of(h, names[t], t, f"{t}.p_").items()}


def prediction_array(pred: dict):
    """What --format npy holds: the class probabilities [N, classes] (classification,
    multilabel), or the predictions in the data's units [N, ...] (regression)."""
    return np.asarray(pred["probabilities"] if "probabilities" in pred else pred["prediction"], dtype=np.float32)


def write_predictions(pred: dict, out: Path | None, files=None, fmt: str | None = None,
                      kept: dict | None = None) -> str | bytes:
    """The predictions as CSV, JSON (a list of rows), .npy or .npz (several outputs: an
    array per target, each as .npy holds one) (``output_format``), written to ``out`` when
    given; returns the text (or the file's bytes)."""
    fmt = output_format(fmt, out, kept)
    if fmt in ("npy", "npz"):
        buf = __import__("io").BytesIO()
        if fmt == "npz":
            np.savez(buf, **{t: prediction_array(p) for t, p in pred["heads"].items()})
        else:
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
        from ..files import write_output

        write_output(out, text, "the predictions")
    return text
