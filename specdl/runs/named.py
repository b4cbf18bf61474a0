"""Named-input runs (spec 12.1, 12.5) at predict, evaluate, export and serve: each data
input read (a CSV's columns by the run's spec, an .npz keyed by input name, in memory a
mapping of input names to values) into a ``RawInputs`` whose ``x`` is name -> raw array,
and the run's saved preprocessing applied per input (token ids from the saved vocabulary
and length, category indices, the numeric transforms as fitted: runtime/csv_inputs.py's
and runtime/text.py's functions, never re-fitted). Unseen tokens and categories are
counted in one note line. Every problem is one RunError naming the file, row and input."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import RunError, did_you_mean, one_line
from ..runtime.csv import missing_cell
from .inputs import RawInputs, applied, past_float32, saved_states


def is_named(run) -> bool:
    """Whether the run's model takes named inputs (``data.inputs``)."""
    return bool(run.analysis.graph.named)


def input_names(run) -> list[str]:
    return [i.name for i in run.analysis.data.inputs]


def csv_columns(run) -> dict:
    """A CSV run's inputs: name -> (kind, its columns)."""
    from ..sources.csv_inputs import columns_of, kind_of

    return {name: (kind_of(how), columns_of(how)) for name, how in run.spec.data.inputs.items()}


def all_columns(run) -> list[str]:
    """The CSV columns a named-input run reads, in its inputs' order."""
    return [c for _, cols in csv_columns(run).values() for c in cols]


def takes(run, memory: bool = True) -> str:
    """What the run takes, in words (the end of a message); ``memory``: in Python too."""
    names = ", ".join(input_names(run))
    if run.spec.data.source == "csv":
        return f"a .csv with the columns {', '.join(all_columns(run))[:200]}" + (
            f", rows as dicts keyed by column, or a mapping of its inputs ({names}) to their values" if memory else "")
    return f"an .npz with one array per input, keyed by its name ({names})" + (
        ", or a mapping of them to arrays" if memory else "")


def read_named(run, path: Path, folder=None) -> RawInputs:
    """A named-input run's raw inputs from a file: a CSV run's .csv (its image paths taken
    from ``folder``, by default the CSV's own: spec 12.5), an .npz keyed by name."""
    from ..errors import no_such
    from ..files import file_problem

    why = file_problem(path) if path.exists() else no_such(path, "the input")
    if why:
        raise RunError(why)
    if path.suffix == ".csv" and run.spec.data.source == "csv":
        return _csv(run, path, path.parent if folder is None else folder)
    if path.suffix == ".npz" and run.spec.data.source != "csv":
        return _npz(run, path)
    raise RunError(f"cannot read {path} for this run: it takes named inputs; give {takes(run, memory=False)}")


def _csv(run, path: Path, folder) -> RawInputs:
    from ..runtime.csv import read_header
    from ..runtime.csv_inputs import read_inputs
    from .inputs import csv_delimiter, unique_header

    delimiter = csv_delimiter(run, path)
    try:
        header = read_header(path, delimiter)
    except ValueError as e:  # a cell the csv module refuses
        raise RunError(str(e)) from None
    if not header:
        raise RunError(f"{path} is empty; give a header row and one row per sample")
    unique_header(path, header)
    columns = csv_columns(run)
    for name, (_, cols) in columns.items():
        for c in cols:
            if c not in header:
                raise RunError(f"{path} has no column `{c}` (the input `{name}` reads it); its columns are: "
                               f"{', '.join(header)[:200]}")
    try:
        x, lines = read_inputs(str(path), None, columns, False, delimiter)
    except ValueError as e:
        raise RunError(str(e)) from None
    if not len(lines):
        raise RunError(f"{path} holds no rows under its header")
    for name, (kind, _) in columns.items():  # an absolute path stays as it is, as build's image_paths
        if kind == "image":
            x[name] = np.array([os.path.join(folder, c) if c else "" for c in x[name]], dtype=object)
    return RawInputs(x, [f"{path} line {n}" for n in lines])


def _npz(run, path: Path) -> RawInputs:
    from ..sources.npz import NpzProblem, read_npz

    names = input_names(run)
    try:
        with np.load(path, allow_pickle=False) as f:
            held = list(getattr(f, "files", []))
    except Exception:  # noqa: BLE001 - read_npz says what is wrong with the file
        held = names
    for name in names:
        if name not in held:
            raise RunError(f"{path} has no array `{name}`" + did_you_mean(name, held) + f" (it holds "
                           f"{', '.join(held)[:120] or 'none'}); key one array per input by its name: {', '.join(names)}")
    try:
        arrays = read_npz(path, *names, fields=names)
    except NpzProblem as e:
        raise RunError(str(e)) from None
    x = dict(zip(names, arrays))
    rows = [f"{path} row {i}" for i in range(_count(x, str(path)))]
    return RawInputs(check_arrays(run, x, str(path), rows), rows)


def _count(x: dict, where: str) -> int:
    """The samples every input holds alike (a scalar or a mismatch: an error)."""
    sizes = {k: (len(v) if np.ndim(v) else None) for k, v in x.items()}
    if None in sizes.values() or len(set(sizes.values())) != 1:
        shown = ", ".join(f"`{k}` {n if n is not None else 'a scalar'}" for k, n in sizes.items())
        raise RunError(f"{where}: the inputs hold different numbers of samples ({shown}); give one row per "
                       "sample in each")
    n = next(iter(sizes.values()))
    if not n:
        raise RunError(f"{where} holds no samples")
    return n


def check_arrays(run, x: dict, where: str, rows) -> dict:
    """An array run's inputs (synthetic, npz): each of the per-sample shape the model
    takes, numbers, int64 inputs whole ids within each embedding that reads them."""
    out = {}
    for info in run.analysis.data.inputs:
        a = np.asarray(x[info.name])
        if a.dtype.kind not in "biuf":
            raise RunError(f"{where}: the input `{info.name}` holds {a.dtype} values; give numbers")
        if tuple(a.shape[1:]) != tuple(info.feat):
            raise RunError(f"{where}: the input `{info.name}` holds samples of shape {list(a.shape[1:])}; the model "
                           f"takes {list(info.feat)} per sample ([N, {', '.join(map(str, info.feat))}])")
        if info.dtype == "int64":
            if a.dtype.kind == "f" and not (np.isfinite(a).all() and (a % 1 == 0).all()):
                raise RunError(f"{where}: the input `{info.name}` holds fractional or NaN values; it takes whole "
                               "token ids")
            _check_ids(run, info.name, a, rows)
        out[info.name] = a
    return out


def _check_ids(run, name: str, x, rows) -> None:
    """Ids within the vocabulary of each embedding that reads the input ``name``."""
    for node in run.analysis.graph.nodes:
        n = getattr(node.layer, "num_embeddings", None) if name in node.inputs else None
        bad = np.argwhere((x < 0) | (x >= n)) if n is not None else []
        if len(bad):
            r, *at = (int(v) for v in bad[0])
            raise RunError(f"{rows[r] if r < len(rows) else f'row {r}'}: the input `{name}` holds the id "
                           f"{x[(r, *at)]:g}; the embedding `{node.name}` takes ids 0..{n - 1}")


def from_mapping(run, x: Mapping) -> RawInputs:
    """``{input name: values}`` in memory (the API, and serve's ``inputs`` form): a CSV
    run's texts and categories as strings (None: missing), numbers as [N, k] (or [N] for
    one column); an array run's arrays."""
    names = input_names(run)
    absent, extra = [n for n in names if n not in x], [str(k) for k in x if k not in names]
    if absent or extra:
        got = f"no {', '.join(f'`{n}`' for n in absent)}" if absent else f"`{extra[0]}`, not an input"
        raise RunError(f"the inputs hold {got}" + (did_you_mean(extra[0], names) if extra and not absent else "")
                       + f"; this run's inputs are {', '.join(names)}")
    if run.spec.data.source != "csv":
        arrays = {n: _numbers(x[n], n) for n in names}
        rows = [f"row {i}" for i in range(_count(arrays, "the given inputs"))]
        return RawInputs(check_arrays(run, arrays, "the given inputs", rows), rows)
    raw = {}
    for name, (kind, cols) in csv_columns(run).items():
        raw[name] = (_columns(_numbers(x[name], name), name, cols) if kind == "numeric" else _pictures(x[name], name)
                     if kind == "image" else _strings(x[name], name))
    return RawInputs(raw, [f"row {i}" for i in range(_count(raw, "the given inputs"))])


def _numbers(values, name: str) -> np.ndarray:
    """Numbers in memory (a list, nested lists with None for a missing value, an array,
    a tensor) as an array; anything else is one line."""
    if hasattr(values, "detach") and hasattr(values, "numpy"):  # a torch tensor
        values = values.detach().cpu().numpy()
    try:
        a = np.asarray(values)
        if a.dtype == object:
            a = np.where(np.equal(a, None), np.nan, a).astype(np.float64)
    except (ValueError, TypeError):
        a = None
    if a is None or a.dtype.kind not in "biuf" or not a.ndim:
        odd = _odd_sample(values)
        raise RunError((f"row {odd}, input `{name}` holds other than numbers, or not as many as row 0"
                        if odd is not None else f"the input `{name}` holds other than numbers (or rows of unequal "
                                                "length)") + "; give one list of numbers per sample")
    return a


def _odd_sample(values) -> int | None:
    """The first sample of ``values`` that is not numbers (None: missing) of sample 0's
    shape, where there is one."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        return None
    shape = None
    for i, v in enumerate(values):
        try:
            now = np.shape(np.asarray(v, dtype=np.float64))
        except (ValueError, TypeError):
            return i
        if shape is not None and now != shape:
            return i
        shape = now
    return None


def _columns(a: np.ndarray, name: str, cols) -> np.ndarray:
    """A numeric input's values as [N, columns] floats (NaN: missing)."""
    if a.ndim == 1 and len(cols) == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] != len(cols):
        raise RunError(f"the input `{name}` is {list(a.shape)}; it reads the columns {', '.join(cols)}: give "
                       f"[N, {len(cols)}] numbers")
    return a.astype(np.float64)


def _strings(values, name: str) -> np.ndarray:
    """A text or categorical input's cells as stripped strings ("" for None)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise RunError(f"the input `{name}` is one {type(values).__name__}; give a list, one text per sample")
    out = []
    for i, v in enumerate(values):
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            v = str(int(v))
        if v is not None and not isinstance(v, str):
            raise RunError(f"row {i}, input `{name}` holds {type(v).__name__} {str(v)[:40]!r}; give a text or None")
        out.append("" if v is None or missing_cell(v) else v.strip())  # "NA", "?": missing, as in a CSV
    return np.array(out, dtype=object)


def _pictures(values, name: str) -> np.ndarray:
    """An image input's values in memory: file paths (taken from the working folder) or
    PIL images."""
    if isinstance(values, (str, bytes, os.PathLike)) or hasattr(values, "convert") or not hasattr(values, "__len__"):
        raise RunError(f"the input `{name}` is one {type(values).__name__}; give a list, one image per sample")
    for i, v in enumerate(values):
        if not isinstance(v, (str, os.PathLike)) and not hasattr(v, "convert"):
            raise RunError(f"row {i}, input `{name}` holds {type(v).__name__}; give an image file's path or a PIL image")
    out = np.empty(len(values), dtype=object)
    out[:] = [v if hasattr(v, "convert") else str(v) for v in values]
    return out


def model_inputs(run, raw: RawInputs, ids: bool = False, pictures=None):
    """A named-input run's raw inputs -> the model's ``Inputs`` (runtime/inputs.py),
    preprocessed as in training with what the run saved; unseen tokens and categories
    counted in one note (while ``run.notes``). ``ids``, ``pictures``: as ``encode``'s."""
    import torch

    from ..runtime.inputs import Inputs

    arrays, unseen = encode(run, raw, ids, pictures)
    if unseen and getattr(run, "notes", True):
        print(one_line("specdl: note: " + "; ".join(unseen)), file=sys.stderr)
    dtypes = {i.name: getattr(torch, i.dtype) for i in run.analysis.data.inputs}
    return Inputs({k: torch.as_tensor(v, dtype=dtypes[k]) for k, v in arrays.items()})


def encode(run, raw: RawInputs, ids: bool = False, pictures=None) -> tuple[dict, list[str]]:
    """(name -> the model's array, the unseen counts in words): a CSV run's inputs
    through the saved preprocessing; an array run's as they are. ``ids``: the text
    inputs are token ids already (the ONNX graph's form); ``pictures(run, name, cells,
    rows)``: an image input's array, instead of its eval pipeline's (``_images``)."""
    if run.spec.data.source != "csv":
        return dict(raw.x), []
    from ..runtime.text import UNK, encode_texts

    settings, out, unseen = run.spec.data.input_settings(), {}, []
    for name, how in settings.items():
        fit, cells = run.pre["inputs"][name], raw.x[name]
        if how["kind"] == "text" and ids:
            out[name] = np.asarray(cells, dtype=np.int64)
        elif how["kind"] == "text":
            out[name] = encode_texts(cells, fit["vocabulary"], fit["length"], how["tokenizer"], how["lowercase"],
                                     how["truncate"])
            n = int((out[name] == UNK).sum())
            unseen += [f"{n} token{'s' * (n != 1)} of `{name}` outside the run's vocabulary map to {UNK}"] if n else []
        elif how["kind"] == "categorical":
            out[name], new = _categories(cells, fit["categories"], how)
            unseen += [f"{len(new)} row{'s' * (len(new) != 1)} of `{name}` hold{'s' * (len(new) == 1)} a category "
                       f"the train split never saw ({', '.join(repr(c)[:30] for c in dict.fromkeys(new[:50]))[:100]})"
                       ": it maps to 0"] if new else []
        elif how["kind"] == "numeric":
            out[name] = _numeric(run, name, how, fit, cells, raw.rows)
        else:
            out[name] = (pictures or _images)(run, name, cells, raw.rows)
    return out, unseen


def _images(run, name: str, cells, rows) -> np.ndarray:
    """An image input's cells (file paths, or PIL images in memory) decoded and through
    its eval pipeline (build's val and test splits': no augmentation): [N, C, H, W]."""
    from .inputs import through
    from .pixels import image_files

    image_files(name, cells, rows)
    want = next(i.feat for i in run.analysis.data.inputs if i.name == name)
    pairs = [(f"{row}, input `{name}`", cell) for row, cell in zip(rows, cells)]
    return through(pairs, run.spec.data.inputs[name].pipeline(train=False), want).numpy()


def _categories(cells, categories: list, how: dict):
    """Cells as training encodes them (runtime/csv_inputs.py's ``fit_categorical``, its
    train split the saved categories), and the unseen cells (blank ones are missing)."""
    from ..runtime.csv_inputs import fit_categorical

    ids = fit_categorical({"train": np.array(categories, dtype=object), "given": cells}, how)[0]["given"]
    known = set(categories)
    return ids, [c for c in cells if c and c not in known]


def _numeric(run, name, how, fit, x, rows) -> np.ndarray:
    """A numeric input through its fitted transforms; a NaN left is located."""
    from ..sources.csv_inputs import columns_of

    cols = columns_of(run.spec.data.inputs[name])
    x = np.asarray(x, dtype=np.float64)
    if np.isinf(x).any():
        r, c = (int(v) for v in np.argwhere(np.isinf(x))[0])
        raise RunError(f"{rows[r]}, column `{cols[c]}` holds an infinite value; give a finite number")
    given, x = x, applied(x, run.spec.data.inputs[name].transforms, saved_states(fit["transforms"]))
    if not np.isfinite(x).all():
        r, c = (int(v) for v in np.argwhere(~np.isfinite(x))[0])
        raise RunError(f"{rows[r]}, column `{cols[c]}` has no value (a missing cell) and the input `{name}` was "
                       "trained without a `fill` transform: fill it in or drop the row")
    refuse_past_float32(x, rows, cols, given, f"the input `{name}`'s transforms turn it into")
    return x.astype(np.float32)


def refuse_past_float32(x, rows, cols, given, what: str) -> None:
    """Numbers past float32's range (what the model computes in) are an error at their
    row and column (``given``: the values sent; ``what``: what became of them)."""
    at = past_float32(x)
    if at is not None:
        r, c = at
        raise RunError(f"{rows[r]}, column `{cols[c]}` holds {given[r, c]:g}: {what} {x[r, c]:g}, past float32's "
                       "range (the model's numbers); give a value within it")


def graph_feed(run, raw: RawInputs) -> dict:
    """A named-input run's raw inputs as the inputs of its ``model.raw.onnx`` (`specdl
    export --with-preprocessing`), without torch: texts as token ids (the saved vocabulary
    and length), categories as strings, numbers raw (float32, NaN where missing; checked
    as predict checks them), images as uint8 after their steps before to_tensor
    (runs/pixels.py), arrays as they are."""
    from .pixels import input_pixels

    if run.spec.data.source != "csv":
        return {i.name: np.asarray(raw.x[i.name], dtype=i.dtype) for i in run.analysis.data.inputs}
    arrays, _ = encode(run, raw, pictures=input_pixels)  # what predict would refuse is refused here too
    feed = {}
    for name, (kind, cols) in csv_columns(run).items():
        if kind == "numeric":  # the graph takes the raw numbers as float32
            refuse_past_float32(raw.x[name], raw.rows, cols, raw.x[name], "the ONNX graph takes it as it is,")
        feed[name] = (arrays[name] if kind in ("text", "image") else np.asarray(raw.x[name], dtype=str).astype(object)
                      if kind == "categorical" else np.asarray(raw.x[name], dtype=np.float32))
    return feed
