"""What each data source gives, known without loading it: per-sample shape, dtype,
task, classes. ``check`` reads only this; ``build`` loads the real arrays."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ShapeError


@dataclass(frozen=True)
class DataInfo:
    feat: tuple          # per-sample input shape after transforms
    dtype: str           # float32 | int64
    task: str            # classification | regression | multilabel
    classes: int | None  # number of classes (classification) or labels (multilabel)
    outputs: tuple | None  # per-sample regression target shape, e.g. (1,)


# scikit-learn's bundled data sets: loader, features, task, classes or targets.
SKLEARN = {
    "iris": ("load_iris", 4, "classification", 3),
    "wine": ("load_wine", 13, "classification", 3),
    "breast_cancer": ("load_breast_cancer", 30, "classification", 2),
    "digits": ("load_digits", 64, "classification", 10),
    "diabetes": ("load_diabetes", 10, "regression", 1),
    "linnerud": ("load_linnerud", 3, "regression", 3),
}

# Generators and the arguments specdl lets through (with scikit-learn's defaults).
GENERATORS = {
    "make_classification": {"n_samples": 100, "n_features": 20, "n_informative": 2,
                            "n_redundant": 2, "n_classes": 2, "n_clusters_per_class": 2,
                            "class_sep": 1.0, "flip_y": 0.01},
    "make_regression": {"n_samples": 100, "n_features": 100, "n_informative": 10,
                        "n_targets": 1, "noise": 0.0, "bias": 0.0},
    "make_moons": {"n_samples": 100, "noise": None},
    "make_blobs": {"n_samples": 100, "n_features": 2, "centers": 3, "cluster_std": 1.0},
}


def raw_info(data) -> DataInfo:
    """Shape and task of a source before its transforms."""
    if data.source == "sklearn":
        if data.dataset in SKLEARN:
            _, feat, task, n = SKLEARN[data.dataset]
            return DataInfo((feat,), "float32", task, n if task == "classification" else None,
                            (n,) if task == "regression" else None)
        p = {**GENERATORS[data.dataset], **data.params}
        if data.dataset == "make_classification":
            return DataInfo((p["n_features"],), "float32", "classification", p["n_classes"], None)
        if data.dataset == "make_regression":
            return DataInfo((p["n_features"],), "float32", "regression", None, (p["n_targets"],))
        if data.dataset == "make_moons":
            return DataInfo((2,), "float32", "classification", 2, None)
        centers = p["centers"]
        n = centers if isinstance(centers, int) else len(centers)
        return DataInfo((p["n_features"],), "float32", "classification", n, None)
    if data.source == "synthetic":
        if data.classes:
            return DataInfo(tuple(data.shape), data.dtype, "classification", data.classes, None)
        out = tuple(data.outputs) if isinstance(data.outputs, list) else (data.outputs,)
        return DataInfo(tuple(data.shape), data.dtype, "regression", None, out)
    raise ValueError(f"unknown source {data.source}")  # pragma: no cover - schema forbids it


def describe(data) -> DataInfo:
    """The per-sample shape after ``data.transforms``; raises ShapeError with the index
    of the failing transform as ``err.index``."""
    info = raw_info(data)
    feat = info.feat
    for i, t in enumerate(data.transforms):
        try:
            feat = t.infer(feat)
        except ShapeError as e:
            e.index = i
            raise
    task = data.task or info.task
    return DataInfo(feat, info.dtype, task, info.classes, info.outputs)
