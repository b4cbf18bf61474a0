"""What `specdl predict` writes: the output format, the columns kept from the input, and
the prediction rows (CSV, JSON or .npy)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import RunError

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


def predict_file(path, out=None, fmt: str | None = None, keep=(), **run) -> tuple[int, str | bytes]:
    """`specdl predict`: a finished run's predictions (``run``: LoadedRun's arguments) for
    the inputs at ``path``, with the ``keep`` columns, written to ``out`` when given in
    ``fmt`` (``output_format``). Returns how many, and the text (or the .npy bytes)."""
    from .loaded import LoadedRun

    output_format(fmt, out, keep)  # refused before any work
    loaded = LoadedRun(**run)
    if out:
        from ..files import check_output

        check_output(out, "the predictions", inputs=[path, *loaded.reads], kept=loaded.kept)
    kept = kept_columns(loaded, path, keep)
    raw = loaded.read(path, exclude=keep)  # as specdl.predict reads it
    pred = loaded.predictions(loaded.model_inputs(raw), raw.source)
    return len(pred["prediction"]), write_predictions(pred, out, raw.files, fmt, kept)


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
        from ..files import write_output

        write_output(out, text, "the predictions")
    return text
