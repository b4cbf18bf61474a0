"""What every data source shares: the split, the transforms, the task."""

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

Task = Literal["classification", "regression", "multilabel"]


class Base(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), defer_build=True)


class Split(Base):
    """Fractions held out for validation and test, drawn with the spec's seed."""

    val: float = Field(0.1, ge=0.0, lt=1.0)
    test: float = Field(0.2, ge=0.0, lt=1.0)
    stratify: bool = True


class DataSource(Base):
    """A data source. Subclasses say what they give (``info``, without loading the data
    where they can), how to load it (``load``) and the script lines that do the same
    (``code``)."""

    split: Split = Field(default_factory=Split)
    transforms: list["TransformUnion"] = []  # noqa: F821 - resolved by schema.spec_class
    target_transforms: list["TransformUnion"] = []  # noqa: F821
    task: Task | None = None
    file_backed: ClassVar[bool] = False

    def info(self, seed: int = 0):
        raise NotImplementedError

    def load(self, seed: int):
        raise NotImplementedError

    def code(self) -> tuple[list[str], list[str]]:
        raise NotImplementedError


class SourceError(Exception):
    """A problem with the data a source names, located at one of its fields."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
