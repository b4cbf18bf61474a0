"""Named inputs of the CSV source (spec 12.1, 12.4): ``data.inputs`` of kinds ``text``,
``categorical``, ``numeric`` and ``image`` (a column of image paths, relative to the CSV's
folder, which makes the source file-backed), each reading its column(s) of the file. This
module owns what they are in a spec (the kind's key names the column: ``review: {text:
text}``), what check proves of them (the columns exist, none is used twice or is the
target, the cells build would refuse, the image files exist and come to one shape) and
what check reports of each (kind, column, shape, dtype, vocabulary, the ``auto`` length and
the share of train texts it truncates, the images' count), and the settings build and the
script hand to runtime/csv_inputs.py's ``fit_inputs``."""

from __future__ import annotations

import os
from typing import Annotated, Literal, Union

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from ..components.base import PosInt
from ..components.call import literal
from ..errors import SourceError, did_you_mean
from .base import Base
from .images import ImageSteps
from .info import InputInfo

KINDS = ("text", "categorical", "numeric", "image")


class InputBase(Base):
    """An input of a kind, written short (``review: {text: text}``: the kind's key names the
    column) or canonical (``{kind: text, column: text}``: what ``check --print`` shows)."""

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, v):
        if not (isinstance(v, dict) and "kind" in v):
            return v
        if "column" not in v or v["kind"] in v:
            raise ValueError(f"the canonical form names the column once, as `column`: `{{kind: {v['kind']}, "
                             "column: NAME}`")
        return {k: x for k, x in v.items() if k not in ("kind", "column")} | {v["kind"]: v["column"]}

    def canonical(self) -> dict:
        """``{kind, column, ...}`` with the settings given (defaults left out)."""
        kind = kind_of(self)
        return {"kind": kind, "column": getattr(self, kind),
                **{k: _dumped(getattr(self, k)) for k in self.model_fields_set if k != kind}}

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):
        """The short form's schema, or the canonical form's (the kind's key as `column`)."""
        ref = handler(core_schema)
        short = handler.resolve_ref_schema(ref)
        kind = next(k for k in KINDS if k in short["properties"])
        props = {k: v for k, v in short["properties"].items() if k != kind}
        canonical = {"type": "object", "additionalProperties": False, "required": ["kind", "column"],
                     "properties": {"kind": {"const": kind}, "column": short["properties"][kind], **props}}
        both = {"title": short.get("title"), "anyOf": [dict(short), canonical]}
        short.clear()
        short.update(both)
        return ref


def _dumped(v):
    """A setting as plain data (the numeric transforms in their canonical form)."""
    return [t.canonical() for t in v] if isinstance(v, list) and v and hasattr(v[0], "canonical") else v


class TextInput(InputBase):
    """A text column -> [N, length] int64 token ids (spec 12.2), the vocabulary fitted on train."""

    text: str = Field(min_length=1)
    lowercase: bool = True
    tokenizer: Literal["words", "whitespace", "chars"] = "words"
    max_tokens: Annotated[int, Field(ge=3)] = 20000
    min_freq: PosInt = 1
    length: PosInt | Literal["auto"] = "auto"
    truncate: Literal["end", "start"] = "end"


class CategoricalInput(InputBase):
    """A column of categories -> [N] int64 index (0: unseen) or [N, C] float32 one-hot."""

    categorical: str = Field(min_length=1)
    encoding: Literal["index", "one_hot"] = "index"


class NumericInput(InputBase):
    """Number columns -> [N, k] float32, through the tabular transforms (fitted on train)."""

    numeric: str | list[str]
    transforms: list["TransformUnion"] = []  # noqa: F821 - resolved by schema.spec_class

    @field_validator("numeric")
    @classmethod
    def _some(cls, v):
        if v == []:  # said here, at the key (a union's error would name the input and a string)
            raise ValueError("give at least one number column, e.g. `numeric: [runtime, year]`")
        return v


class ImageInput(ImageSteps, Base):
    """A column of image paths (relative to the CSV's folder) -> [N, C, H, W] float32,
    decoded per sample (the source becomes file-backed): ``transforms`` on every split,
    ``augment`` on the train split first."""

    image: str = Field(min_length=1)
    transforms: list[ImageTransformUnion] = []  # noqa: F821 - resolved by schema.spec_class
    augment: list[ImageTransformUnion] = []  # noqa: F821 - train split only


# The inputs' fields that list a component union: schema.spec_class sets them to each union
# it makes (a model nested in the source keeps the types it first resolved otherwise)
REBUILT = {NumericInput: {"transforms": "TransformUnion"},
           ImageInput: {"transforms": "ImageTransformUnion", "augment": "ImageTransformUnion"}}


# Ludwig's feature types -> the kind that reads such a column here
LUDWIG_TYPES = {"category": "categorical", "binary": "categorical", "set": "categorical", "number": "numeric",
                "numerical": "numeric", "text": "text", "sequence": "text", "image": "image"}


def ludwig_inputs(v):
    """``data.inputs`` before validation: an input written Ludwig's way (`{type: category,
    column: plan}`, `{name: plan, type: category}`) or with a misspelt kind key
    (`{category: plan}`) is a ValueError saying what to write."""
    for name, how in (v.items() if isinstance(v, dict) else ()):
        if not isinstance(how, dict) or _kind(how) is not None:
            continue
        kind = LUDWIG_TYPES.get(str(how.get("type", "")).lower())
        col = how.get("column", how.get("name", name))
        if kind:
            raise ValueError(f"input `{name}`: Ludwig's `type: {how['type']}` is written `{name}: {{{kind}: {col}}}` "
                             "here (the kind's key names the column)")
        for key, val in how.items():
            if key in ("type", "column", "name", "kind"):
                continue
            close = LUDWIG_TYPES.get(str(key).lower()) or did_you_mean(str(key), KINDS).partition("`")[2][:-2]
            if close in KINDS and isinstance(val, str | list):
                raise ValueError(f"input `{name}`: unknown kind `{key}`; did you mean `{name}: {{{close}: {val}}}`?")
    return v


def _kind(v) -> str | None:
    """The kind of an input mapping: the one kind key it holds."""
    if isinstance(v, dict):
        return v["kind"] if v.get("kind") in KINDS else next((k for k in KINDS if k in v), None)
    return next((k for k in KINDS if hasattr(v, k)), None)


CsvInput = Annotated[Union[Annotated[TextInput, Tag("text")], Annotated[CategoricalInput, Tag("categorical")],  # noqa: UP007
                           Annotated[NumericInput, Tag("numeric")], Annotated[ImageInput, Tag("image")]],
                     Discriminator(_kind, custom_error_type="input_kind",
                                   custom_error_message="give one of text, categorical, numeric, image (the key names "
                                   "the column: `review: {text: text}`)")]


def kind_of(how) -> str:
    return _kind(how)


def columns_of(how) -> list[str]:
    """The column(s) an input reads."""
    value = getattr(how, kind_of(how))
    return [value] if isinstance(value, str) else list(value)


class CsvInputs:
    """The CSV source with ``inputs`` (mixed into CsvData)."""

    def _read_error(self, msg: str) -> SourceError:
        """A reading error located: a cell of a numeric input that is not a number at that
        input's column, saying which kind reads it (text and yes/no are categories)."""
        import re

        m = re.search(r"column `(.*?)` holds .*, not a number; ", msg)
        for name, how in self.inputs.items() if m else ():
            cols = columns_of(how) if kind_of(how) == "numeric" else []
            if m[1] in cols:
                one = isinstance(how.numeric, str)
                where = ("inputs", name, "numeric") + (() if one else (cols.index(m[1]),))
                fix = "read it as" if one else f"take it out of `{name}` and add the input"
                return SourceError(where, msg[:m.end() - 2] + f"; {fix} `{name if one else m[1]}: {{categorical: "
                                   f"{m[1]}}}` (a few values), or `{{text: {m[1]}}}` (free text)")
        return SourceError("target" if msg.startswith("the target") else "path", msg)

    def _input_columns(self, header) -> dict:
        """name -> (kind, columns), each column in the header, used once, not the target."""
        seen, targets = {}, self.target_columns()
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
            d = {"kind": kind_of(how), **how.model_dump(exclude={kind_of(how), "transforms", "augment"})}
            if d["kind"] == "image":
                d["folder"] = os.path.dirname(self.path)
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
            raise self._read_error(str(e)) from None
        if not len(y):
            raise SourceError("path", f"{self.path} holds no rows under its header; a CSV needs data rows")
        rows = split_indices(y, self.split, seed, self.split.stratify and self.classification(), self.class_names())
        return x, y, rows

    def fitted_inputs(self, seed, train_only: bool = False):
        """(name -> raw cells, split -> name -> encoded array, name -> fitted, rows): the
        inputs as build trains on them (``train_only``: the train split's alone, as check
        needs them: fitted on it, the others not encoded)."""
        from ..runtime.csv_inputs import fit_inputs
        from ..runtime.prepare import FitError, take_inputs

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
            if kind == "image":
                shape, note = self._image_info(name, how, raw[name])
                infos.append(InputInfo(name, shape, "float32", None, kind, how.image, note))
                continue
            top = (len(got["vocabulary"]) - 1 if kind == "text" else
                   len(got["categories"]) if arr.dtype.kind == "i" else None)
            infos.append(InputInfo(name, tuple(arr.shape[1:]), "int64" if arr.dtype.kind == "i" else "float32", top,
                                   kind, ",".join(columns_of(how)), _note(kind, how, got)))
            if kind == "text" and _numbers_only(raw[name][rows["train"]]):
                warnings.append((("inputs", name, "text"), f"the column `{how.text}` holds only numbers; "
                                 "did you mean numeric?"))
            elif kind == "text" and len(got["vocabulary"]) <= 2:  # <pad> and <unk> alone: every text reads as nothing
                why = "lower min_freq" if "min_freq" in how.model_fields_set else "fill in the texts"
                warnings.append((("inputs", name, "text"), f"the vocabulary of `{how.text}` holds no word (the "
                                 f"train split's texts are blank, or each word is rarer than min_freq "
                                 f"{how.min_freq}): the input tells the model nothing; {why}"))
        return tuple(infos), tuple(warnings)

    def image_inputs(self) -> list[str]:
        """The names of the image inputs (any makes the source file-backed: spec 12.5)."""
        return [name for name, how in (self.inputs or {}).items() if kind_of(how) == "image"]

    @property
    def named_template(self) -> str:
        """The script's data section (templates/): image inputs make it file-backed."""
        return {True: "data/named_images.py.j2"}.get(bool(self.image_inputs()), "data/named.py.j2")

    def _image_info(self, name: str, how, paths) -> tuple[tuple, str]:
        """An image input's per-sample shape (its images' sizes through the transforms, one
        shape for every image) and check's note; the paths exist and are images."""
        from ..errors import ShapeError
        from ..runtime.csv import row_lines
        from .images import image_sizes

        where, folder = ("inputs", name, "image"), os.path.dirname(self.path)
        if not all(paths):
            row = next(i for i, p in enumerate(paths) if not p)
            raise SourceError(where, f"{self.path} line {row_lines(self.path, self.delimiter)[row]} has no path in "
                              f"`{how.image}`; give every row an image")
        if not os.path.isfile(os.path.join(folder, paths[0])):
            raise SourceError(where, f"the first path of `{how.image}`, {paths[0]}, is not a file in "
                              f"{os.path.abspath(folder)} (image paths are taken from the CSV's folder); "
                              "fix the paths, or move the CSV beside its images")
        shapes = {}
        for path, (w, h) in image_sizes(dict.fromkeys(os.path.join(folder, p) for p in paths), where).items():
            try:
                shapes.setdefault(how.shape_after((3, h, w)), (path, w, h))
            except ShapeError as e:
                raise SourceError(("inputs", name, e.group, e.index), f"{e} ({path} is {w}x{h} pixels)") from None
        if len(shapes) > 1:
            (_, a), (_, b) = list(shapes.items())[:2]
            raise SourceError(where, f"{b[0]} is {b[1]}x{b[2]} pixels but {a[0]} is {a[1]}x{a[2]}, and the "
                              "transforms do not bring them to one size; add `resize: [H, W]` to its transforms")
        distinct = len(set(paths))
        return next(iter(shapes)), f"{distinct} image{'s' * (distinct != 1)} for {len(paths)} rows (decoded per sample)"

    def input_code(self) -> tuple[list[str], list[str]]:
        """The script's imports and load statement: read_inputs of each input's (kind, columns), one a line."""
        columns = [f"    {literal(name)}: {literal((kind_of(how), columns_of(how)))}," for name, how in self.inputs.items()]
        head = ", ".join(literal(v) for v in (self.path, self.target))
        images = ["import os", "from PIL import Image", "from torchvision.transforms import v2",
                  "from torch.utils.data import DataLoader"] if self.image_inputs() else []
        return ["import csv", "import sys", *images], [f"x, y = read_inputs({head}, {{", *columns,
                                              f"}}, {literal(self.classification())}, delimiter={literal(self.delimiter)})"]

    def record_code(self) -> list[str]:
        """The script's line that adds what each input fitted to its preprocess record
        (preprocess.json's ``inputs``: predict applies it), as build writes it."""
        return ['record["inputs"] = inputs_record(x_fitted)  # what each input fitted: predict applies it']

    def fit_code(self) -> list[str]:
        """The script's statement that fits the inputs on the train split (runtime/csv_inputs.py):
        an input's settings packed a few to a line, its transforms one a line."""
        lines = ["x, x_fitted = fit_inputs(x, {"]
        for name, d in self.input_settings(code=True).items():
            lines += [f"    {literal(name)}: {{",
                      *_packed([f"{literal(k)}: {literal(v)}" for k, v in d.items() if k != "transforms"], " " * 8)]
            if "transforms" in d:
                lines += ['        "transforms": [', *(f"            {t}," for t in d["transforms"]), "        ],"]
            lines.append("    },")
        return [*lines, "})"]


def _packed(items: list[str], indent: str, width: int = 100) -> list[str]:
    """``items`` (source fragments, each kept whole) joined by commas into lines of at most ``width``."""
    lines: list[str] = []
    for item in items:
        if lines and len(indent) + len(lines[-1]) + len(item) + 2 <= width:
            lines[-1] += f" {item},"
        else:
            lines.append(f"{item},")
    return [indent + ln for ln in lines]


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
