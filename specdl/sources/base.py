"""What every data source shares: the split, the transforms, the task."""

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from ..components.base import STRICT
from ..errors import RunError, SourceError

Task = Literal["classification", "regression", "multilabel"]


class Base(BaseModel):
    # strict: a bool or a string where a number belongs is an error, not 1 or 3;
    # no inf/nan: every number of a spec is finite (docs/spec.md)
    model_config = ConfigDict(**STRICT, defer_build=True)


class Split(Base):
    """Fractions held out for validation and test, drawn with the spec's seed."""

    val: float = Field(0.1, ge=0.0, lt=1.0)
    test: float = Field(0.2, gt=0.0, lt=1.0)  # a run is always tested
    stratify: bool = True

    @model_validator(mode="after")
    def _leaves_training_data(self):
        if self.val + self.test >= 1.0:
            raise ValueError(f"val {self.val} + test {self.test} leaves nothing to train on; "
                             "their sum must be below 1")
        return self


# Every data source, by its `source:` name: a class registers itself by being defined
# with a `source: Literal["name"]` field, as a component registers by its `type=`.
SOURCES: dict[str, type] = {}


class DataSource(Base):
    """A data source. Subclasses say what they give (``info``, without loading the data
    where they can), how to load it (``load``) and the script lines that do the same
    (``code``)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs):
        super().__pydantic_init_subclass__(**kwargs)
        field = cls.model_fields.get("source")
        if field is not None:
            SOURCES[field.annotation.__args__[0]] = cls

    split: Split = Field(default_factory=Split)
    transforms: list["TransformUnion"] = []  # noqa: F821 - resolved by schema.spec_class
    target_transforms: list["TransformUnion"] = []  # noqa: F821
    task: Task | None = None
    file_backed: ClassVar[bool] = False
    labels_at: ClassVar[str] = "source"  # the key an error about the data's classes points at
    # the features of ``code`` may come in another dtype than training's (float64 or int64)
    any_dtype: ClassVar[bool] = False
    script_template: ClassVar[str] = "data/in_memory.py.j2"  # the script's data section (templates/)

    # What a run directory saved about the data (``saved_facts``): a finished run is
    # checked, predicted with and exported without the training data at hand.
    _facts: dict | None = PrivateAttr(default=None)

    def saved_facts(self, seed: int = 0) -> dict:
        """The static facts of the data, to keep in a run directory (JSON)."""
        from dataclasses import asdict

        # check's warnings are not the run's; named inputs are kept where there are some (one input: as before)
        info = {k: v for k, v in asdict(self.info(seed)).items() if k != "warnings" and (k != "inputs" or v)}
        facts = {"info": info, "max_token": self.max_token()}
        if hasattr(self, "columns"):
            facts["columns"] = [list(c) for c in self.columns()]
        return facts

    def use_saved(self, facts: dict | None) -> None:
        self._facts = facts

    def facts(self, seed: int = 0):
        """``info(seed)`` (the seed draws the split a CSV's one-hot width depends on), or
        what a run directory saved of it."""
        from .info import DataInfo, InputInfo

        if self._facts and "info" in self._facts:
            d = dict(self._facts["info"])
            d["feat"] = tuple(d["feat"])
            d["outputs"] = tuple(d["outputs"]) if d.get("outputs") is not None else None
            d["inputs"] = tuple(InputInfo.of(row) for row in d.get("inputs", ()))
            return DataInfo(**d)
        return self.info(seed)

    def known_max_token(self) -> int | None:
        return self._facts.get("max_token") if self._facts else self.max_token()

    def validates(self) -> bool:
        """Whether there is a validation split to evaluate each epoch."""
        return self.split.val > 0

    def validation_missing(self) -> tuple[tuple, str]:
        """Where a spec without validation data gives it, and how (for check's error)."""
        return ("data", "split", "val"), "a validation split (val > 0)"

    def class_names(self) -> list[str] | None:
        """The label names, where the data has them (a folder's classes, a CSV's labels)."""
        return None

    def held_out(self) -> Split:
        """The fractions split off the data for validation and test (a source that brings
        its own test set holds out validation only)."""
        return self.split

    def splits_rows(self) -> bool:
        """Whether the source's data is split by ``split_rows`` (its script holds it)."""
        return True

    def sample_count(self) -> int | None:
        """How many samples the source holds, where that is known without reading data."""
        return None

    def check_labels(self, seed: int = 0):
        """The targets in row order, read without torch where the source splits in-memory
        rows (check draws the split on them: a class a split lacks); None elsewhere, or
        where the data cannot be read (check says why elsewhere)."""
        if self.file_backed or not self.splits_rows():
            return None
        import numpy as np

        try:
            return np.asarray(self.load(seed).y)
        except (SourceError, ValueError, OSError):
            return None

    def max_token(self) -> int | None:
        """The largest token id in integer inputs, where it is known without training
        (None elsewhere); check compares it with an embedding's num_embeddings."""
        return None

    def info(self, seed: int = 0):
        raise NotImplementedError

    def load(self, seed: int):
        raise NotImplementedError

    def code(self) -> tuple[list[str], list[str]]:
        raise NotImplementedError


def split_indices(y, split, seed: int, stratify: bool, names=None) -> dict:
    """``split_rows`` for a spec's ``split``, a failure to split being a RunError (a class
    too rare to stratify named, by ``names`` where given, with the fix)."""
    from ..runtime.splits import drawn_rows, split_rows  # NumPy; split_rows imports scikit-learn

    try:
        rows = drawn_rows(y, split.val, split.test, seed, stratify)
        return rows if rows is not None else split_rows(y, split.val, split.test, seed, stratify)
    except ValueError as e:
        rare = rare_classes(y, names) if stratify else None
        raise RunError(f"cannot split the data ({len(y)} samples) with val={split.val}, test={split.test}: "
                       + (rare or str(e))) from None


def rare_classes(y, names=None) -> str | None:
    """The classes with fewer than 2 rows, which a stratified split cannot put in both of
    its parts, said with the fix; None if there is none."""
    import numpy as np

    labels, counts = np.unique(np.asarray(y).reshape(len(y), -1)[:, 0], return_counts=True)
    rare = [(names[int(c)] if names and int(c) < len(names) else str(c), n) for c, n in zip(labels, counts) if n < 2]
    if not rare:
        return None
    shown = ", ".join(f"`{c}` ({n} row)" for c, n in rare[:5]) + (f" and {len(rare) - 5} more" if len(rare) > 5 else "")
    return (f"a stratified split needs at least 2 rows of each class, and {shown} has fewer; add rows of it, "
            "remove or merge them into another class, or set `data.split.stratify: false`")
