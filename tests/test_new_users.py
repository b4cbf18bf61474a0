"""New users' habits from Keras, Lightning and Ludwig: each slip is one located error
that says what to write here (specdl/front/habits.py)."""

from __future__ import annotations

import pytest

from .conftest import run_cli
from .test_user_mistakes import TABLE, errors, one

IMAGES = {"name": "d", "data": {"source": "sklearn", "dataset": "digits",
                                "transforms": ["standardize", {"reshape": [1, 8, 8]}]},
          "model": {"layers": [{"conv2d": {"out_channels": 4, "kernel_size": 3}}, "relu", "flatten", {"linear": 10}]}}
SEQ = {"name": "s", "data": {"source": "synthetic", "shape": [6, 3], "classes": 2, "size": 40},
       "model": {"layers": [{"lstm": {"hidden_size": 8}}, {"linear": 2}]}}


@pytest.mark.parametrize("spec,override,says", [
    (TABLE, "model.layers.0={linear: {units: 16}}", "unknown argument `units`: that is another framework's name; "
                                                    "here write `out_features: 16`"),
    (IMAGES, "model.layers.0={conv2d: {filters: 4, kernel_size: 3}}", "here write `out_channels: 4`"),
    (IMAGES, "model.layers.0={conv2d: {out_channels: 4, kernel_size: 3, activation: relu}}",
     "a layer takes no activation here: write `- relu` as its own layer after this one"),
    (TABLE, "model.layers.2={dropout: {rate: 0.3}}", "here write `p: 0.3`"),
    (SEQ, "model.layers.0={lstm: {units: 8}}", "here write `hidden_size: 8`"),
    (SEQ, "model.layers.0={lstm: {hidden_size: 8, return_sequences: true}}", "here write `output: sequence`"),
    (TABLE, "model.layers.0={linear: {out_features: 16, input_shape: [13]}}", "the input shape is given once, as "
                                                                              "`model.input`"),
    (TABLE, "train.max_epochs=3", "here write `epochs: 3`"),
    (TABLE, "train.lr=0.01", "the learning rate is the optimizer's: write `optimizer: {adam: {lr: 0.01}}`"),
    (TABLE, "train.gradient_clip_val=1.0", "here write `grad_clip: 1.0`"),
    (TABLE, "train.loss=mse", "it belongs at the top level of the spec, beside `train`: write `loss: mse` there"),
    (TABLE, "epochs=3", "it belongs in `train`: write `train: {epochs: 3}`"),
    (TABLE, "data.batch_size=8", "it belongs in `train`: write `train: {batch_size: 8}`"),
    (TABLE, "optimizer={adam: {learning_rate: 0.01}}", "here write `lr: 0.01`"),
    (TABLE, "model.layers.1=ReLU", "unknown layer `ReLU`; it is written `relu` here"),
    (IMAGES, "model.layers.1=nn.LeakyReLU", "it is written `leaky_relu` here"),
    (IMAGES, "model.layers.0={MaxPooling2D: 2}", "it is written `maxpool2d` here"),
    (TABLE, "loss=CrossEntropyLoss", "unknown loss `CrossEntropyLoss`; it is written `cross_entropy` here"),
    (TABLE, "scheduler={ReduceLROnPlateau: 2}", "it is written `reduce_on_plateau` here"),
    (TABLE, "scheduler={reduce_on_plateau: {patience: 2, monitor: val_accuracy}}",
     "`monitor` is not offered: reduce_on_plateau follows train.checkpoint.monitor"),
    (TABLE, "scheduler={reduce_on_plateau: {patience: 2, mode: max}}",
     "`mode` is not offered: reduce_on_plateau follows train.checkpoint.monitor and its mode"),
    (TABLE, "model.layers.0=linear 20", "write `linear: 20` (the name, a colon and a space, then its argument)"),
    (TABLE, "model.layers.0=linear(20)", "write `linear: 20`"),
    (TABLE, "model.layers.0=Linear(13, 20)", "write `linear: {argument: value, ...}`, each argument by its name"),
    (TABLE, "model.layers={linear: 20, relu: null}", "each layer is an item of a list, starting with `- `"),
    (TABLE, "model=[{linear: 3}]", "the layers go under `layers`: `model: {layers: [...]}`"),
])
def test_another_frameworks_spelling_is_one_error_with_the_fix(spec, override, says):
    assert says in one(spec, override)


def test_a_keras_argument_is_not_also_reported_as_the_missing_one():
    found = errors(TABLE, "model.layers.0={linear: {units: 16, activation: relu}}")
    assert len(found) == 2 and not any("missing" in e for e in found), found


def test_ludwig_features_say_where_they_go_and_stand_for_data(tmp_path):
    spec = tmp_path / "ludwig.yaml"
    spec.write_text("input_features:\n  - {name: area, type: number}\noutput_features:\n"
                    "  - {name: kind, type: category}\nmodel: {layers: [{linear: 3}]}\n")
    r = run_cli("check", spec)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert any(":1:1: error: input_features: unknown key `input_features`: it is Ludwig's" in s for s in lines)
    assert any("input_features" in s and "a named input under `data.inputs`" in s and "{text: review}" in s
               for s in lines), lines
    assert any(":3:1: error: output_features:" in s and "`data.target`" in s for s in lines)
    assert not any("missing required `data`" in s for s in lines), lines


@pytest.mark.parametrize("text,says", [
    ("model:\n  layers:\n    - linear: 3\n    -relu\n", "line 5: a list item needs a space after `-`"),
    ("model:\n  layers:\n\t- linear: 3\n", "line 4 is indented with a tab: YAML indents with spaces"),
])
def test_a_yaml_slip_names_its_line(tmp_path, text, says):
    spec = tmp_path / "slip.yaml"
    spec.write_text("data: {source: sklearn, dataset: iris}\n" + text)
    r = run_cli("check", spec)
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_the_right_spellings_still_check_clean():
    assert errors(TABLE, "model.layers.0={linear: {out_features: 16}}", "train.epochs=3",
                  "optimizer={adam: {lr: 0.01}}") == []
