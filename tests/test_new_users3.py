"""New users, third round: Keras and paper names for layers, losses and metrics are one
located error saying what to write here, or that the construct is outside the language
(specdl/components/scope.py, specdl/front/habits.py); and a Keras user's first network, fixed
as the messages say, builds, predicts, evaluates and exports, its script agreeing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from .conftest import run_cli
from .test_codegen import assert_script_reproduces_build
from .test_new_users import IMAGES, SEQ
from .test_user_mistakes import REGRESSION, TABLE, errors, one


@pytest.mark.parametrize("spec,override,says", [
    (IMAGES, "model.layers.1=GlobalAveragePooling2D", "it is called `adaptive_avgpool2d` here"),
    (SEQ, "model.layers.1=GlobalMaxPooling1D", "it is called `adaptive_maxpool1d` here"),
    (IMAGES, "model.layers.1={Conv2DTranspose: {out_channels: 2, kernel_size: 2}}", "called `conv_transpose2d`"),
    (IMAGES, "model.layers.1={UpSampling2D: 2}", "it is called `upsample` here"),
    (IMAGES, "model.layers.1={ZeroPadding2D: 1}", "it is called `pad` here"),
    (IMAGES, "model.layers.1={SpatialDropout2D: 0.2}", "it is called `dropout2d` here"),
    (TABLE, "model.layers.1=sine", "it is called `sin` here"),
    (IMAGES, "model.layers.1={SeparableConv2D: {out_channels: 4, kernel_size: 3}}", "with `groups` equal to its"),
    (IMAGES, "model.layers.1={depthwise_conv2d: {kernel_size: 3}}", "then a 1x1 convolution"),
    (IMAGES, "model.layers.1={squeeze_excite: 4}", "squeeze-and-excitation is written out"),
    (IMAGES, "model.layers.1={window_attention: {window_size: 4}}", "windowed attention (Swin"),
    (IMAGES, "model.layers.1={SwinBlock: 4}", "`torchvision: {model: swin_t}`"),
    (IMAGES, "model.layers.1=GRN", "global response normalisation is not a layer here"),
    (TABLE, "model.layers.1=Lambda", "arbitrary code is not a layer: add it as a `module:` layer"),
    (TABLE, "model.layers.1={einsum: 'bi->b'}", "contractions are `mul`, `sum` and `permute`"),
    (SEQ, "model.layers.0={Bidirectional: {lstm: 8}}", "take `bidirectional: true`"),
    (TABLE, "loss=sparse_categorical_crossentropy", "unknown loss `sparse_categorical_crossentropy`; it is "
                                                  "written `cross_entropy` here"),
    (TABLE, "loss=CategoricalCrossentropy", "it is written `cross_entropy` here"),
    (REGRESSION, "loss=mean_squared_error", "it is written `mse` here"),
    (REGRESSION, "metrics=[mean_absolute_error]", "unknown metric `mean_absolute_error`; it is written `mae` here"),
    (REGRESSION, "metrics=[RootMeanSquaredError]", "it is written `rmse` here"),
    (SEQ, "model.layers.0={conv1d: {out_channels: 4, kernel_size: 2, padding: causal}}",
     "got 'causal'; causal padding is a `pad: [d (k - 1), 0]` layer before the convolution"),
    (IMAGES, "model.layers.0={conv2d: {out_channels: 4, kernel_size: 3, padding: Same}}",
     "or 'same' or 'valid', got 'Same'; did you mean 'same'?"),
    (IMAGES, "model.layers.0={conv2d: {out_channels: 4, kernel_size: 3, padding: vaild}}", "did you mean 'valid'?"),
    (IMAGES, "model.layers.0={upsample: {scale_factor: 2, mode: Bilinear}}", "did you mean 'bilinear'?"),
])
def test_a_keras_or_paper_name_is_one_error_with_the_fix(spec, override, says):
    assert says in one(spec, override)


def test_the_new_elementwise_layers_check_clean():
    assert errors(TABLE, "model.layers.1=sin", "model.layers.2=cos") == []
    assert "no positional argument" in one(TABLE, "model.layers.1={cos: 2}")


@pytest.mark.parametrize("override", ["model.layers.0={linear: {out_features: 4, name: global}}",
                                      "model.layers.0={linear: {out_features: 4, name: lambda}}",
                                      "model.blocks={class: [relu]}"])
def test_a_python_keyword_as_a_name_says_so(override):
    found = one(TABLE, override)
    assert "is a Python keyword, which the generated code cannot use as a name; choose another" in found, found


def test_a_name_the_tables_do_not_know_still_gets_a_guess():
    assert "did you mean `dropout2d`?" in one(IMAGES, "model.layers.1={dropout2: 0.2}")


KERAS_FIRST = """\
name: churn
data: {source: csv, path: churn.csv, target: churned}
model:
  layers:
    - Dense: 16
    - relu
    - Dropout: {rate: 0.2}
    - Dense: 2
loss: sparse_categorical_crossentropy
optimizer: {adam: {learning_rate: 0.01}}
train: {epochs: 2, batch_size: 16, device: cpu}
metrics: [accuracy]
"""
FIXED = (KERAS_FIRST.replace("Dense", "linear").replace("Dropout: {rate: 0.2}", "dropout: 0.2")
         .replace("sparse_categorical_crossentropy", "cross_entropy").replace("learning_rate", "lr"))


def churn_csv(folder, rows=80):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    lines = ["tenure,spend,calls,churned"] + [f"{a:.3f},{b:.3f},{c:.3f},{t}" for (a, b, c), t in zip(x, y)]
    (folder / "churn.csv").write_text("\n".join(lines) + "\n")


def test_a_keras_users_first_spec_says_each_fix_on_its_line(tmp_path):
    churn_csv(tmp_path)
    (tmp_path / "churn.yaml").write_text(KERAS_FIRST)
    r = run_cli("check", "churn.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    for line, says in [(5, "unknown layer `Dense`; it is called `linear` here"), (7, "`Dropout`; it is written `dropout` here"),
                       (9, "it is written `cross_entropy` here"), (10, "here write `lr: 0.01`")]:
        assert any(e.startswith(f"churn.yaml:{line}:") and says in e for e in r.stderr.splitlines()), (line, r.stderr)


@pytest.mark.slow  # a build, a script run, predict, evaluate, export: about 15 s
def test_the_fixed_spec_builds_predicts_evaluates_and_exports(tmp_path):
    churn_csv(tmp_path)
    spec = tmp_path / "churn.yaml"
    spec.write_text(FIXED.replace("path: churn.csv", f"path: {tmp_path / 'churn.csv'}"))
    r = run_cli("check", spec)  # second round: 0/1 targets of a CSV read as numbers
    assert r.returncode == 2 and "if these are classes, set `data.task: classification`" in r.stderr, r.stderr
    text = spec.read_text().replace("target: churned}", "target: churned, task: classification}")
    spec.write_text(text)
    assert yaml.safe_load(text)["data"]["task"] == "classification"
    run = assert_script_reproduces_build(spec, tmp_path)
    r = run_cli("predict", run, "--input", tmp_path / "churn.csv", "--out", tmp_path / "p.csv")
    assert r.returncode == 0, r.stderr
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 81
    r = run_cli("evaluate", run, "--input", tmp_path / "churn.csv", "--target", "churned",
                "--out", tmp_path / "e.json")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["samples"] == 80 and 0.0 <= report["test"]["accuracy"] <= 1.0
    r = run_cli("export", run)
    assert r.returncode == 0 and (run / "model.onnx").is_file(), r.stderr
