"""What a data source gives, known without loading it where possible: per-sample
shape, dtype, task, classes. ``check`` reads only this; ``build`` loads the data."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ShapeError, SourceError


@dataclass(frozen=True)
class InputInfo:
    """What check knows of one named input: its per-sample shape, dtype, and for int64
    ids the largest id the data holds (None where unknown); a CSV input's kind, column(s)
    and check's note on it (its vocabulary, length, categories)."""

    name: str
    feat: tuple
    dtype: str
    max_token: int | None = None
    kind: str = ""
    column: str = ""
    note: str = ""

    @classmethod
    def of(cls, saved: dict) -> "InputInfo":
        """From a run directory's saved facts (JSON)."""
        return cls(saved["name"], tuple(saved["feat"]), saved["dtype"], saved.get("max_token"),
                   saved.get("kind", ""), saved.get("column", ""), saved.get("note", ""))


@dataclass(frozen=True)
class DataInfo:
    feat: tuple          # per-sample input shape after transforms
    dtype: str           # float32 | int64
    task: str            # classification | regression | multilabel
    classes: int | None  # number of classes (classification) or labels (multilabel)
    outputs: tuple | None  # per-sample regression target shape, e.g. (1,)
    hint: str | None = None  # what the data suggests about the task (0/1 targets read as regression)
    target_names: tuple | None = None  # the regression targets' names, where the data has them
    warnings: tuple = ()  # (field, message): what check warns of the data (a CSV's id-like categories)
    inputs: tuple = ()  # named inputs (InputInfo), in forward's order; () for one input

    def sources(self) -> dict:
        """name -> InputInfo of the named inputs (empty for one input)."""
        return {i.name: i for i in self.inputs}


# scikit-learn's bundled data sets: loader, features, task, classes or targets.
SKLEARN = {
    "iris": ("load_iris", 4, "classification", 3),
    "wine": ("load_wine", 13, "classification", 3),
    "breast_cancer": ("load_breast_cancer", 30, "classification", 2),
    "digits": ("load_digits", 64, "classification", 10),
    "diabetes": ("load_diabetes", 10, "regression", 1),
    "linnerud": ("load_linnerud", 3, "regression", 3),
}

# the names of a bundled data set's classes (its `target_names`), known without loading it:
# codegen writes them into a script's DATA_FACTS without importing scikit-learn
SKLEARN_CLASSES = {"iris": ("setosa", "versicolor", "virginica"), "wine": ("class_0", "class_1", "class_2"),
                   "breast_cancer": ("malignant", "benign"), "digits": tuple(map(str, range(10)))}

# the names of a bundled data set's regression targets
SKLEARN_TARGETS = {"linnerud": ("Weight", "Waist", "Pulse")}

# Generators and the arguments specdl lets through (with scikit-learn's defaults).
# samples in each bundled data set (for the static split checks)
SKLEARN_SIZES = {"iris": 150, "wine": 178, "breast_cancer": 569, "digits": 1797, "diabetes": 442, "linnerud": 20}

GENERATORS = {
    "make_classification": {"n_samples": 100, "n_features": 20, "n_informative": 2,
                            "n_redundant": 2, "n_classes": 2, "n_clusters_per_class": 2,
                            "class_sep": 1.0, "flip_y": 0.01},
    "make_regression": {"n_samples": 100, "n_features": 100, "n_informative": 10,
                        "n_targets": 1, "noise": 0.0, "bias": 0.0},
    "make_moons": {"n_samples": 100, "noise": None},
    "make_blobs": {"n_samples": 100, "n_features": 2, "centers": 3, "cluster_std": 1.0},
}


def describe(data, seed: int = 0) -> DataInfo:
    """The per-sample shape after the transforms; raises ShapeError with the index of
    the failing transform as its ``index`` and ``group``."""
    info = data.facts(seed)
    if data.task and data.task != info.task:  # csv and npz read their target by `task`; others know theirs
        what = f"{info.classes} classes" if info.task == "classification" else info.task
        raise SourceError("task", f"`task: {data.task}` does not apply here: " + (
            "a csv's one target column cannot hold [N, labels] 0/1 columns; use an npz with such a `y`"
            if data.source == "csv" else f"{data.source} data is {what} as it comes; `task` sets how a csv or "
            "npz target is read (multilabel: an npz `y` of [N, labels] 0/1 columns); leave it out"))
    if info.task == "classification" and info.classes is not None and info.classes < 2:
        names = data.class_names() if info.classes else None
        folder = f": {data.root} needs a sub-folder per class" if getattr(data, "root", None) else ""
        raise SourceError(data.labels_at, f"the data holds {'one class' if info.classes else 'no class'}"
                          + (f", `{names[0]}`" if names else "") + f"; classification needs two or more{folder}")
    feat = info.feat
    if not data.file_backed:
        for i, t in enumerate(data.transforms):
            try:
                feat = t.infer(feat)
            except ShapeError as e:
                raise ShapeError(str(e), i, "transforms") from None
    return DataInfo(feat, info.dtype, data.task or info.task, info.classes, info.outputs, info.hint,
                    info.target_names, info.warnings, info.inputs)
