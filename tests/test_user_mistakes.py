"""The mistakes a new user makes while following the docs, and whether each message leads
to the fix: a did-you-mean, where a name belongs, the shape and what it should be."""

from __future__ import annotations

import re

import numpy as np
import pytest

import specdl

from .conftest import run_cli

IMAGES = {"name": "imgs", "data": {"source": "image_folder", "root": "data/shapes"},  # 3 classes of 32x32
          "model": {"layers": [{"conv2d": {"out_channels": 4, "kernel_size": 3}}, "relu", "flatten",
                               {"linear": 3}]}}
TABLE = {"name": "table", "data": {"source": "sklearn", "dataset": "wine", "transforms": ["standardize"]},
         "model": {"layers": [{"linear": 16}, "relu", {"dropout": 0.1}, {"linear": 3}]}}
REGRESSION = {"name": "reg", "data": {"source": "sklearn", "dataset": "diabetes"},
              "model": {"layers": [{"linear": 8}, "relu", {"linear": 1}]}}
MULTILABEL = {"name": "tags", "data": {"source": "npz", "path": "tags.npz", "task": "multilabel",
                                       "split": {"stratify": False}},
              "model": {"layers": [{"linear": 8}, "relu", {"linear": 4}]}, "loss": "bce_with_logits"}


@pytest.fixture
def tags():
    """tags.npz in the test's folder: 60 rows of 6 features, 4 label columns of 0/1."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 6)).astype(np.float32)
    np.savez("tags.npz", x=x, y=(x[:, :4] > 0).astype(np.float32))


def errors(spec, *overrides) -> list[str]:
    """The located error lines `check` gives (none when it passes)."""
    try:
        specdl.check(spec, list(overrides))
    except specdl.SpecError as e:
        return [i.render() for i in e.issues if i.severity == "error"]
    return []


def one(spec, *overrides) -> str:
    found = errors(spec, *overrides)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("override,says", [
    ("data.transforms=[normalize]", "`normalize` is an image transform: it belongs in data.transforms or data.augment "
                                    "of images"),
    ("loss=accuracy", "unknown loss `accuracy`; expected one of bce_with_logits, cross_entropy"),
    ("loss=accuracy", "(`accuracy` is a metric: it belongs in metrics)"),
    ("model.layers.1=cross_entropy", "(`cross_entropy` is a loss: it belongs in loss)"),
    ("metrics=[acc]", "unknown metric `acc`; did you mean `accuracy`?"),
    ("metrics=[prec, f1]", "unknown metric `prec`; did you mean `precision`?"),
    ("metrics=[accuracy, confusion_matrix]", "`confusion_matrix` is not a metric: every classification run writes its "
                                             "confusion matrix"),
    ("optimizer=adma", "did you mean `adam`?"),
    ("data.split={validation: 0.1}", "unknown key `validation`; did you mean `val`?"),
    ("scheduler={step: {step: 5}}", "scheduler.step (step): unknown argument `step`; its primary argument is "
                                    "`step_size`: write `step: 5` or `step: {step_size: 5}`"),
    ("model.layers.0={linear: {linear: 32}}", "model.layers[0].linear (linear): unknown argument `linear`; its "
                                              "primary argument is `out_features`"),
    ("model.layers.2={dropout: {dropout: 0.2}}", "its primary argument is `p`: write `dropout: 0.2`"),
    ("train.precision=fp33", "must be 'fp32', 'bf16' or 'fp16', got 'fp33'; did you mean 'fp32'?"),
    ("data.task=regresion", "did you mean 'regression'?"),
    ("metrics=[r2]", "`r2` is a regression metric; this data is classification: use accuracy, f1, precision, recall"),
])
def test_a_tabular_slip_names_its_fix(override, says):
    assert says in one(TABLE, override)


@pytest.mark.parametrize("override,says", [
    ("data.augment=[random_flip]", "did you mean `random_horizontal_flip` or `random_vertical_flip`?"),
    ("data.augment=[standardize]", "(`standardize` is a transform: it belongs in the data.transforms of tabular data"),
    ("model.layers.2=relu", "the model's output is [N, 4, 30, 3], but the data has 3 classes, so cross_entropy needs "
                            "[N, 3]; it has 2 dimensions too many: flatten before the last linear layer"),
    ("model.layers.2=relu", "or pool first (adaptive_avgpool2d: 1, then flatten)"),
    ("model.layers.3.linear=4", "make the last layer give 3 features"),
])
def test_an_image_slip_names_its_fix(override, says):
    assert says in one(IMAGES, override)


def test_a_sequence_kept_by_a_recurrent_layer_points_at_output_last():
    seq = {"name": "seq", "data": {"source": "synthetic", "shape": [12], "classes": 2, "size": 60, "dtype": "int64",
                                   "high": 50},
           "model": {"layers": [{"embedding": {"num_embeddings": 50, "embedding_dim": 8}},
                                {"gru": {"hidden_size": 8, "output": "sequence"}}, {"linear": 2}]}}
    msg = one(seq)
    assert "[N, 12, 2]" in msg and "1 dimension too many" in msg and "a recurrent layer's output: last" in msg
    assert errors(seq, "model.layers.1.output=last") == []


def test_regression_and_multilabel_slips(tags):
    assert "it has 1 dimension too many" in one(REGRESSION, "model.layers=[{linear: 8}, {unflatten: {dim: 1, sizes: "
                                                            "[2, 4]}}, {linear: 1}]")
    assert "make the last layer give 1 feature" in one(REGRESSION, "model.layers.2.linear=3")
    assert "use mse" in one(REGRESSION, "loss=cross_entropy")
    assert "so bce_with_logits needs [N, 4]; make the last layer give 4 features" in one(MULTILABEL,
                                                                                          "model.layers.2.linear=1")
    assert "this data is multilabel: use accuracy, f1, precision, recall" in one(MULTILABEL, "metrics=[mae]")


def test_the_right_spellings_check_clean():
    """The fixes the messages name are accepted (the messages do not lead astray)."""
    assert errors(TABLE, "metrics=[accuracy, precision]", "scheduler={step: {step_size: 5}}",
                  "model.layers.0={linear: {out_features: 32}}", "train.precision=fp32") == []
    assert errors(IMAGES, "data.augment=[random_horizontal_flip]") == []
    assert errors({**IMAGES, "model": {"layers": [{"conv2d": {"out_channels": 4, "kernel_size": 3}}, "relu",
                                                  {"adaptive_avgpool2d": 1}, "flatten", {"linear": 3}]}}) == []


def test_the_layer_list_keeps_brackets_and_lists_no_internal_entries():
    """`specdl layers` printed docstrings through rich markup, which ate `[h, w]`; `call` (the
    internal form of a block call) is no layer a spec may write."""
    r = run_cli("layers", env={"COLUMNS": "250"})
    assert r.returncode == 0 and "[h, w] exactly" in r.stdout
    assert not re.search(r"^ call ", r.stdout, re.M)
    r = run_cli("layers", "call")
    assert r.returncode == 2 and r.stderr.startswith("specdl: error: unknown layer or image transform `call`")


@pytest.mark.parametrize("data,says", [
    ({"source": "synthetic", "shape": [6], "outputs": 4, "size": 60, "task": "multilabel"},
     "`task: multilabel` does not apply here: synthetic data is regression as it comes"),
    ({"source": "synthetic", "shape": [6], "classes": 3, "size": 60, "task": "regression"},
     "synthetic data is 3 classes as it comes"),
    ({"source": "sklearn", "dataset": "iris", "task": "regression"}, "sklearn data is 3 classes as it comes"),
    ({"source": "sklearn", "dataset": "diabetes", "task": "classification"}, "sklearn data is regression"),
    ({"source": "image_folder", "root": "data/shapes", "task": "multilabel"}, "image_folder data is 3 classes"),
])
def test_a_task_the_source_cannot_give_is_one_error_at_data_task(data, says):
    """Was: `None labels` from check, or a traceback from build (synthetic multilabel,
    iris read as regression); `task` is how a csv or npz target is read."""
    msg = one({"name": "t", "data": data, "model": {"layers": ["flatten", {"linear": 3}]}})
    assert "error: data.task (" in msg and says in msg and "leave it out" in msg


def test_a_task_that_matches_or_that_a_file_honours_is_accepted(tags):
    assert errors({"name": "t", "data": {"source": "sklearn", "dataset": "iris", "task": "classification"},
                   "model": {"layers": [{"linear": 3}]}}) == []
    assert errors(MULTILABEL) == []
    np.savez("ints.npz", x=np.zeros((30, 2), np.float32), y=np.arange(30) % 3)
    assert errors({"name": "t", "data": {"source": "npz", "path": "ints.npz", "task": "regression"},
                   "model": {"layers": [{"linear": 1}]}}) == []


@pytest.mark.parametrize("download,field,says", [
    (True, "download", "cannot download mnist (Error downloading train-images-idx3-ubyte.gz:); without the network"),
    (False, "root", "set `download: true` to fetch it"),
])
def test_a_torchvision_set_that_is_not_there_says_the_right_fix(download, field, says, monkeypatch):
    """With `download: true` already set, a failed download (torchvision raises RuntimeError
    for it) said "set `download: true`"."""
    import torchvision

    from specdl.errors import SourceError

    def absent(*_, **__):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:" if download else "Dataset not found.")

    monkeypatch.setattr(torchvision.datasets, "MNIST", absent)
    spec = specdl.load({"name": "m", "data": {"source": "torchvision", "name": "mnist", "download": download},
                        "model": {"layers": ["flatten", {"linear": 10}]}})
    with pytest.raises(SourceError) as e:
        spec.data.open(True)
    assert e.value.field == field and says in str(e.value)


BLOCKS = {"name": "blk", "data": {"source": "synthetic", "shape": [4, 6, 6], "classes": 2, "size": 60},
          "model": {"blocks": {"unit": [{"conv2d": {"out_channels": "$c", "kernel_size": 3, "padding": 1}}, "relu"]},
                    "layers": [{"unit": {"c": 4, "repeat": 2}}, "flatten", {"linear": 2}]}}


@pytest.mark.parametrize("call,says", [
    ({"c": 4, "repeats": 2}, "block `unit` takes no argument `repeats`; did you mean `repeat`?"),
    ({"c": 4, "names": "u"}, "did you mean `name`?"),
    ({"c": 4, "cc": 2}, "takes no argument `cc`; did you mean `c`?"),
])
def test_a_misspelt_block_call_key_names_the_right_one(call, says):
    spec = {**BLOCKS, "model": {**BLOCKS["model"], "layers": [{"unit": call}, "flatten", {"linear": 2}]}}
    assert says in one(spec)
    assert errors(BLOCKS) == []


BACKBONE = {"name": "tv", "data": {"source": "synthetic", "shape": [3, 32, 32], "classes": 2},
            "model": {"torchvision": "resnet18", "num_classes": 2}}


@pytest.mark.parametrize("weights,says", [
    ("resnet18.pth", "weights: no such file: resnet18.pth (relative to "),
    ("ckpt/", "weights: ckpt/ is a folder; give a file"),
    ("ResNet50_Weights.IMAGENET1K_V1", "is neither a .pt/.pth file nor a weights name of resnet18; "
                                       "did you mean `ResNet18_Weights.IMAGENET1K_V1`?"),
    ("IMAGENET", "is neither a .pt/.pth file nor a weights name of resnet18; expected one of "
                 "ResNet18_Weights.DEFAULT, ResNet18_Weights.IMAGENET1K_V1"),
])
def test_backbone_weights_that_build_cannot_load_are_check_errors(weights, says, tmp_path, monkeypatch):
    """`check` passed a missing weights file or another model's weights name: build failed."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ckpt").mkdir()
    found = errors(BACKBONE, f"model.weights={weights}")
    assert len(found) == 1 and "model.layers[0] (torchvision): " in found[0] and says in found[0], found


def test_backbone_weights_check_accepts_a_file_and_this_models_weights_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.pt").write_bytes(b"")  # check looks at the file; build loads it
    assert errors(BACKBONE, "model.weights=w.pt") == []
    for name in ("ResNet18_Weights.IMAGENET1K_V1", "ResNet18_Weights.DEFAULT"):  # nothing downloaded
        assert errors(BACKBONE, f"model.weights={name}") == []
