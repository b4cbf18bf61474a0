"""In-memory tabular sources: scikit-learn data, synthetic data, CSV and NumPy files.
(NumPy is imported where it is used: ``check`` stays fast.)"""

import math
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from ..components.base import HELPERS, PosInt, literal, resolve
from ..errors import did_you_mean
from .base import DataSource, SourceError
from .info import GENERATORS, SKLEARN, DataInfo


class Loaded:
    """A whole data set: numeric features ``x``, targets ``y``, and (CSV) categorical
    string columns ``cats`` one-hot encoded after the split."""

    def __init__(self, x, y, cats=None):
        self.x, self.y, self.cats = x, y, cats


class SklearnData(DataSource):
    """A scikit-learn bundled data set, or a generator with its arguments."""

    source: Literal["sklearn"]
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

    def info(self, seed: int = 0):
        if self.dataset in SKLEARN:
            _, feat, task, n = SKLEARN[self.dataset]
            return DataInfo((feat,), "float32", task, n if task == "classification" else None,
                            (n,) if task == "regression" else None)
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
        from sklearn import datasets

        return [str(n) for n in getattr(datasets, SKLEARN[self.dataset][0])().target_names]

    def load(self, seed):
        from sklearn import datasets

        if self.dataset in SKLEARN:
            return Loaded(*getattr(datasets, SKLEARN[self.dataset][0])(return_X_y=True))
        return Loaded(*getattr(datasets, self.dataset)(**self.params, random_state=seed))

    def code(self):
        if self.dataset in SKLEARN:
            return ["from sklearn import datasets"], [f"x, y = datasets.{SKLEARN[self.dataset][0]}(return_X_y=True)"]
        args = "".join(f"{k}={literal(v)}, " for k, v in self.params.items())
        return ["from sklearn import datasets"], [f"x, y = datasets.{self.dataset}({args}random_state=SEED)"]


class SyntheticData(DataSource):
    """Random data of a given shape, for smoke runs and tests: labels (or targets) are a
    fixed random function of x, so a model can learn them."""

    source: Literal["synthetic"]
    shape: list[PosInt] = Field(min_length=1)
    classes: Annotated[int, Field(ge=2)] | None = None
    outputs: PosInt | list[PosInt] | None = None
    size: Annotated[int, Field(ge=8)] = 256
    dtype: Literal["float32", "int64"] = "float32"
    high: PosInt = 10

    def model_post_init(self, _):
        if (self.classes is None) == (self.outputs is None):
            raise ValueError("give exactly one of `classes` (classification) or `outputs` (regression)")

    @property
    def target(self) -> tuple:
        return (self.outputs,) if isinstance(self.outputs, int) else tuple(self.outputs or ())

    def info(self, seed: int = 0):
        if self.classes:
            return DataInfo(tuple(self.shape), self.dtype, "classification", self.classes, None)
        return DataInfo(tuple(self.shape), self.dtype, "regression", None, self.target)

    def load(self, seed):
        import numpy as np

        rng = np.random.default_rng(seed)
        shape = (self.size, *self.shape)
        if self.dtype == "int64":
            x = rng.integers(0, self.high, size=shape)
            flat = np.eye(self.high)[x.reshape(self.size, -1)].mean(axis=1)  # token histogram
        else:
            x = rng.standard_normal(shape)
            flat = x.reshape(self.size, -1)
        score = flat @ rng.standard_normal((flat.shape[1], self.classes or int(np.prod(self.target))))
        return Loaded(x, score.argmax(axis=1) if self.classes else score.reshape(self.size, *self.target))

    def code(self):
        shape = ", ".join(str(d) for d in (self.size, *self.shape))
        lines = ["# Synthetic data: labels (or targets) are a fixed random function of x.",
                 "rng = np.random.default_rng(SEED)"]
        if self.dtype == "int64":
            lines += [f"x = rng.integers(0, {self.high}, size=({shape}))",
                      f"flat = np.eye({self.high})[x.reshape({self.size}, -1)].mean(axis=1)  # token histogram"]
        else:
            lines += [f"x = rng.standard_normal(({shape}))", f"flat = x.reshape({self.size}, -1)"]
        width = self.classes or math.prod(self.target)
        lines.append(f"score = flat @ rng.standard_normal((flat.shape[1], {width}))")
        lines.append("y = score.argmax(axis=1)" if self.classes else
                     f"y = score.reshape({', '.join(map(str, (self.size, *self.target)))})")
        return [], lines


# Read by specdl and embedded verbatim in generated scripts.
READ_CSV_HELPER = '''\
def read_csv(path, target, numeric, categorical, classification, delimiter=","):
    """Numeric features (NaN where missing), categorical strings, and targets from a CSV."""
    missing = {"", "na", "nan", "null", "none", "?"}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter=delimiter))

    def number(row, col, i):
        text = row[col].strip()
        if text.lower() in missing:
            return float("nan")
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"column `{col}` row {i + 2} holds {text!r}, not a number; "
                             "list the column under `categorical`") from None

    x = np.array([[number(r, c, i) for c in numeric] for i, r in enumerate(rows)], dtype=np.float64)
    x = x.reshape(len(rows), len(numeric))
    cats = np.array([[r[c].strip() for c in categorical] for r in rows], dtype=object).reshape(len(rows), -1)
    if classification:
        classes = sorted({r[target].strip() for r in rows})
        y = np.array([classes.index(r[target].strip()) for r in rows], dtype=np.int64)
    else:
        y = np.array([number(r, target, i) for i, r in enumerate(rows)], dtype=np.float64)
    return x, cats, y
'''
HELPERS["read_csv"] = (READ_CSV_HELPER, lambda: {"csv": __import__("csv"), "np": __import__("numpy")})
_MISSING = {"", "na", "nan", "null", "none", "?"}


class CsvData(DataSource):
    """A CSV file with a header row: ``target`` names the label column; ``features``
    the inputs (default: every other column); ``categorical`` the ones one-hot encoded
    (categories fitted on the train split). Relative paths are taken from the current
    directory."""

    source: Literal["csv"]
    path: str
    target: str
    features: list[str] | None = None
    categorical: list[str] = []
    delimiter: str = Field(",", min_length=1, max_length=1)
    helpers: ClassVar[tuple] = ("read_csv",)

    def _header(self) -> list[str]:
        import csv

        try:
            with open(self.path, newline="") as f:
                header = next(csv.reader(f, delimiter=self.delimiter), None)
        except FileNotFoundError:
            raise SourceError("path", f"no such file: {self.path} (looked in {Path(self.path).resolve().parent})") from None
        except OSError as e:
            raise SourceError("path", f"cannot read {self.path}: {e.strerror}") from None
        if not header:
            raise SourceError("path", f"{self.path} is empty; a CSV needs a header row")
        return list(header)

    def columns(self) -> tuple[list[str], list[str]]:
        """(numeric, categorical) feature columns, checked against the header."""
        header = self._header()
        if self.target not in header:
            raise SourceError("target", f"no column `{self.target}` in {self.path}" + did_you_mean(self.target, header))
        feats = self.features if self.features is not None else [h for h in header if h != self.target]
        for name in [*feats, *self.categorical]:
            if name not in header:
                raise SourceError("features", f"no column `{name}` in {self.path}" + did_you_mean(name, header))
        for name in self.categorical:
            if name not in feats:
                raise SourceError("categorical", f"`{name}` is not among the features")
        if self.target in feats:
            raise SourceError("features", f"the target `{self.target}` cannot also be a feature")
        return [f for f in feats if f not in self.categorical], list(self.categorical)

    def classification(self) -> bool:
        if self.task:
            return self.task == "classification"
        import csv

        with open(self.path, newline="") as f:
            for row in csv.DictReader(f, delimiter=self.delimiter):
                text = row[self.target].strip()
                if text.lower() in _MISSING:
                    continue
                try:
                    float(text)
                except ValueError:
                    return True  # text labels
        return False

    def class_names(self) -> list[str] | None:
        if not self.classification():
            return None
        import csv

        with open(self.path, newline="") as f:
            return sorted({r[self.target].strip() for r in csv.DictReader(f, delimiter=self.delimiter)})

    def _read(self, numeric, cats):
        fn = resolve("read_csv")
        try:
            return fn(self.path, self.target, numeric, cats, self.classification(), self.delimiter)
        except ValueError as e:
            raise SourceError("features", str(e)) from None
        except (KeyError, TypeError, AttributeError):  # a row shorter than the header
            raise SourceError("path", f"{self.path} has rows with missing cells; every row needs every column") from None

    def info(self, seed: int = 0):
        numeric, cats = self.columns()
        classification = self.classification()
        width = len(numeric)
        classes = None
        if cats or classification:
            x, c, y = self._read(numeric, cats)
            if classification:
                classes = int(y.max()) + 1
            if cats:
                from ..data import split_indices

                train = split_indices(y, self.split, seed, self.split.stratify and classification)["train"]
                width += sum(len(set(c[train, j])) for j in range(len(cats)))
        if classification:
            return DataInfo((width,), "float32", "classification", classes, None)
        return DataInfo((width,), "float32", "regression", None, (1,))

    def load(self, seed):
        numeric, cats = self.columns()
        x, c, y = self._read(numeric, cats)
        return Loaded(x, y, c if cats else None)

    def code(self):
        numeric, cats = self.columns()
        args = [literal(self.path), literal(self.target), literal(numeric), literal(cats),
                literal(self.classification())]
        if self.delimiter != ",":
            args.append(f"delimiter={literal(self.delimiter)}")
        return ["import csv"], [f"x, cats, y = read_csv({', '.join(args)})"]


class NpzData(DataSource):
    """A NumPy ``.npz`` file holding the features under ``x`` and the targets under
    ``y`` (integer targets: classification; float: regression)."""

    source: Literal["npz"]
    path: str
    x: str = "x"
    y: str = "y"

    def _arrays(self):
        import numpy as np

        try:
            f = np.load(self.path, allow_pickle=False)
        except FileNotFoundError:
            raise SourceError("path", f"no such file: {self.path}") from None
        except (OSError, ValueError) as e:
            raise SourceError("path", f"cannot read {self.path} as .npz: {e}") from None
        for field, key in (("x", self.x), ("y", self.y)):
            if key not in f.files:
                raise SourceError(field, f"{self.path} has no array `{key}`" + did_you_mean(key, f.files))
        return f[self.x], f[self.y]

    def info(self, seed: int = 0):
        import numpy as np

        x, y = self._arrays()
        dtype = "int64" if np.issubdtype(x.dtype, np.integer) else "float32"
        if len(x) != len(y):
            raise SourceError("y", f"x has {len(x)} rows but y has {len(y)}")
        if self.task == "multilabel":
            if y.ndim != 2:
                raise SourceError("y", f"multilabel targets are [N, labels] of 0/1; `{self.y}` is {list(y.shape)}")
            return DataInfo(tuple(x.shape[1:]), dtype, "multilabel", int(y.shape[1]), None)
        if (self.task or ("classification" if np.issubdtype(y.dtype, np.integer) else "regression")) == "classification":
            return DataInfo(tuple(x.shape[1:]), dtype, "classification", int(y.max()) + 1, None)
        return DataInfo(tuple(x.shape[1:]), dtype, "regression", None, tuple(y.shape[1:]) or (1,))

    def load(self, seed):
        return Loaded(*self._arrays())

    def code(self):
        return [], [f"with np.load({literal(self.path)}) as f:",
                    f"    x, y = f[{literal(self.x)}], f[{literal(self.y)}]"]
