"""Messages that speak from the spec: a search key or override that names another
component than the spec has there says which one it has; an error in `search.metric`
does not hide the space's; a 0/1 target read as regression with classification metrics
is one error that says `data.task: classification`. In process (check, no torch)."""

from __future__ import annotations

import pytest

import specdl
from specdl.errors import SpecError

SPEC = """data: {source: sklearn, dataset: diabetes, transforms: [standardize]}
model:
  layers: [{linear: 8}, relu, {linear: 1}, {dropout: 0.1}]
loss: mse
optimizer: {adamw: {lr: 0.001}}
metrics: [r2]
"""


def errors(text, tmp_path, overrides=None) -> list[str]:
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(SpecError) as e:
        specdl.check(tmp_path / "s.yaml", overrides)
    return [i.render() for i in e.value.issues]


def test_search_keys_and_metric_all_reported_from_the_spec(tmp_path):
    out = errors(SPEC + "search:\n  metric: val_accuracy\n  space:\n"
                 "    optimizer.adam.lr: {log_uniform: [1.0e-4, 1.0e-2]}\n"
                 "    model.layers.1.dropout: {uniform: [0.0, 0.5]}\n"
                 "    loss.huber.delta: {uniform: [0.5, 2.0]}\n", tmp_path)
    assert len(out) == 4, out  # the metric's error hides none of the space's
    assert out[0].startswith(f"{tmp_path}/s.yaml:8:11: error: search.metric: ") and "val_accuracy" in out[0]
    assert out[1].startswith(f"{tmp_path}/s.yaml:10:5: error: search.space.optimizer.adam.lr: ")
    assert "the optimizer is `adamw`, not `adam`; write `optimizer.adamw.lr`" in out[1]
    assert "layer 1 is `relu`, not `dropout`; the `dropout` layer is model.layers[3]: write " \
           "`model.layers.3.dropout`" in out[2]
    assert "the loss is `mse`, not `huber` (`mse` takes " in out[3]


def test_an_override_names_the_component_the_spec_has(tmp_path):
    (line,) = errors(SPEC.replace(", {dropout: 0.1}", ""), tmp_path, ["model.layers.0.dropout=0.2"])
    assert "layer 0 is `linear`, not `dropout`; no layer of model.layers is a `dropout`" in line
    text = SPEC.replace("[{linear: 8}, relu", "[{lstm: {hidden_size: 8, num_layers: 2, output: last}}").replace(
        "diabetes, transforms: [standardize]", "diabetes, transforms: [standardize, {reshape: [10, 1]}]")
    assert specdl.check(text, ["model.layers.0.dropout=0.2"])  # an argument of lstm, not a layer


@pytest.mark.parametrize("loss, metrics, at", [("cross_entropy", "[accuracy, f1]", "loss (cross_entropy)"),
                                               ("mse", "[accuracy, f1]", "metrics[0] (accuracy)"),
                                               ("mse", "[r2, accuracy]", "metrics[1] (accuracy)")])
def test_a_01_target_with_classification_metrics_is_one_error(loss, metrics, at, tmp_path):
    rows = "\n".join(f"{i % 7 / 7:.3f},{(i * 3) % 5 / 5:.3f},{i % 2}" for i in range(60))
    (tmp_path / "d.csv").write_text("a,b,label\n" + rows + "\n")
    width = 2 if loss == "cross_entropy" else 1
    (line,) = errors(f"data: {{source: csv, path: {tmp_path}/d.csv, target: label}}\n"
                     f"model: {{layers: [{{linear: 4}}, relu, {{linear: {width}}}]}}\nloss: {loss}\n"
                     f"metrics: {metrics}\n", tmp_path)
    assert f": error: {at}: " in line
    assert "the target `label` holds only the integers 0, 1; if these are classes, set `data.task: classification`" \
        in line
