"""Load a data source, split it with the spec's seed, and fit the transforms on the
train split only, with the runtime's functions (runtime/prepare.py) that the generated
script calls too; build alone checks the data on the way."""

from __future__ import annotations

import numpy as np

from ..errors import RunError, SourceError, SpecError
from ..front.plan import dtypes
from ..runtime.prepare import take_inputs
from ..runtime.prepare import FitError, fit_transforms, invert, one_hot, take, targets, truth
from ..sources.base import split_indices
from .arrays import Arrays, _check_classes, _check_labels, _check_targets


def prepare(spec, analysis) -> Arrays:
    """Load, split, transform: the runtime's functions (runtime/prepare.py) that the
    generated script's data section calls, with build's checks of the data between."""
    data = spec.data
    try:
        if data.file_backed:
            from .images import prepare_images

            return prepare_images(spec, analysis)
        if analysis.heads:  # several outputs (spec 12.7)
            from .heads import prepare_heads

            arrays = prepare_heads(spec, analysis, _checked_targets, _any_features)
            if getattr(data, "image_inputs", list)():
                arrays.x = _image_rows(data, arrays.x, arrays.y)
            return arrays
        loaded = data.load(spec.seed)
    except SourceError as e:
        raise RunError(f"data.{e.where}: {e}") from None
    task = analysis.task
    y = _checked_targets(loaded.y, data, analysis)
    rows = split_indices(y, data.split, spec.seed, data.split.stratify and task == "classification",
                         data.class_names() if task == "classification" else None)
    ys = take(y, rows)
    if task == "classification":
        _check_classes(ys, analysis.data.classes, data.class_names())
    xs, states, encoder, fitted = _any_features(spec, analysis, loaded, rows)
    y_true = truth(ys, task)
    try:
        ys, target_states = fit_transforms(ys, [t.step() for t in data.target_transforms], "target_transforms")
    except FitError as e:
        raise SpecError([spec._source.issue(("data", "target_transforms", e.index), f"the {e.key} fitted on the "
                        "train split's targets is not finite (values too large); scale the targets",
                        data.target_transforms[e.index].type_name)]) from None
    if getattr(data, "image_inputs", list)():
        xs = _image_rows(data, xs, ys)
    return Arrays(xs, ys, y_true, states, target_states, encoder, data.class_names(), fitted)


def _image_rows(data, xs, ys) -> dict:
    """Named inputs with image inputs (spec 12.5): each split an ImageRows data set, whose
    images a DataLoader decodes per sample through the input's v2 pipeline (the
    augmentation on the train split only), as the generated script's data section makes them."""
    from ..runtime.image_inputs import ImageRows
    from .images import compose

    return {k: ImageRows(xs[k], ys[k], {n: compose(data.inputs[n].pipeline(train=k == "train"))
                                        for n in data.image_inputs()}) for k in xs}


def _any_features(spec, analysis, loaded, rows):
    """The splits' features: named inputs (a dict), or one input. (splits, fitted transforms,
    one-hot encoder, what a CSV's named inputs fitted (saved in preprocess.json) or None)."""
    if isinstance(loaded.x, dict):
        return _named_features(spec, analysis, loaded, rows)
    return (*_features(spec, analysis, loaded, rows), None)


def _features(spec, analysis, loaded, rows):
    """One input: the splits' features after the transforms (fitted on the train split)
    and the one-hot categories; (splits, fitted transforms, one-hot encoder or None)."""
    data = spec.data
    xs = take(np.asarray(loaded.x, dtype=dtypes(analysis).read), rows)
    try:
        xs, states = fit_transforms(xs, [t.step() for t in data.transforms])
    except FitError as e:
        raise _unfit(spec, e, xs["train"], rows["train"]) from None
    _check_finite(xs, data, rows)
    encoder = None
    if loaded.cats is not None:
        xs, encoder = one_hot(xs, take(loaded.cats, rows))
    return xs, states, encoder


def _named_features(spec, analysis, loaded, rows):
    """Named inputs (spec 12.1): split -> name -> array, as the script's ``take_inputs``
    gives them, a CSV's fitted on the train split by ``fit_inputs`` (runtime/csv_inputs.py:
    token ids, categories, numeric transforms); the float ones finite. (splits, [], None,
    name -> what each input fitted, or None for the array sources)."""
    xs, fitted = take_inputs(loaded.x, rows), None
    if hasattr(spec.data, "input_settings"):
        from ..runtime.csv_inputs import fit_inputs

        xs, fitted = fit_inputs(xs, spec.data.input_settings())
    for name in loaded.x:
        where = f"the input `{name}`'s values"
        _check_finite({k: v[name] for k, v in xs.items()}, spec.data, rows, where)
    return xs, [], None, fitted


def _checked_targets(raw, data, analysis):
    """The loaded targets as training reads them, or a RunError saying what is wrong."""
    y = np.asarray(raw)
    if not len(y):
        raise RunError(f"data.{'path' if hasattr(data, 'path') else 'source'}: the data holds no samples")
    if y.dtype.kind not in "biuf":
        raise RunError(f"the targets are {y.dtype} values; give numbers")
    _check_targets(y, analysis.task)
    y = targets(y, analysis.task, analysis.label_shape)
    if analysis.task == "classification":
        _check_labels(y, analysis.data.classes)
    elif analysis.task == "multilabel" and not np.isin(y, (0.0, 1.0)).all():
        raise RunError("multilabel targets must be 0 or 1")
    return y


def _check_finite(xs, data, rows, what: str = "the features") -> None:
    for k, v in xs.items():
        if np.issubdtype(v.dtype, np.floating) and not np.isfinite(v).all():
            row, col = np.argwhere(~np.isfinite(v.reshape(len(v), -1)))[0]
            fix = "clean the data" + (", or add `fill: mean` (median, or a value) first in data.transforms"
                                      if what == "the features" else "")
            raise RunError(f"{what} hold NaN or infinite values (e.g. {_where(data, rows[k][row], col)}); {fix}")


def _unfit(spec, e: FitError, x, rows) -> SpecError:
    """A statistic fitted on the train split (``x``, rows ``rows`` of the data) that is not
    finite, located at its transform: the column and its first blank or infinite cell."""
    i, key, col = e.index, e.key, e.feature
    data = spec.data
    t = data.transforms[i]
    raw = x.reshape(len(x), -1)
    name = f"`{data.columns()[0][col]}`" if data.source == "csv" and col < raw.shape[1] else f"feature {col}"
    nan = np.flatnonzero(np.isnan(raw[:, col])) if col < raw.shape[1] else []
    inf = np.flatnonzero(np.isinf(raw[:, col])) if col < raw.shape[1] else []
    if len(nan):
        what = "blank cells" if data.source == "csv" else "NaN values"
        why = f"{what} in {name} (e.g. {_where(data, rows[nan].min(), col)}): put `fill` before `{t.type_name}`"
    elif len(inf):
        why = (f"infinite values in {name} (e.g. {_where(data, rows[inf].min(), col)}), which no transform "
               "fills: clean the data")
    else:
        why = f"the {key} of {name} over the train split is not finite (values too large): scale or clean the column"
    return SpecError([spec._source.issue(("data", "transforms", i), why, t.type_name)])


def _where(data, row: int, col: int) -> str:
    """A data row and feature as the user sees them: for a CSV, the file's line and the
    column's name (read again, on this error path only)."""
    if data.source != "csv":
        return f"row {row} (counting from 0), feature {col}"
    from ..runtime.csv import row_lines

    numeric, _ = data.columns()
    lines = row_lines(data.path, data.delimiter)
    name = f"column `{numeric[col]}`" if col < len(numeric) else f"feature {col}"
    return f"{data.path} line {lines[row]}, {name}"


def invert_targets(spec, arrays: Arrays, y):
    """Undo the target transforms (so metrics and predictions are in the data's units)."""
    return invert(y, [t.step() for t in spec.data.target_transforms], arrays.target_states)
