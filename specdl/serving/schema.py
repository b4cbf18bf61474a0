"""The request and answer models of `specdl serve`, generated from a finished run's saved
preprocessing (its columns, their types and categories, the input shape, the classes):
pydantic models whose fields have safe Python names and the data's own names as aliases
(a column `class`, `json`, `_id`, `model_config`, `a b` or `2020` is a field like any other).
They validate a request (422: the row and the field) and describe it in /openapi.json."""

from __future__ import annotations

import keyword
import re
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictStr, create_model, model_validator
from typing_extensions import TypeAliasType

STRICT = ConfigDict(extra="forbid")


def safe_names(columns) -> dict[str, str]:
    """column -> a field name pydantic takes: the column itself where it is a plain
    identifier that no BaseModel attribute, keyword or private name claims, else ``f_``
    and the column with other characters as ``_`` (one more ``_`` where two collide)."""
    out, used = {}, set()
    for column in columns:
        name = re.sub(r"\W", "_", str(column), flags=re.ASCII) or "field"
        if (not name.isidentifier() or keyword.iskeyword(name) or name.startswith(("_", "model_"))
                or hasattr(BaseModel, name)):
            name = f"f_{name}"
        while name in used:
            name += "_"
        used.add(name)
        out[column] = name
    return out


def _fields(columns: dict) -> dict:
    """create_model's fields for ``{column: (type, description)}``, aliased by column."""
    names = safe_names(columns)
    return {names[c]: (t, Field(alias=c, description=d)) for c, (t, d) in columns.items()}


def row_model(numeric, categories: dict, texts=(), images=()):
    """A CSV run's row: each numeric column a number or null (a missing value, as a blank
    cell), each categorical (or text) column a text or null, each image column a path or
    an image; every column required, no other."""
    cols = {c: (StrictFloat | None, "a number; null for a missing value") for c in numeric}
    cols.update({c: (StrictStr | None, "a text (tokenized as in training); null for an empty one") for c in texts})
    cols.update({c: IMAGE_CELL for c in images})
    for c, cats in categories.items():
        shown = ", ".join(map(str, cats[:20])) + (" ..." if len(cats) > 20 else "")
        cols[c] = (StrictStr | None, f"one of the categories the run learnt ({shown}); another encodes as "
                                        "all zeros")
    return create_model("Row", __config__=STRICT, **_fields(cols))


def tabular_request(row):
    """A CSV run's request: ``rows`` (objects keyed by column) or ``columns`` and ``data``
    (the columns' names once, then a list of cells per row), read as ``rows``."""

    class PredictRequest(BaseModel):
        model_config = ConfigDict(**STRICT, json_schema_extra=_either_form)
        rows: list[row] = Field(min_length=1, description="one object per row, keyed by column name")

        @model_validator(mode="before")
        @classmethod
        def _columns_data(cls, body: Any):
            return columns_as_rows(body)

    PredictRequest.model_json_schema()  # built now: a bad model fails at start, not at a request
    return PredictRequest


def _either_form(schema: dict) -> None:
    """The request's schema in /openapi.json: ``rows``, or ``columns`` and ``data`` (which
    the model reads as ``rows`` before validating them)."""
    schema["properties"]["columns"] = {"type": "array", "items": {"type": "string"}, "minItems": 1,
                                       "title": "Columns", "description": "the columns' names, once (with `data`, "
                                       "instead of `rows`)"}
    schema["properties"]["data"] = {"type": "array", "items": {"type": "array"}, "minItems": 1, "title": "Data",
                                    "description": "a list of cells per row, in the order of `columns`"}
    schema.pop("required", None)
    schema["oneOf"] = [{"required": ["rows"]}, {"required": ["columns", "data"]}]


def columns_as_rows(body):
    """``{"columns": [...], "data": [[...], ...]}`` as ``{"rows": [...]}`` (the request's
    other form), each data row as long as the columns."""
    if not isinstance(body, dict) or "columns" not in body or "rows" in body:
        return body
    columns, data = body.get("columns"), body.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ValueError("`columns` is a list of column names")
    if len(set(columns)) != len(columns):
        raise ValueError("`columns` names a column twice")
    if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
        raise ValueError("`data` is a list of rows, each a list of cells in the order of `columns`")
    for i, cells in enumerate(data):
        if len(cells) != len(columns):
            raise ValueError(f"data row {i} has {len(cells)} cells for {len(columns)} columns")
    extra = set(body) - {"columns", "data"}
    return {"rows": [dict(zip(columns, r)) for r in data], **{k: body[k] for k in extra}}


Numbers = TypeAliasType("Numbers", Union[StrictFloat, list["Numbers"]])  # noqa: UP007 - a recursive alias
# a named input's sample: numbers, null where missing (a numeric input's `fill` fills it)
Values = TypeAliasType("Values", Union[StrictFloat, None, list["Values"]])  # noqa: UP007 - a recursive alias


class ImageItem(BaseModel):
    """One image: its file's bytes in base64, or a path under the server's --files folder."""

    model_config = STRICT
    base64: str | None = Field(None, description="the image file's bytes, base64-encoded")
    path: str | None = Field(None, description="a path relative to the server's --files folder")

    @model_validator(mode="after")
    def _one(self):
        if (self.base64 is None) == (self.path is None):
            raise ValueError("give an image as `base64` or as `path`, one of them")
        return self


IMAGE_CELL = (StrictStr | ImageItem, "an image: a path relative to the server's --files folder, or "
                                      "{\"base64\": the file's bytes} (or {\"path\": ...})")


def instances_request(item, what: str):
    """An array or image run's request: ``instances``, one sample each."""
    return create_model("PredictRequest", __config__=STRICT,
                        instances=(list[item], Field(min_length=1, description=what)))


def answer_model(columns: dict):
    """The answer: ``rows``, one object per sample with ``columns`` ({name: type})."""
    row = create_model("AnswerRow", **_fields({c: (t, None) for c, t in columns.items()}))
    return create_model("Answer", rows=(list[row], ...))


def answer_columns(run) -> dict:
    """The columns of `specdl predict --format json`'s rows for ``run``, {name: type}:
    the image's ``file``, then ``prediction`` and ``p_<class>`` (classification), or
    ``prediction`` / ``prediction_<j>`` (multilabel labels, several regression values);
    several outputs: each target's, ``<target>`` and ``<target>.p_<class>``."""
    from ..runs.predict import output_columns

    return {**({"file": str} if run.spec.data.file_backed else {}), **output_columns(run)}


def named_request(run):
    """A named-input run's request (spec 12.8): ``inputs``, one list of values per input
    (texts, categories, rows of numbers, nested lists); a CSV run's also as ``rows`` (or
    ``columns`` and ``data``): one of the two forms."""
    from ..runs.named import all_columns, csv_columns

    csv = run.spec.data.source == "csv"
    fields = {}
    for i in run.analysis.data.inputs:
        kind = csv_columns(run)[i.name][0] if csv else "array"
        what = {"text": (StrictStr | None, "one text per sample (tokenized as in training; null: empty)"),
                "categorical": (StrictStr | None, "one category per sample (one the run never saw, or null: 0)"),
                "image": IMAGE_CELL}.get(kind, (Values, f"one sample each, {list(i.feat)} numbers (null: a missing value)"))
        fields[i.name] = (list[what[0]], what[1])
    inputs = create_model("Inputs", __config__=STRICT, **_fields(fields))
    extra = {}
    if csv:
        cats = {c: run.pre["inputs"][n]["categories"] for n, (k, cols) in csv_columns(run).items()
                if k == "categorical" for c in cols}
        texts, images = ([c for k, cols in csv_columns(run).values() if k == kind for c in cols]
                         for kind in ("text", "image"))
        numeric = [c for c in all_columns(run) if c not in cats and c not in texts and c not in images]
        row = row_model(numeric, cats, texts, images)
        extra["rows"] = (list[row] | None, Field(None, min_length=1, description="one object per row, keyed by column"))

    class PredictRequest(create_model("Base", __config__=STRICT, **extra,
                                      inputs=(inputs | None, Field(None, description="one list per input")))):
        @model_validator(mode="before")
        @classmethod
        def _columns_data(cls, body: Any):
            return columns_as_rows(body)

        @model_validator(mode="after")
        def _one_form(self):
            if (getattr(self, "rows", None) is None) == (self.inputs is None):
                raise ValueError("give `inputs` (one list per input)" + (" or `rows`, one of them" if csv else ""))
            return self

    PredictRequest.model_json_schema()  # built now: a bad model fails at start, not at a request
    return PredictRequest


def request_model(run):
    """The request model of ``run``: a CSV run's rows, an image run's images, an array
    run's instances (each a nested list of numbers: a sample as `predict --input x.npy`
    holds it); a named-input run's ``inputs`` (``named_request``)."""
    data = run.spec.data
    if run.analysis.graph.named:
        return named_request(run)
    if data.file_backed:
        return instances_request(ImageItem, "one image per sample")
    if data.source == "csv":
        numeric, cats = data.columns()
        return tabular_request(row_model(numeric, dict(zip(cats, run.pre["categories"] or []))))
    shape = list(run.analysis.data.feat)
    return instances_request(Numbers, f"one sample each, a nested list of numbers (the model takes {shape} "
                                      "after the run's transforms)")


def named_info(run) -> dict:
    """/info's inputs of a named-input run: each input's kind, columns, shape and what
    it fitted (categories, text length)."""
    from ..runs.named import csv_columns

    csv = run.spec.data.source == "csv"
    out = []
    for i in run.analysis.data.inputs:
        row = {"name": i.name, "kind": i.kind or "array", "shape": list(i.feat), "dtype": i.dtype}
        if csv:
            row["columns"] = csv_columns(run)[i.name][1]
            fit = run.pre["inputs"][i.name]
            row.update({k: fit[k] for k in ("categories", "length") if k in fit})
        out.append(row)
    return {"form": "inputs or rows" if csv else "inputs", "inputs": out}


def run_info(run, backend: str, version: str) -> dict:
    """/info: the spec's name and fingerprint (tune's), specdl's version, the inputs,
    the answer's columns, the classes and the backend."""
    from ..front import spec_fingerprint

    data, pre = run.spec.data, run.pre
    if run.analysis.graph.named:
        inputs = named_info(run)
    elif data.source == "csv" and not data.file_backed:
        numeric, cats = data.columns()
        inputs = {"form": "rows", "columns": [{"name": c, "type": "number"} for c in numeric]
                  + [{"name": c, "type": "category", "categories": list(k)}
                     for c, k in zip(cats, pre["categories"] or [[] for _ in cats])]}
    else:
        inputs = {"form": "instances", "images": bool(data.file_backed), "shape": list(run.analysis.data.feat)}
    return {"name": run.spec.name, "fingerprint": spec_fingerprint(run.analysis), "specdl": version,
            "task": run.analysis.kind, "inputs": inputs, "outputs": list(answer_columns(run)),
            "classes": pre["class_names"], "backend": backend}
