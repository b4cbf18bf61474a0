"""Named inputs of the CSV source (spec 12.1, 12.4): ``data.inputs`` of kinds ``text``,
``categorical`` and ``numeric``, each reading its column(s) of the file. This module owns
what they are in a spec (the kind's key names the column: ``review: {text: text}``),
what check proves of them (the columns exist, none is used twice or is the target, the
cells build would refuse) and what check reports of each (kind, column, shape, dtype,
vocabulary, the ``auto`` length and the share of train texts it truncates), and the
settings build and the script hand to runtime/csv_inputs.py's ``fit_inputs``."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Discriminator, Field, Tag

from ..components.base import PosInt
from ..components.call import literal
from ..errors import SourceError, did_you_mean
from .base import Base
from .info import InputInfo

KINDS = ("text", "categorical", "numeric")


class TextInput(Base):
    """A text column -> [N, length] int64 token ids (spec 12.2), the vocabulary fitted on train."""

    text: str = Field(min_length=1)
    lowercase: bool = True
    tokenizer: Literal["words", "whitespace", "chars"] = "words"
    max_tokens: Annotated[int, Field(ge=3)] = 20000
    min_freq: PosInt = 1
    length: PosInt | Literal["auto"] = "auto"
    truncate: Literal["end", "start"] = "end"


class CategoricalInput(Base):
    """A column of categories -> [N] int64 index (0: unseen) or [N, C] float32 one-hot."""

    categorical: str = Field(min_length=1)
    encoding: Literal["index", "one_hot"] = "index"


class NumericInput(Base):
    """Number columns -> [N, k] float32, through the tabular transforms (fitted on train)."""

    numeric: str | Annotated[list[str], Field(min_length=1)]
    transforms: list["TransformUnion"] = []  # noqa: F821 - resolved by schema.spec_class


def _kind(v) -> str | None:
    """The kind of an input mapping: the one kind key it holds."""
    if isinstance(v, dict):
        return next((k for k in KINDS if k in v), None)
    return next((k for k in KINDS if hasattr(v, k)), None)


CsvInput = Annotated[Union[Annotated[TextInput, Tag("text")], Annotated[CategoricalInput, Tag("categorical")],  # noqa: UP007
                           Annotated[NumericInput, Tag("numeric")]],
                     Discriminator(_kind, custom_error_type="input_kind",
                                   custom_error_message="give one of text, categorical, numeric (the key names "
                                   "the column: `review: {text: text}`)")]


def kind_of(how) -> str:
    return _kind(how)


def columns_of(how) -> list[str]:
    """The column(s) an input reads."""
    value = getattr(how, kind_of(how))
    return [value] if isinstance(value, str) else list(value)


class CsvInputs:
    """The CSV source with ``inputs`` (mixed into CsvData)."""

    def _input_columns(self, header) -> dict:
        """name -> (kind, columns), each column in the header, used once, not the target."""
        seen, targets = {}, self.targets()
        for name, how in self.inputs.items():
            kind = kind_of(how)
            for i, col in enumerate(columns_of(how)):
                where = ("inputs", name, kind) if isinstance(getattr(how, kind), str) else ("inputs", name, kind, i)
                if col not in header:
                    raise SourceError(where, f"no column `{col}` in {self.path}" + did_you_mean(col, header))
                if col in targets:
                    raise SourceError(where, f"`{col}` is the target; it cannot also be an input")
                if col in seen:
                    raise SourceError(where, f"the column `{col}` is read by the input {seen[col]} already; "
                                      "a column feeds one input")
                seen[col] = name
        return {name: (kind_of(how), columns_of(how)) for name, how in self.inputs.items()}

    def input_settings(self, code: bool = False) -> dict:
        """name -> the settings fit_inputs reads; numeric transforms as (fit, apply,
        invert) triples (``code``: as the script's source)."""
        out = {}
        for name, how in self.inputs.items():
            d = {"kind": kind_of(how), **how.model_dump(exclude={kind_of(how), "transforms"})}
            if d["kind"] == "numeric":
                d["transforms"] = [t.step_code() if code else t.step() for t in how.transforms]
            out[name] = d
        return out

    def _read_inputs(self, seed):
        """(raw x, y, the split's rows) as build and check read them."""
        from ..runtime.csv_inputs import read_inputs
        from .base import split_indices

        columns = self._input_columns(self._header())
        try:
            x, y = read_inputs(self.path, self.target, columns, self.classification(), self.delimiter)
        except ValueError as e:
            raise SourceError("target" if str(e).startswith("the target") else "path", str(e)) from None
        if not len(y):
            raise SourceError("path", f"{self.path} holds no rows under its header; a CSV needs data rows")
        rows = split_indices(y, self.split, seed, self.split.stratify and self.classification())
        return x, y, rows

    def fitted_inputs(self, seed, train_only: bool = False):
        """(name -> raw cells, split -> name -> encoded array, name -> fitted, rows): the
        inputs as build trains on them (``train_only``: the train split's alone, as check
        needs them: fitted on it, the others not encoded)."""
        from ..runtime.csv_inputs import fit_inputs
        from ..runtime.inputs import take_inputs
        from ..runtime.prepare import FitError

        x, _, rows = self._read_inputs(seed)
        self._check_numbers(x, rows["train"])
        try:
            xs, fitted = fit_inputs(take_inputs(x, {"train": rows["train"]} if train_only else rows),
                                    self.input_settings())
        except FitError as e:  # only a statistic over values too large gets here (blanks: _check_numbers)
            raise SourceError(("inputs",), f"a transform fitted a {e.key} that is not finite; scale the column") from None
        return x, xs, fitted, rows

    def _check_numbers(self, x, train) -> None:
        """Blank numeric cells need `fill` first in the input's transforms; infinite ones are refused."""
        import numpy as np

        from ..runtime.csv import row_lines

        for name, how in self.inputs.items():
            if kind_of(how) != "numeric":
                continue
            bad = ~np.isfinite(x[name])
            if not bad.any():
                continue
            row, col = np.argwhere(bad)[0]
            where = f"{self.path} line {row_lines(self.path, self.delimiter)[row]}, column `{columns_of(how)[col]}`"
            if np.isinf(x[name][row, col]):
                raise SourceError(("inputs", name), f"{where} holds an infinite value, which no transform fills; "
                                  "clean the data")
            kinds = [t.type_name for t in how.transforms]
            if not kinds or kinds[0] != "fill":
                raise SourceError(("inputs", name), f"blank cells (e.g. {where}): add `transforms: [{{fill: "
                                  "median}, ...]` (fill first), or fill them in")

    def inputs_info(self, seed):
        """(InputInfo per input, in forward's order; warnings): what check knows of each."""
        raw, xs, fitted, rows = self.fitted_inputs(seed, train_only=True)
        infos, warnings = [], []
        for name, how in self.inputs.items():
            kind, arr, got = kind_of(how), xs["train"][name], fitted[name]
            top = (len(got["vocabulary"]) - 1 if kind == "text" else
                   len(got["categories"]) if arr.dtype.kind == "i" else None)
            infos.append(InputInfo(name, tuple(arr.shape[1:]), "int64" if arr.dtype.kind == "i" else "float32", top,
                                   kind, ",".join(columns_of(how)), _note(kind, how, got)))
            if kind == "text" and _numbers_only(raw[name][rows["train"]]):
                warnings.append((("inputs", name, "text"), f"the column `{how.text}` holds only numbers; "
                                 "did you mean numeric?"))
        return tuple(infos), tuple(warnings)

    def input_code(self) -> tuple[list[str], list[str]]:
        """The script's imports and load line: read_inputs of each input's (kind, columns)."""
        columns = {name: (kind_of(how), columns_of(how)) for name, how in self.inputs.items()}
        args = ", ".join(literal(v) for v in (self.path, self.target, columns, self.classification()))
        return ["import csv", "import sys"], [f"x, y = read_inputs({args}, delimiter={literal(self.delimiter)})"]

    def fit_code(self) -> list[str]:
        """The script's line that fits the inputs on the train split (runtime/csv_inputs.py)."""
        settings = self.input_settings(code=True)
        items = []
        for name, d in settings.items():
            kv = [f"{literal(k)}: {literal(v)}" for k, v in d.items() if k != "transforms"]
            if "transforms" in d:
                kv.append(f"\"transforms\": [{', '.join(d['transforms'])}]")
            items.append(f"    {literal(name)}: {{{', '.join(kv)}}},")
        return ["x, x_fitted = fit_inputs(x, {", *items, "})"]


def _note(kind: str, how, got: dict) -> str:
    """check's note on an input: the vocabulary and length of a text, the categories."""
    if kind == "text":
        note = f"vocabulary {len(got['vocabulary'])} (train, min_freq {how.min_freq})"
        if got["truncated"] is None:
            return f"{note}; length {got['length']}"
        return f"{note}; length auto = {got['length']} (p95); {got['truncated']:.1%} of train texts truncated"
    if kind == "categorical":
        return f"{len(got['categories'])} categories + unseen (train)"
    return ""


def _numbers_only(texts) -> bool:
    """Whether every non-empty text is a number (a numeric column given as text)."""
    seen = False
    for t in texts[:1000]:
        if t:
            try:
                float(t)
            except ValueError:
                return False
            seen = True
    return seen
