"""A `specdl serve` request, validated by its generated model (specdl/serving/schema.py),
as what `specdl predict` and ``specdl.predict`` read: rows as dicts keyed by column, a
nested list of numbers, images (base64 bytes, or paths under --files only). The reading
itself is predict's (specdl/runs/given.py, inputs.py): one path from a request to the
run's raw inputs. Every problem is one RunError, a 422."""

from __future__ import annotations

import base64
import binascii
import io
import re
from pathlib import Path, PurePosixPath

from ..errors import RunError
from ..runs.given import read_given
from ..runs.inputs import RawInputs, transformed_images

MAX_PIXELS = 40_000_000  # a sent image's width x height (PIL refuses over 179M, after a warning at 89M)


def request_inputs(run, body, files: Path | None, images=None) -> RawInputs:
    """The run's raw inputs for a validated request ``body`` (``files``: the --files
    folder image paths are taken under; None: paths are refused). ``images(run, pairs)``:
    an image run's images as its inputs (default: predict's eval pipeline, in torch)."""
    if getattr(body, "inputs", None) is not None:  # a named-input run's inputs form
        given = body.inputs.model_dump(by_alias=True)
        given.update({n: [_cell(c, f"row {i}, input `{n}`", files) for i, c in enumerate(given[n])]
                      for n in image_columns(run)})
        raw = read_given(run, given)
        return RawInputs(raw.x, [f"row {i}" for i in range(len(raw.rows))], source="the request")
    if getattr(body, "rows", None) is not None:
        return _rows(run, [row.model_dump(by_alias=True) for row in body.rows], files)
    if run.spec.data.file_backed:
        return (images or transformed_images)(run, [(_name(item, i), _image(item.path, item.base64, f"instance {i}", files))
                                         for i, item in enumerate(body.instances)])
    raw = read_given(run, body.instances)
    return RawInputs(raw.x, [f"instance {i}" for i in range(len(raw.rows))], source="the request")


def request_rows(body) -> int:
    """How many rows (samples) a validated request holds, before reading it."""
    if getattr(body, "inputs", None) is not None:
        return max(map(len, body.inputs.model_dump().values()))
    return len(body.rows) if getattr(body, "rows", None) is not None else len(body.instances)


def _name(item, i: int) -> str:
    """An image's name in the answer (its ``file``): its path as given, else ``instance i``."""
    return item.path if item.path is not None else f"instance {i}"


def image_columns(run) -> dict:
    """A named-input CSV run's image inputs: name -> the column of their paths."""
    from ..runs.named import csv_columns

    if not run.analysis.graph.named or run.spec.data.source != "csv":
        return {}
    return {n: cols[0] for n, (kind, cols) in csv_columns(run).items() if kind == "image"}


def _rows(run, rows: list, files: Path | None) -> RawInputs:
    """The rows form: an image input's cells (paths under ``files``, base64) decoded apart,
    the other columns through predict's reading of rows."""
    import numpy as np

    images = {}
    for name, column in image_columns(run).items():
        images[name] = np.empty(len(rows), dtype=object)
        images[name][:] = [_cell(row[column], f"row {i}, input `{name}`", files) for i, row in enumerate(rows)]
        rows = [{**row, column: "-"} for row in rows]  # a placeholder: the images are read above
    raw = read_given(run, rows)
    if images:  # a named-input run's x: name -> array
        raw.x.update(images)
    return raw


def _cell(cell, where: str, files: Path | None):
    """An image input's cell of a request: a path (text, or an object's ``path``) under
    ``files``, or an object's ``base64``."""
    if isinstance(cell, str):
        return under(files, cell, where)
    return _image(cell.get("path"), cell.get("base64"), where, files)


def _image(path, b64, where: str, files: Path | None):
    """The PIL image of base64 text ``b64``, or the file ``path`` (checked under ``files``)."""
    if path is not None:
        return under(files, path, where)
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise RunError(f"{where}: `base64` is not base64 text (A-Z, a-z, 0-9, +, /, = padding)") from None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PIXELS:  # a small file that decodes to gigabytes
                raise RunError(f"{where}: the image is {im.width}x{im.height} pixels; the server decodes at "
                               f"most {MAX_PIXELS:,} (resize it before sending)")
            return im.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        why = re.sub(r" *<[^<>]* at 0x[0-9a-f]+>", "", (str(e).splitlines() or [type(e).__name__])[0])[:120]  # no repr
        raise RunError(f"{where}: `base64` does not hold a readable image ({why})") from None


def under(files: Path | None, path: str, where: str) -> Path:
    """``path`` as a file under the --files folder: relative, no `..`, and, links
    followed, still inside it; anything else is refused."""
    if files is None:
        raise RunError(f"{where}: this server takes no image paths (start it with --files DIR); send the "
                       "image as `base64`")
    given = PurePosixPath(path)
    if not path or given.is_absolute() or ".." in given.parts or "\\" in path or "\0" in path:
        raise RunError(f"{where}: `path` is a relative path under the server's --files folder, without `..`")
    root = files.resolve()
    full = (root / given).resolve()
    if not full.is_relative_to(root):
        raise RunError(f"{where}: `path` {path!r} leads out of the server's --files folder (a link)")
    if not full.is_file():
        raise RunError(f"{where}: no file {path!r} under the server's --files folder")
    return full
