"""What ``predict`` is given, read into a run's raw inputs: a path (what `specdl predict
--input` reads, through specdl/runs/inputs.py), or the same in memory: rows as dicts keyed by
column name (written as a CSV and read by the CSV path itself), a NumPy array (or a list
of lists, or a torch tensor), PIL images. One reading path for the CLI and the API; every
problem is one RunError. What is read is a ``RawInputs`` (specdl/runs/inputs.py)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import RunError
from .inputs import (
    RawInputs,
    _check_array,
    csv_array,
    csv_delimiter,
    expected_shape,
    read_inputs,
    transformed_images,
)
from .named import all_columns, read_named

LINE_END = re.compile(r"\r\n|\r|\n")  # what the csv module's reader counts as a line
TAKES = ("a path (.csv, .npy, .npz, an image or a folder), rows as dicts keyed by column name, "
         "a NumPy array")


def read_given(run, x, exclude=()) -> RawInputs:
    """The run's raw inputs from anything predict takes (``exclude``: CSV columns that
    are not features, for runs that take every column of a CSV)."""
    if isinstance(x, RawInputs):  # read already (read_inputs): where they came from stays
        return x
    if run.spec.data.file_backed and hasattr(x, "detach") and tuple(x.shape[1:]) == expected_shape(run) \
            and x.is_floating_point():  # model inputs already (transformed images)
        return RawInputs(x, [f"row {i}" for i in range(len(x))])
    if run.analysis.graph.named:
        return _named(run, x, exclude)
    if isinstance(x, (str, os.PathLike)):
        return replace(read_inputs(run, x, exclude), source=str(x))
    if run.spec.data.file_backed:
        return _images(run, x)
    if _is_image(x) or (isinstance(x, list) and x and all(_is_image(i) for i in x)):
        raise RunError("this run takes rows of numbers, not images: give " + TAKES)
    if isinstance(x, Mapping):
        x = [x]
    if isinstance(x, list) and x and all(isinstance(r, Mapping) for r in x):
        return dict_rows(run, x, exclude)
    if isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], np.ndarray) and run.spec.data.source == "csv":
        return _pair(run, *x)
    arr = _array(x)
    rows = [f"row {i}" for i in range(len(arr))] if arr.ndim else []
    if run.spec.data.source == "csv":
        return RawInputs(csv_array(run, arr, "the given array"), rows)
    return RawInputs(_check_array(run, arr, "the array", rows), rows)


def _named(run, x, exclude) -> RawInputs:
    """A named-input run's inputs in memory: ``{input name: values}``, or (a CSV run)
    rows as dicts keyed by column."""
    from .named import from_mapping, input_names, takes

    if isinstance(x, (str, os.PathLike)):
        return replace(read_named(run, Path(x)), source=str(x))
    csv = run.spec.data.source == "csv"
    if isinstance(x, Mapping) and (not csv or any(k in input_names(run) for k in x) and all(
            not isinstance(v, (str, int, float)) and v is not None for v in x.values())):
        return from_mapping(run, x)
    if csv:
        if isinstance(x, Mapping):
            x = [x]
        if isinstance(x, list) and x and all(isinstance(r, Mapping) for r in x):
            return dict_rows(run, x, exclude)
    raise RunError(f"this run takes named inputs: give {takes(run)}; not {type(x).__name__}")


def _is_image(x) -> bool:
    return hasattr(x, "convert") and hasattr(x, "size") and hasattr(x, "mode")  # a PIL image


def _array(x) -> np.ndarray:
    """Numbers in memory as an array: a NumPy array, a torch tensor, nested lists."""
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor
        x = x.detach().cpu().numpy()
    if not isinstance(x, (np.ndarray, list, tuple)):
        raise RunError(f"predict takes {TAKES}; not {type(x).__name__}")
    if isinstance(x, (list, tuple)) and not len(x):
        raise RunError("no inputs: the list is empty")
    if isinstance(x, (list, tuple)) and any(isinstance(r, Mapping) for r in x):
        raise RunError("the rows mix dicts with other values; give every row as a dict keyed by column name")
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError):
        raise RunError("the rows are not all of one length (or not all numbers); give one list of numbers "
                       "per sample, each as long as the others") from None
    if arr.dtype.kind not in "biuf":
        raise RunError(f"the array holds {arr.dtype} values; give numbers")
    return arr


def _pair(run, numeric, cats) -> RawInputs:
    """(numeric columns [N, n], categorical columns [N, c] as text): a CSV run's raw form."""
    names, cat_names = run.spec.data.columns()
    num = _array(numeric)
    cat = np.empty((len(num), 0), dtype=object) if cats is None else np.asarray(cats, dtype=object)
    if num.shape[1:] != (len(names),) or cat.shape != (len(num), len(cat_names)):
        raise RunError(f"(numeric, categorical) inputs are [N, {len(names)}] numbers and [N, {len(cat_names)}] "
                       f"texts for this run; these are {list(num.shape)} and {list(cat.shape)}")
    return RawInputs((num.astype(np.float64), cat), [f"row {i}" for i in range(len(num))])


def _cell(value, i: int, key) -> str:
    """A value of a row as the CSV cell that says it (None: blank, a missing value)."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:  # a lone surrogate (JSON's "\\ud800"): no text a CSV can hold
            raise RunError(f"row {i}, `{key}` holds {value[e.start]!r} (half of a UTF-16 pair), not text; "
                           "send UTF-8 text") from None
        return value
    if isinstance(value, (float, np.floating)):
        return repr(float(value))  # every digit (a float32's too): the value an array would give
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    raise RunError(f"row {i}, `{key}` holds {type(value).__name__} {str(value)[:40]!r}; give a number, "
                   "a text or None (a missing value)")


def dict_rows(run, rows, exclude=()) -> RawInputs:
    """Rows as dicts, through the CSV reader itself: written as a CSV of the columns the
    run reads (a CSV run's by name; otherwise the first row's keys, in order)."""
    import csv
    import tempfile

    data = run.spec.data
    keys = [k for k in rows[0] if k not in exclude]
    names = [*sum(data.columns(), [])] if data.source == "csv" else keys
    if run.analysis.graph.named:
        names = all_columns(run)
    for i, row in enumerate(rows):
        absent = [f"`{n}`" for n in names if n not in row]
        if absent and data.source == "csv":
            raise RunError(f"row {i} has no {', '.join(absent)[:160]}; this run reads the columns "
                           f"{', '.join(names)[:200]} (None for a missing value)")
        if data.source != "csv" and [k for k in row if k not in exclude] != keys:
            raise RunError(f"row {i} has the keys {', '.join(map(str, row))[:160]}, row 0 {', '.join(keys)[:160]}; "
                           "give every row the same keys in the same order (each a feature, in the model's order)")
    with tempfile.TemporaryDirectory() as tmp:
        path, ends = Path(tmp) / "rows.csv", {}
        with open(path, "w", newline="", encoding="utf-8") as f:
            # "\r\n" ends a row: a cell holding "\r" (a line end to the reader) is quoted too
            w, line = csv.writer(f, delimiter=csv_delimiter(run), lineterminator="\r\n"), 1
            w.writerow(names)
            for i, row in enumerate(rows):
                cells = [_cell(row[n], i, n) for n in names]
                line += 1 + sum(len(LINE_END.findall(c)) for c in cells)
                ends[line] = i
                w.writerow(cells)
        try:
            raw = read_named(run, path, "") if run.analysis.graph.named else read_inputs(run, path, exclude)
        except RunError as e:
            raise RunError(_as_rows(str(e), path, ends)) from None
    return replace(raw, rows=[_as_rows(r, path, ends) for r in raw.rows])


def _as_rows(text: str, path: Path, ends: dict) -> str:
    """A message about the written CSV, about the rows instead: `line N` -> `row i`."""
    text = re.sub(re.escape(str(path)) + r" line (\d+)", lambda m: f"row {ends.get(int(m[1]), m[1])}", text)
    return text.replace(str(path), "the list of rows")


def _images(run, x) -> RawInputs:
    """PIL images in memory, one or a list."""
    items = list(x) if isinstance(x, (list, tuple)) else [x]
    if not items or not all(map(_is_image, items)):
        raise RunError(f"this run takes images: give an image file or a folder, a PIL image or a list of them, "
                       f"not {type(x).__name__}" + (" (a NumPy image: PIL.Image.fromarray(a))"
                                                    if isinstance(x, np.ndarray) else ""))
    return transformed_images(run, [(f"image {i}", im) for i, im in enumerate(items)])
