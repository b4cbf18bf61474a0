"""`specdl predict --input`: read a CSV, .npy, .npz, image or image folder, and check it
against what the run's model takes before any of it reaches the model. Every problem
is one RunError naming the file (and its line, column, key or image) and what to do.
What is read is a ``RawInputs``: the raw features and where each sample came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import RunError
from ..files import file_problem, utf8_problem
from ..sources.npz import NpzProblem, read_npy, read_npz


@dataclass
class RawInputs:
    """A run's raw inputs, as read: ``x`` the raw features (an array; a CSV run's
    (numeric, categorical) pair; image runs' transformed images, a tensor), ``rows``
    where each sample came from (its file line or row, for messages), ``files`` the
    images' names (image runs), ``source`` what was given, in words."""

    x: object
    rows: list
    files: list | None = None
    source: str = "the given inputs"


def saved_states(states) -> list:
    """Fitted states as preprocess.json saves them (lists) -> arrays, as transforms apply them."""
    return [{k: np.asarray(v) for k, v in s.items()} for s in states]


def applied(x, transforms, states):
    """``x`` through the spec's ``transforms`` with their fitted ``states`` (arrays), in order."""
    for t, s in zip(transforms, states):
        x = t.apply(x, s)
    return x


def read_inputs(run, path, exclude=()) -> RawInputs:
    """Raw inputs from a file: CSV (with a header), .npy, .npz (the spec's ``data.x`` key
    for an npz run, else ``x``), or images for an image run. ``exclude``: CSV columns
    that are not features (evaluate's labels, predict's --keep) where the run takes every
    column of a CSV as a feature (a run not trained on a CSV)."""
    path = Path(path)
    if not path.exists():
        from ..errors import no_such

        raise RunError(no_such(path, "the input"))
    if run.spec.data.file_backed:
        return image_inputs(run, path)
    why = file_problem(path)
    if why:
        raise RunError(why)
    if path.suffix == ".csv":
        return _csv(run, path, exclude)
    try:
        if path.suffix == ".npy":
            x = read_npy(path)
        elif path.suffix == ".npz":
            x = read_npz(path, _npz_key(run, path))[0]
        else:
            raise RunError(f"cannot read {path}: give a .csv, .npy or .npz file")
    except NpzProblem as e:
        raise RunError(str(e)) from None
    rows = [f"{path} row {i}" for i in range(len(x))] if x.ndim else []
    if run.spec.data.source == "csv":
        return RawInputs(csv_array(run, x, path), rows)
    return RawInputs(_check_array(run, x, path, rows), rows)


def csv_array(run, x, where):
    """An array for a run trained on a CSV: its numeric feature columns in the spec's
    order, [N, columns]. A run with categorical columns reads named columns: a CSV."""
    numeric, cats = run.spec.data.columns()
    if cats:
        raise RunError(f"{where}: this run reads named CSV columns, not an array (the categorical "
                       f"{', '.join(f'`{c}`' for c in cats)[:120]} among them): give a .csv with a header (in "
                       "Python, rows as dicts keyed by column name)")
    if x.ndim != 2 or x.shape[1] != len(numeric):
        raise RunError(f"{where} is {list(x.shape)}; this run reads the {len(numeric)} CSV columns "
                       f"{', '.join(numeric)[:120]}: give [N, {len(numeric)}] in that order, or a .csv with a header")
    if len(x) == 0:
        raise RunError(f"{where} holds no samples")
    return x.astype(np.float64), np.empty((len(x), 0), dtype=object)


def _npz_key(run, path) -> str:
    """The spec's key for an npz run; else ``x``, or the only array the file holds."""
    data = run.spec.data
    if data.source == "npz":
        return data.x
    try:
        with np.load(path, allow_pickle=False) as f:
            files = list(getattr(f, "files", []))
    except Exception:  # noqa: BLE001 - read_npz reports the file's problem
        return "x"
    return files[0] if len(files) == 1 else "x"


def expected_shape(run) -> tuple:
    """The per-sample shape the model takes (after the data transforms)."""
    return tuple(run.analysis.data.feat)


def _check_array(run, x, path, rows=()):
    """An array input: numbers, [N, ...] with N > 0, per-sample shape the model's
    (``rows``: where each sample came from)."""
    want = expected_shape(run)
    if x.ndim < 2:
        raise RunError(f"{path} is {list(x.shape)} ({x.ndim}-D): give one row per sample, [N, "
                       f"{', '.join(map(str, want))}] (for one sample, [1, {', '.join(map(str, want))}])")
    if len(x) == 0:
        raise RunError(f"{path} holds no samples")
    shape = tuple(x.shape[1:])
    try:
        for t in run.spec.data.transforms:
            shape = tuple(t.infer(shape))
    except Exception:  # noqa: BLE001 - a ShapeError or an arithmetic one: the shape does not fit
        shape = None
    if shape != want:
        raise RunError(f"{path} holds samples of shape {list(x.shape[1:])}; the model takes "
                       f"{list(want)} per sample")
    if run.analysis.data.dtype == "int64":
        if x.dtype.kind == "f" and not (np.isfinite(x).all() and (x % 1 == 0).all()):
            raise RunError(f"{path} holds fractional or NaN values; this model takes integer token ids")
        _check_ids(run, x, rows)
    return x


def _check_ids(run, x, rows) -> None:
    """Token ids within the vocabulary of each embedding that reads the input."""
    for node in run.analysis.graph.nodes:
        n = getattr(node.layer, "num_embeddings", None) if "input" in node.inputs else None
        bad = np.argwhere((x < 0) | (x >= n)) if n is not None else []
        if len(bad):
            r, *at = (int(v) for v in bad[0])
            where = rows[r] if r < len(rows) else f"row {r}"
            raise RunError(f"{where} holds the token id {x[(r, *at)]:g} (position {at[0] if at else 0}); the "
                           f"embedding `{node.name}` takes ids 0..{n - 1}: map the token to one the run knows")


def _csv(run, path, exclude=()):
    why = utf8_problem(path)
    if why:
        raise RunError(why)
    from ..components.trust import resolve

    data = run.spec.data
    if path.stat().st_size == 0:
        raise RunError(f"{path} is empty; give a header row and one row per sample")
    if data.source == "csv":
        from ..errors import SourceError

        try:
            numeric, cats = data.columns()
        except SourceError as e:
            raise RunError(f"data.{e.where}: {e}") from None
    delim = csv_delimiter(run, path)
    if data.source != "csv":
        numeric, cats = [h for h in _header(path, delim) if h not in exclude], []
    try:
        x, c, lines = resolve("read_csv")(str(path), None, numeric, cats, False, delim)
    except ValueError as e:
        raise RunError(str(e).replace("list the column under `categorical`", "the run reads this column "
                                      "as numbers")) from None
    if not len(x):
        raise RunError(f"{path} holds no rows under its header")
    rows = [f"{path} line {n}" for n in lines]
    if data.source == "csv":
        return RawInputs((x, c), rows)
    try:
        return RawInputs(_check_array(run, x, path, rows), rows)
    except RunError as e:
        shown = [f"`{n}`" for n in exclude if n not in numeric]
        if not shown:
            raise
        raise RunError(f"{e} (the columns it holds besides {', '.join(shown)})") from None


def _header(path, delimiter=",") -> list[str]:
    """A plain numeric CSV's columns; its first row must be a header."""
    from ..runtime.csv import read_header

    try:
        header = read_header(path, delimiter)
    except ValueError as e:  # a cell the csv module refuses
        raise RunError(str(e)) from None
    if not header:
        raise RunError(f"{path} is empty; give a header row and one row per sample")
    unique_header(path, header)
    try:
        [float(h) for h in header]
    except ValueError:
        return header
    raise RunError(f"{path} starts with a row of numbers; give a header row first (any column names)")


def unique_header(path, header) -> None:
    """A CSV header naming a column twice is refused: which copy holds the data is a guess."""
    seen = set()
    twice = next((h for h in header if h in seen or seen.add(h)), None)
    if twice is not None:
        raise RunError(f"{path} has two columns named `{twice}`; rename one")


def csv_delimiter(run, path=None) -> str:
    """The delimiter of a CSV given to a run: the run's (a CSV spec's own; a comma
    otherwise), or, where that reads ``path``'s header as one column that another of
    `,` `;` tab `|` splits, that one (new rows saved with commas for a `;` run)."""
    from ..runtime.csv import other_delimiter, read_header

    delimiter = run.spec.data.delimiter if run.spec.data.source == "csv" else ","
    try:
        header = read_header(path, delimiter) if path is not None else None
    except (OSError, ValueError, UnicodeDecodeError):  # the reading proper says what is wrong
        return delimiter
    return (other_delimiter(header, delimiter) if header else None) or delimiter


def read_columns(path, names, delimiter: str = ",") -> dict:
    """Named columns of a CSV as text cells, one per non-blank row (the rows read_csv
    reads); a name the header lacks is an error listing the columns there are."""
    from ..runtime.csv import read_rows

    reading = read_rows(path, delimiter)
    header = next(reading)[1]
    unique_header(path, header)
    absent = [n for n in names if n not in header]
    if absent:
        raise RunError(f"{path} has no column {', '.join(f'`{a}`' for a in absent)}; its columns are: "
                       f"{', '.join(header)[:200]}")
    index = {n: header.index(n) for n in names}
    try:
        rows = [row for _, row in reading]
    except ValueError as e:  # a cell the csv module refuses
        raise RunError(str(e)) from None
    return {n: [row[i].strip() if i < len(row) else "" for row in rows] for n, i in index.items()}


def _at(run, rows, r: int, c: int) -> str:
    """Where sample ``r``, feature ``c`` came from: its file line or row (``rows``), and
    the column's name for a run trained on a CSV (its numeric columns come first)."""
    where = rows[r] if rows and r < len(rows) else f"row {r}"
    numeric = run.spec.data.columns()[0] if run.spec.data.source == "csv" else []
    return f"{where}, column `{numeric[c]}`" if c < len(numeric) else f"{where} (feature {c})"


def check_raw(run, x, rows=()):
    """Raw features before the transforms: an infinite value is an error at its row and
    column (``rows``: where each sample came from; a `fill` transform fills missing
    cells, never infinite ones)."""
    x = np.asarray(x)
    if x.dtype.kind == "f" and len(x) and np.isinf(x).any():
        r, c = (int(v) for v in np.argwhere(np.isinf(x.reshape(len(x), -1)))[0])
        raise RunError(f"{_at(run, rows, r, c)} holds an infinite value ({x.reshape(len(x), -1)[r, c]}); "
                       "give a finite number")
    return x


def past_float32(x) -> tuple[int, int] | None:
    """(row, column) of the first finite number of ``x`` ([N, ...] floats) past float32's
    range, which float32 holds as infinity; None where there is none."""
    flat = np.asarray(x).reshape(len(x), -1)
    if flat.dtype.kind != "f":
        return None
    big = np.argwhere(np.abs(np.nan_to_num(flat)) > np.finfo(np.float32).max)
    return (int(big[0][0]), int(big[0][1])) if len(big) else None


def check_float32(run, x, rows=()) -> None:
    """Raw features a graph takes as float32 (`serve --backend onnx`): a finite value past
    float32's range is an error at its row and column (the graph would see infinity)."""
    at = past_float32(x)
    if at is not None:
        r, c = at
        raise RunError(f"{_at(run, rows, r, c)} holds {np.asarray(x).reshape(len(x), -1)[r, c]:g}, past float32's "
                       "range (the ONNX graph's numbers); give a value within it")


def check_finite(run, x, raw=None, rows=()):
    """Model inputs after the transforms: a NaN left is an error at its row and column,
    naming its cause: a missing cell the run has no `fill` for, or a transform's result.
    ``x``: a torch tensor, or a NumPy array (the ONNX backend checks its raw inputs)."""
    flat = np.asarray(x).reshape(len(x), -1)
    if not (flat.dtype.kind == "f" and len(x)) or bool(np.isfinite(flat).all()):
        return x
    r, c = (int(v) for v in np.argwhere(~np.isfinite(flat))[0])
    steps = [t.type_name for t in run.spec.data.transforms]
    before = np.asarray(raw).reshape(len(x), -1) if raw is not None else None
    same = before is not None and (before.shape == flat.shape or run.spec.data.source == "csv")  # CSV: numbers first
    value = before[r, c] if same and c < before.shape[1] else None
    if "fill" not in steps and (value is None or np.isnan(value)):
        raise RunError(f"{_at(run, rows, r, c)} has a NaN (a missing value); the run was trained without a `fill` "
                       "transform: fill it in or drop the row")
    what = "a missing value" if value is None or np.isnan(value) else f"{value:g}"
    raise RunError(f"{_at(run, rows, r, c)}: the run's transforms ({', '.join(steps)}) turn {what} into NaN; "
                   "give a value they accept")


def image_inputs(run, path: Path) -> RawInputs:
    """Images (a file, or a folder searched for image files) through the run's eval
    transforms; each must decode and come out at the model's input shape."""
    from ..errors import SourceError
    from ..sources.images import IMG_EXTENSIONS, folder_images

    if path.is_dir():
        try:  # as training reads a folder: links to folders followed, a loop or a repeat refused
            files = folder_images(path, set())
        except SourceError as e:
            raise RunError(str(e)) from None
        if not files:
            raise RunError(f"no images under {path} (looked for {', '.join(IMG_EXTENSIONS)})")
    else:
        why = file_problem(path)
        if why:
            raise RunError(why)
        files = [path]
    return transformed_images(run, [(str(f), f) for f in files])


def transformed_images(run, images) -> RawInputs:
    """``images``: (name, file path or PIL image) pairs, each decoded (a file) or taken
    as RGB (an image in memory), through the run's eval transforms; each must come out at
    the model's input shape. The names are the rows' and the files'."""
    names = [name for name, _ in images]
    return RawInputs(through(images, run.spec.data.pipeline(train=False), expected_shape(run)), names, names)


def through(images, pipeline, want):
    """(name, file path or PIL image) pairs through a v2 ``pipeline`` (an eval one: no
    augmentation), stacked; each must come out at ``want``. A file that is not a readable
    image is one RunError naming it (and ``name``, where it is not the file)."""
    import torch

    from ..build.images import compose
    from ..sources.images import load_rgb

    tf, out = compose(pipeline), []
    for name, image in images:
        try:
            t = tf(image.convert("RGB") if hasattr(image, "convert") else load_rgb(image))
        except RunError as e:
            raise RunError(str(e) if str(name) == str(image) else f"{name}: {e}") from None
        if tuple(t.shape) != tuple(want):
            raise RunError(f"{name} is {list(t.shape)} after the run's transforms; the model takes "
                           f"{list(want)}: resize the image (or train with a `resize` transform)")
        out.append(t)
    return torch.stack(out)
