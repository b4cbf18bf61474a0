"""In-memory tabular sources: scikit-learn data, synthetic data, CSV and NumPy files.
(NumPy, and specdl/runtime/ which imports it, are imported where they are used: ``check`` stays fast.)"""

import math
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, PrivateAttr, field_validator

from ..components.base import PosInt
from ..components.call import Call, Name, literal
from ..errors import RunError, SourceError, did_you_mean
from .base import DataSource
from .csv_inputs import CsvInput, CsvInputs, ludwig_inputs
from .info import GENERATORS, SKLEARN, SKLEARN_CLASSES, SKLEARN_SIZES, SKLEARN_TARGETS, DataInfo, InputInfo
from .named import NamedInputs, NpzInput, SyntheticInput, high_of_ids, inputs_of
from .targets import CsvTarget, NpzTarget, SeveralTargets, SyntheticTarget, refuse_list, targets_of


def class_hint(name: str, values) -> str | None:
    """For a target read as regression whose values are a few integers (0/1...): the hint
    that they may be class labels."""
    levels = set()
    for v in values:
        levels.add(v)
        if len(levels) > 10 or not float(v).is_integer():
            return None
    if len(levels) < 2:
        return None
    shown = ", ".join(f"{v:g}" for v in sorted(levels))
    return f"the target {name} holds only the integers {shown}; if these are classes, set `data.task: classification`"


class Loaded:
    """A whole data set: numeric features ``x``, targets ``y``, and (CSV) categorical
    string columns ``cats`` one-hot encoded after the split."""

    def __init__(self, x, y, cats=None):
        self.x, self.y, self.cats = x, y, cats


class SklearnData(DataSource):
    """A scikit-learn bundled data set, or a generator with its arguments."""

    source: Literal["sklearn"]
    labels_at: ClassVar[str] = "params"
    dataset: str = Field(json_schema_extra={"enum": [*SKLEARN, *GENERATORS]})
    params: dict[str, int | float | bool | str | None | list[int | float] | list[list[int | float]]] = {}

    @field_validator("dataset")
    @classmethod
    def _known(cls, v):
        if v not in SKLEARN and v not in GENERATORS:
            raise ValueError(f"unknown scikit-learn data set `{v}`" + did_you_mean(v, [*SKLEARN, *GENERATORS]))
        return v

    def model_post_init(self, _):
        allowed = GENERATORS.get(self.dataset, {})
        for k in self.params:
            if k not in allowed:
                raise ValueError(f"`{self.dataset}` takes no argument `{k}`" + did_you_mean(k, allowed))
        if self.dataset in GENERATORS:
            from .generators import check_arguments

            check_arguments(self.dataset, self.params)

    def sample_count(self):
        if self.dataset in SKLEARN:
            return SKLEARN_SIZES.get(self.dataset)
        return int(self.params.get("n_samples", GENERATORS[self.dataset]["n_samples"]))

    def info(self, seed: int = 0):
        if self.dataset in SKLEARN:
            _, feat, task, n = SKLEARN[self.dataset]
            return DataInfo((feat,), "float32", task, n if task == "classification" else None,
                            (n,) if task == "regression" else None, target_names=SKLEARN_TARGETS.get(self.dataset))
        p = {**GENERATORS[self.dataset], **self.params}
        if self.dataset == "make_classification":
            return DataInfo((p["n_features"],), "float32", "classification", p["n_classes"], None)
        if self.dataset == "make_regression":
            return DataInfo((p["n_features"],), "float32", "regression", None, (p["n_targets"],))
        if self.dataset == "make_moons":
            return DataInfo((2,), "float32", "classification", 2, None)
        centers = p["centers"]
        return DataInfo((p["n_features"],), "float32", "classification",
                        centers if isinstance(centers, int) else len(centers), None)

    def class_names(self) -> list[str] | None:
        if self.dataset not in SKLEARN or SKLEARN[self.dataset][2] != "classification":
            return None
        return list(SKLEARN_CLASSES[self.dataset])  # scikit-learn's target_names (tests/test_api_predict.py)

    def loader(self, seed) -> Call:
        """The scikit-learn call that gives x and y: a bundled dataset's loader, or a
        generator seeded with ``seed`` (build calls it; a script writes it, seeded with SEED)."""
        if self.dataset in SKLEARN:
            return Call(f"datasets.{SKLEARN[self.dataset][0]}", (), {"return_X_y": True})
        return Call(f"datasets.{self.dataset}", (), {**self.params, "random_state": seed})

    def load(self, seed):
        from sklearn import datasets

        call = self.loader(seed)
        return Loaded(*getattr(datasets, call.fn.split(".", 1)[1])(**call.kwargs))

    def code(self):
        return ["from sklearn import datasets"], [f"x, y = {self.loader(Name('SEED')).code(width=1000)}"]


class SyntheticData(NamedInputs, SeveralTargets, DataSource):
    """Random data of a given shape, for smoke runs and tests: labels (or targets) are a
    fixed random function of x, so a model can learn them. ``inputs`` draws several named
    inputs instead (spec 12.1), the targets a function of them all."""

    source: Literal["synthetic"]
    shape: Annotated[list[PosInt], Field(min_length=1)] | None = None
    classes: Annotated[int, Field(ge=2)] | None = None
    outputs: PosInt | list[PosInt] | None = None
    size: Annotated[int, Field(ge=8)] = 256
    dtype: Literal["float32", "int64"] = "float32"
    high: PosInt = 10
    inputs: inputs_of(SyntheticInput) = None
    targets: targets_of(SyntheticTarget) = None  # several outputs (spec 12.7)

    _targets_list = field_validator("targets", mode="before")(lambda v: refuse_list(v, "classes"))
    _high = field_validator("high")(lambda v, info: high_of_ids(v, info))

    def sample_count(self):
        return self.size

    def max_token(self):
        return self.high - 1 if self.dtype == "int64" else None

    def model_post_init(self, _):
        if self.targets is None and (self.classes is None) == (self.outputs is None):
            raise ValueError("give exactly one of `classes` (classification) or `outputs` (regression)")
        if self.shape is None and self.inputs is None:  # both: check says so at `shape`
            raise ValueError("give `shape` (one input), or `inputs` (named inputs, each with its shape)")

    @property
    def target(self) -> tuple:
        return (self.outputs,) if isinstance(self.outputs, int) else tuple(self.outputs or ())

    def info(self, seed: int = 0):
        named = tuple(InputInfo(k, tuple(v.shape), v.dtype, v.high - 1 if v.dtype == "int64" else None)
                      for k, v in (self.inputs or {}).items())
        feat, dtype = (named[0].feat, named[0].dtype) if named else (tuple(self.shape), self.dtype)
        if self.classes:
            return DataInfo(feat, dtype, "classification", self.classes, None, inputs=named)
        return DataInfo(feat, dtype, "regression", None, self.target, inputs=named)

    def loader(self, seed) -> Call:
        """The runtime call that gives x and y (build calls it; a script writes it, seeded
        with SEED): ``synthetic_data`` of the shape, the targets' width and the token ids'
        bound (int64 features); with named inputs ``synthetic_inputs`` of each input's
        (shape, bound or None). Classification targets are class indices."""
        width, classes = self.classes or math.prod(self.target), bool(self.classes)
        if self.inputs is not None:
            inputs = {k: (tuple(v.shape), v.high if v.dtype == "int64" else None) for k, v in self.inputs.items()}
            return Call("synthetic_inputs", (seed, self.size, inputs, width), {"classes": classes})
        high = self.high if self.dtype == "int64" else None
        return Call("synthetic_data", (seed, (self.size, *self.shape), width), {"high": high, "classes": classes})

    def load(self, seed):
        from ..runtime import tabular

        call = self.loader(seed)  # targets: reshaped by data.prepare
        return Loaded(*getattr(tabular, call.fn)(*call.args, **call.kwargs))

    def code(self):
        return [], ["# Synthetic data: labels (or targets) are a fixed random function of x.",
                    f"x, y = {self.loader(Name('SEED')).code(width=1000)}"]


class CsvData(CsvInputs, NamedInputs, SeveralTargets, DataSource):
    """A CSV file with a header row: ``target`` names the label column; ``features``
    the inputs (default: every other column, less those ``exclude`` names); ``categorical``
    the ones one-hot encoded (categories fitted on the train split); or ``inputs``, named
    inputs of kinds text, categorical and numeric (sources/csv_inputs.py). Relative paths
    are taken from the current directory."""

    source: Literal["csv"]
    path: str
    target: str | list[str] | None = None
    targets: targets_of(CsvTarget) = None  # several outputs (spec 12.7)
    features: list[str] | None = None
    categorical: list[str] = []
    exclude: list[str] = []
    delimiter: str = Field(",", min_length=1, max_length=1)
    inputs: inputs_of(CsvInput) = None
    labels_at: ClassVar[str] = "target"
    _cells: tuple | None = PrivateAttr(default=None)  # (_stamp(), _target_cells): read once while unchanged
    _info: tuple | None = PrivateAttr(default=None)  # (_stamp(), seed, info()): check's reading, kept for build

    @field_validator("target")
    @classmethod
    def _targets(cls, v):
        """A list names the columns of a multi-target regression; a list of one is that column."""
        if isinstance(v, list):
            if not v:
                raise ValueError("give the target column, or a list of target columns")
            twice = sorted({t for t in v if v.count(t) > 1})
            if twice:
                raise ValueError(f"`{twice[0]}` is listed twice")
            return v[0] if len(v) == 1 else v
        return v

    _targets_list = field_validator("targets", mode="before")(lambda v: refuse_list(v, "column"))
    _ludwig = field_validator("inputs", mode="before")(ludwig_inputs)  # Ludwig's `type: category`

    def model_post_init(self, _):
        if self.target is None and self.targets is None:
            raise ValueError("give `target` (the label column), or `targets` (named targets, one head each)")

    def target_columns(self) -> list[str]:
        """The target columns: one, or several (a multi-target regression, or named targets)."""
        if self.target is None:
            return [t.column for t in self.targets.values()]
        return list(self.target) if isinstance(self.target, list) else [self.target]

    def _header(self) -> list[str]:
        from ..files import file_problem, utf8_problem
        from ..runtime.csv import other_delimiter, read_header

        why = file_problem(self.path)
        if why and why.startswith("no such file"):
            why += f" (looked in {Path(self.path).resolve().parent})"
        why = why or utf8_problem(self.path)
        if why:
            raise SourceError("path", why)
        try:
            header = read_header(self.path, self.delimiter)
        except ValueError as e:  # a cell the csv module refuses
            raise SourceError("path", str(e)) from None
        if not header:
            raise SourceError("path", f"{self.path} is empty; a CSV needs a header row")
        other = other_delimiter(header, self.delimiter)
        if other:
            import json

            raise SourceError("delimiter", f"{self.path}'s header reads as one column with the delimiter "
                              f"{json.dumps(self.delimiter)} but as {len(header[0].split(other))} with "
                              f"{json.dumps(other)}: write `delimiter: {json.dumps(other)}` under `data`")
        twice = sorted({h for h in header if header.count(h) > 1})
        if twice:
            raise SourceError("path", f"{self.path} has two columns named `{twice[0]}`; rename one")
        return list(header)

    def columns(self) -> tuple[list[str], list[str]]:
        """(numeric, categorical) feature columns, checked against the header."""
        if self._facts and "columns" in self._facts:  # a run directory's saved columns
            numeric, cats = self._facts["columns"]
            return list(numeric), list(cats)
        header, targets = self._header(), self.target_columns()
        for i, t in enumerate(targets):
            if t not in header:
                where = ("target", i) if isinstance(self.target, list) else "target"
                raise SourceError(where, f"no column `{t}` in {self.path}" + did_you_mean(t, header))
        if self.inputs is not None:  # each named input reads its own columns
            return [], []
        self._check_exclude(header, targets)
        feats = self.features if self.features is not None else [
            h for h in header if h not in targets and h not in self.exclude]
        if not feats:
            raise SourceError("features", f"{self.path} has no feature columns besides the target "
                              f"{', '.join(f'`{t}`' for t in targets)}"
                              f"{' and the excluded columns' if self.exclude else ''}; a model needs at least one "
                              "input column")
        named = [("features", i, n) for i, n in enumerate(self.features or [])]
        for key, i, name in [*named, *(("categorical", i, n) for i, n in enumerate(self.categorical))]:
            if name not in header:  # reported at the list item that names it
                raise SourceError((key, i), f"no column `{name}` in {self.path}" + did_you_mean(name, header))
        for name in self.categorical:
            if name not in feats:
                raise SourceError("categorical", f"`{name}` is not among the features")
        for t in targets:
            if t in feats:
                raise SourceError("features", f"the target `{t}` cannot also be a feature")
        return [f for f in feats if f not in self.categorical], list(self.categorical)

    def _check_exclude(self, header, targets) -> None:
        """``exclude`` names columns of the file, none of them the target or categorical,
        and applies to the default features only."""
        if self.exclude and self.features is not None:
            raise SourceError("exclude", "`exclude` leaves columns out of the default features (every column but "
                              "the target); with `features` listed, leave them out of `features` instead")
        for i, name in enumerate(self.exclude):
            if name not in header:
                raise SourceError(("exclude", i), f"no column `{name}` in {self.path}" + did_you_mean(name, header))
            if name in targets:
                raise SourceError(("exclude", i), f"`{name}` is the target; it cannot be excluded")
            if name in self.categorical:
                raise SourceError(("exclude", i), f"`{name}` is listed under `categorical` too; a column is either "
                                  "a feature or excluded: drop it from one of the two lists")

    def _label_numbers(self) -> list[float]:
        """The (first) target column's cells as numbers (money read as its number)."""
        from ..runtime.csv import as_number

        return [as_number(v) for v in self._labels()]

    def _labels(self) -> list[str]:
        """The (first) target column's non-missing cells."""
        return self._target_cells()[self.target_columns()[0]]

    def _target_cells(self) -> dict[str, list[str]]:
        """Each target column's non-missing cells, in one read of the file (rows that are
        short are read_csv's to report). Kept while the file is unchanged: the task, the
        classes and the hint all ask."""
        from ..runtime.csv import missing_cell, read_rows

        stamp = self._stamp()
        if self._cells is not None and self._cells[0] == stamp:
            return self._cells[1]
        names = self.target_columns()
        rows = read_rows(self.path, self.delimiter)
        header = next(rows)[1]
        at = {t: header.index(t) for t in names}
        cells = {t: [] for t in names}
        try:
            for _, row in rows:
                for t, i in at.items():
                    if len(row) > i and not missing_cell(row[i]):
                        cells[t].append(row[i].strip())
        except ValueError as e:  # a cell the csv module refuses
            raise SourceError("path", str(e)) from None
        self._cells = (stamp, cells)
        return cells

    def _stamp(self) -> tuple:
        """What the file's reading depends on: its path, delimiter and targets, and its
        size, times and inode (a rewritten file reads again)."""
        import os

        st = os.stat(self.path)
        return (str(self.path), self.delimiter, tuple(self.target_columns()), st.st_size, st.st_mtime_ns, st.st_ino,
                st.st_ctime_ns)

    def classification(self) -> bool:
        if len(self.target_columns()) > 1:
            return False  # several columns: a multi-target regression (info() says so of text or a task)
        if self.task:
            return self.task == "classification"
        from ..runtime.csv import as_number

        for text in self._labels():
            try:
                as_number(text)  # a number, or money (`$1,234.50`)
            except ValueError:
                return True  # text labels
        return False

    def target_hint(self) -> str | None:
        """The hint that the one target column's numbers are classes (None: not so, or text,
        which is classes already)."""
        if self.classification():
            return None
        return class_hint(f"`{self.target}`", self._label_numbers())

    def class_names(self) -> list[str] | None:
        return sorted(set(self._labels())) if self.classification() else None


    def _read(self, numeric, cats):
        from ..runtime.csv import read_csv

        try:
            x, c, y = read_csv(self.path, self.target, numeric, cats, self.classification(), self.delimiter)
        except ValueError as e:
            msg = str(e)
            if "not a number" in msg:  # every column of text at once, each with what to write
                raise SourceError("features", self._text_columns(numeric) or msg) from None
            raise SourceError("target" if msg.startswith("the target") else "path", msg) from None
        if not len(x):
            raise SourceError("path", f"{self.path} holds no rows under its header; a CSV needs data rows")
        return x, c, y

    def _text_columns(self, numeric) -> str | None:
        """check's message for the feature columns read as numbers that hold text."""
        from ..runtime.csv import read_table
        from .column_kinds import text_columns_message

        header, rows, lines = read_table(self.path, self.delimiter)
        at = {name: header.index(name) for name in numeric}
        return text_columns_message(self.path, {n: [r[i].strip() for r in rows] for n, i in at.items()}, lines)

    def _several_targets(self) -> None:
        """Several target columns make a multi-target regression: numbers, no other task."""
        if self.task and self.task != "regression":
            raise SourceError("target", f"several target columns make a multi-target regression, not "
                              f"{self.task}; give one column (or drop `task`)")
        from ..runtime.csv import as_number

        for t, cells in self._target_cells().items():
            for text in cells[:100_000]:
                try:
                    as_number(text)
                except ValueError:
                    raise SourceError("target", f"the target `{t}` holds {text[:40]!r}; several target columns "
                                      "make a multi-target regression, of numbers; give one column to classify") from None

    def info(self, seed: int = 0):
        """What check knows of the file, read whole as build reads it: the width after
        one-hot encoding the train split's categories, and the cells build would refuse
        (blank numeric cells without a `fill` before the transforms that fit on them)."""
        numeric, cats = self.columns()
        stamp = (self._stamp(), seed)
        if self._info is None or self._info[0] != stamp:
            self._info = (stamp, self._read_info(numeric, cats, seed))
        return self._info[1]

    def _read_info(self, numeric, cats, seed):
        from .column_kinds import case_twins, id_column_warnings

        if len(self.target_columns()) > 1:
            self._several_targets()
        classification = self.classification()
        if self.inputs is not None:
            return self._named_info(seed, classification)
        x, c, y = self._read(numeric, cats)
        twins = case_twins(self.target, self.class_names()) if classification else ()
        train = self._train_rows(y, seed, classification, twins)
        self._check_cells(numeric, x, train)
        counts = [len(set(c[train, j])) for j in range(len(cats))]
        width = len(numeric) + sum(counts)
        warnings = self._wide_categories(counts, len(train)) + id_column_warnings(numeric, x) + twins
        if classification:
            return DataInfo((width,), "float32", "classification", int(y.max()) + 1, None, warnings=warnings)
        targets = self.target_columns()
        if len(targets) > 1:
            return DataInfo((width,), "float32", "regression", None, (len(targets),), target_names=tuple(targets),
                            warnings=warnings)
        hint = None if self.task else class_hint(f"`{self.target}`", self._label_numbers())
        return DataInfo((width,), "float32", "regression", None, (1,), hint, warnings=warnings)

    def _train_rows(self, y, seed, classification, twins=()):
        """The train split's rows; a class too rare to stratify is check's located error
        (with the labels that differ only in case, the likelier cause, where there are)."""
        from .base import split_indices

        try:
            return split_indices(y, self.split, seed, self.split.stratify and classification,
                                 self.class_names())["train"]
        except RunError as e:
            raise SourceError("split", f"{e}{''.join(f'; {why}' for _, why in twins)}") from None

    def _named_info(self, seed, classification):
        """DataInfo of the named inputs: each input's, the task's and the classes'."""
        from .column_kinds import case_twins

        named, warnings = self.inputs_info(seed)
        first = named[0]
        if classification:
            warnings = (*warnings, *case_twins(self.target, self.class_names()))
            return DataInfo(first.feat, first.dtype, "classification", len(self.class_names()), None,
                            warnings=warnings, inputs=named)
        targets = self.target_columns()
        return DataInfo(first.feat, first.dtype, "regression", None, (len(targets),),
                        target_names=tuple(targets) if len(targets) > 1 else None, warnings=warnings, inputs=named)

    def _check_cells(self, numeric, x, train) -> None:
        """Blank (or missing) numeric cells need a `fill` transform, before any transform
        that fits a statistic on them; an infinite cell, which nothing fills, is an error."""
        import numpy as np

        inf = np.flatnonzero(np.isinf(x).any(axis=0))
        if len(inf):
            row = np.flatnonzero(np.isinf(x[:, inf[0]]))[0]
            raise SourceError("path", f"{self._line(row)}, column `{numeric[inf[0]]}` holds an infinite value, "
                              "which no transform fills; clean the data")
        blank = np.isnan(x)
        cols = np.flatnonzero(blank.any(axis=0))
        if not len(cols):
            return
        kinds = [t.type_name for t in self.transforms]
        fill = kinds.index("fill") if "fill" in kinds else None
        named = ", ".join(f"`{numeric[j]}`" for j in cols[:5]) + (f" and {len(cols) - 5} more" if len(cols) > 5 else "")
        first = self._line(np.flatnonzero(blank[:, cols[0]])[0])
        if fill is None:
            raise SourceError("transforms", f"blank cells in {named} (e.g. {first}): add `fill: mean` (median, or "
                              "a value) first in data.transforms, or fill them in")
        fits = next((i for i, k in enumerate(kinds[:fill]) if k in ("standardize", "minmax")), None)
        in_train = [j for j in cols if blank[train, j].any()]
        if fits is not None and in_train:
            named = ", ".join(f"`{numeric[j]}`" for j in in_train[:5])
            first = self._line(train[blank[train, in_train[0]]].min())
            raise SourceError(("transforms", fits), f"blank cells in {named} (e.g. {first}): put `fill` before "
                              f"`{kinds[fits]}`")

    def _line(self, row: int) -> str:
        """A data row as the file's line (read again, on an error path only)."""
        from ..runtime.csv import row_lines

        return f"{self.path} line {row_lines(self.path, self.delimiter)[row]}"

    def _wide_categories(self, counts, rows: int) -> tuple:
        """A categorical column with more than 100 values in the train split, and more than
        half as many values as rows (an id, an e-mail, a timestamp): a warning each."""
        return tuple((("categorical", j), f"`{name}` holds {n:,} distinct values in the train split's {rows:,} rows "
                      f"(an id, an e-mail, a timestamp?): it becomes {n:,} one-hot inputs that tell rows apart "
                      f"rather than generalise; if so, drop it from `categorical` and list it under `data.exclude`")
                     for j, (name, n) in enumerate(zip(self.categorical, counts)) if n > 100 and n > rows / 2)

    def load(self, seed):
        if self.inputs is not None:
            x, y, _ = self._read_inputs(seed)
            return Loaded(x, y)
        numeric, cats = self.columns()
        x, c, y = self._read(numeric, cats)
        return Loaded(x, y, c if cats else None)

    def code(self):
        # named inputs: read_inputs (sources/csv_inputs.py); else the columns' read_csv
        return {True: self.input_code}.get(self.inputs is not None, self._columns_code)()

    def _columns_code(self):
        numeric, cats = self.columns()
        call = Call("read_csv", (self.path, self.target, numeric, cats, self.classification()),
                    {"delimiter": self.delimiter})
        return ["import csv"], [f"x, cats, y = {call.code(width=1000)}"]


class NpzData(NamedInputs, SeveralTargets, DataSource):
    """A NumPy ``.npz`` file holding the features under ``x`` and the targets under
    ``y`` (integer targets: classification; float: regression); ``inputs`` names several
    arrays instead, one per named input (spec 12.1)."""

    source: Literal["npz"]
    path: str
    x: str = "x"
    y: str = "y"
    inputs: inputs_of(NpzInput) = None
    targets: targets_of(NpzTarget) = None  # several outputs (spec 12.7)

    _targets_list = field_validator("targets", mode="before")(lambda v: refuse_list(v, "array"))
    any_dtype: ClassVar[bool] = True
    labels_at: ClassVar[str] = "y"

    def _arrays(self):
        """(x, y): x one array, or with named inputs name -> array, each checked."""
        from ..files import file_problem
        from .npz import NpzProblem, read_npz

        why = file_problem(self.path)
        if why:
            raise SourceError("path", why)
        named = self.inputs or {}
        keys = [v.array for v in named.values()] if named else [self.x]
        fields = [("inputs", k, "array") for k in named] if named else ["x"]
        try:
            *xs, y = read_npz(self.path, *keys, self.y, fields=(*fields, "y"))
        except NpzProblem as e:
            raise SourceError(e.field, str(e)) from None
        if y.ndim == 0:
            raise SourceError("y", f"`{self.y}` in {self.path} is a single number; give one target per sample")
        for field, key in zip(fields, keys):
            if key == self.y:  # the labels among the inputs: the model would read its answer
                raise SourceError(field, f"`{key}` is the target's array; it cannot also be an input")
        for field, key, x in zip(fields, keys, xs):
            self._check_x(field, key, x, y, 1 if named else 2)
        return (dict(zip(named, xs)) if named else xs[0]), y

    def _check_x(self, field, key: str, x, y, rank: int) -> None:
        """An input array: one row per sample (at least ``rank`` dimensions), as many as y, not empty."""
        if x.ndim < rank:
            raise SourceError(field, f"`{key}` in {self.path} is {list(x.shape)}: give [N, features...], "
                              "one row per sample")
        if len(x) != len(y):
            raise SourceError(field if self.inputs else "y", f"`{key}` has {len(x)} rows but `{self.y}` has {len(y)}"
                              if self.inputs else f"x has {len(x)} rows but y has {len(y)}")
        if len(x) == 0:
            raise SourceError(field, f"`{key}` in {self.path} holds no samples")
        if 0 in x.shape[1:]:
            raise SourceError(field, f"`{key}` in {self.path} is {list(x.shape)}: its samples hold no values")
        if self.inputs and x.dtype.kind in "iu" and x.min() < 0:  # a named input of integers: ids, looked up
            raise SourceError(field, f"`{key}` in {self.path} holds the id {x.min()}; integer inputs are token ids, "
                              "whole numbers from 0 (give floats for values)")
    def _classes(self, y) -> int:
        """The number of classes of labels ``y``: one whole number in 0..K-1 per sample."""
        import numpy as np

        name = f"`{self.y}` in {self.path}"
        if y.ndim != 1:
            raise SourceError("y", f"{name} is {list(y.shape)}; classification takes one class index per "
                              "sample, [N] (for [N, labels] of 0/1 set `data.task: multilabel`)")
        if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
            bad = y[~(np.isfinite(y) & (y == np.round(y)))][0]
            raise SourceError("y", f"{name} holds the label {bad}; class labels are whole numbers 0..K-1")
        lo, hi = int(y.min()), int(y.max())
        if lo < 0:
            raise SourceError("y", f"{name} holds the label {lo}; class labels are whole numbers 0..K-1")
        if hi >= len(y):
            raise SourceError("y", f"{name} holds the label {hi} but only {len(y)} samples, so some of the "
                              f"classes 0..{hi} have none; number the classes 0..K-1")
        return hi + 1

    def max_token(self):
        x, _ = self._arrays()
        return None if isinstance(x, dict) else _array_info("x", x).max_token

    def info(self, seed: int = 0):
        import numpy as np

        x, y = self._arrays()
        named = tuple(_array_info(k, v) for k, v in x.items()) if isinstance(x, dict) else ()
        first = named[0] if named else _array_info("x", x)
        feat, dtype = first.feat, first.dtype
        if self.task == "multilabel":
            if y.ndim != 2:
                raise SourceError("y", f"multilabel targets are [N, labels] of 0/1; `{self.y}` is {list(y.shape)}")
            return DataInfo(feat, dtype, "multilabel", int(y.shape[1]), None, inputs=named)
        if (self.task or ("classification" if np.issubdtype(y.dtype, np.integer) else "regression")) == "classification":
            return DataInfo(feat, dtype, "classification", self._classes(y), None, inputs=named)
        hint = None if self.task or y.ndim > 1 else class_hint(f"`{self.y}`", y[:100_000].tolist())
        return DataInfo(feat, dtype, "regression", None, tuple(y.shape[1:]) or (1,), hint, inputs=named)

    def load(self, seed):
        return Loaded(*self._arrays())

    def x_code(self) -> str:
        """The script's expression of x in the open file ``f``: one array, or name -> array."""
        if self.inputs is None:
            return f"f[{literal(self.x)}]"
        return "{" + ", ".join(f"{literal(k)}: f[{literal(v.array)}]" for k, v in self.inputs.items()) + "}"

    def code(self):
        return [], [f"with np.load({literal(self.path)}) as f:",
                    f"    x, y = {self.x_code()}, f[{literal(self.y)}]"]


def _array_info(name: str, x) -> InputInfo:
    """An input array's per-sample shape, dtype (integers: int64 ids, else float32) and largest id."""
    import numpy as np

    ints = np.issubdtype(x.dtype, np.integer)
    return InputInfo(name, tuple(x.shape[1:]), "int64" if ints else "float32", int(x.max()) if ints and x.size else None)
