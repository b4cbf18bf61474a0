"""Several outputs (issue 30 part 1, spec 12.7): `data.targets` with one head each through
check (every head proved against its target, named in every message), build (a tensor per
head, the weighted total loss, metrics per target) and codegen (the script equals build);
what does not take several outputs yet refuses them in one line (the run verbs:
tests/test_heads_runs.py)."""

from __future__ import annotations

import copy
import functools
import json

import numpy as np
import pytest
import torch
import yaml

import specdl

from .test_named_inputs import errors

TWO = {"name": "two-heads", "seed": 1,
       "data": {"source": "synthetic", "shape": [6], "size": 160,
                "targets": {"kind": {"classes": 3}, "score": {"outputs": 1}}},
       "model": {"layers": [{"linear": 16}, "relu", {"linear": {"out_features": 3, "name": "kind_head"}},
                            {"linear": {"out_features": 1, "inputs": ["relu_1"], "name": "score_head"}}],
                 "outputs": {"kind": "kind_head", "score": "score_head"}},
       "loss_weights": {"score": 0.5},
       "metrics": {"kind": ["accuracy", "f1"], "score": ["mae", "r2"]},
       "train": {"epochs": 2, "batch_size": 32, "device": "cpu", "checkpoint": {"monitor": "val_accuracy[kind]"}}}

# the generated reviews: the label's classes from its column, the rating standardized
REVIEWS = {"name": "reviews-heads", "seed": 0,
           "data": {"source": "csv", "path": "data/reviews.csv",
                    "targets": {"sentiment": {"column": "label"},
                                "stars": {"column": "rating", "task": "regression", "transforms": ["standardize"]}},
                    "inputs": {"review": {"text": "text", "length": 16, "min_freq": 2},
                               "stats": {"numeric": ["runtime", "year"], "transforms": [{"fill": "median"},
                                                                                        "standardize"]}}},
           "model": {"layers": [{"embedding": {"embedding_dim": 8, "padding_idx": 0, "inputs": ["review"]}},
                                {"sequence_pool": {"mode": "mean", "inputs": ["embedding_0", "review"]}},
                                {"concat": {"inputs": ["sequence_pool_1", "stats"]}}, {"linear": 16}, "relu",
                                {"linear": {"out_features": 2, "name": "sentiment_head"}},
                                {"linear": {"out_features": 1, "inputs": ["relu_4"], "name": "stars_head"}}],
                     "outputs": {"sentiment": "sentiment_head", "stars": "stars_head"}},
           "loss": {"sentiment": "cross_entropy", "stars": "mse"}, "loss_weights": {"stars": 0.5},
           "metrics": {"sentiment": ["accuracy", "f1"], "stars": ["mae", "r2"]},
           "train": {"epochs": 2, "batch_size": 64, "device": "cpu", "checkpoint": {"monitor": "val_f1[sentiment]"}}}


def spec_of(base=TWO, **changes) -> dict:
    """``base`` with ``a__b=value`` set at base[a][b]."""
    spec = copy.deepcopy(base)
    for key, value in changes.items():
        *parents, last = key.split("__")
        functools.reduce(dict.__getitem__, parents, spec)[last] = value
    return spec


# ---------------------------------------------------------------- check
def test_check_gives_each_head_its_target_loss_metrics_and_monitors():
    a = specdl.check(TWO)
    assert list(a.heads) == ["kind", "score"]
    assert a.head_tuples() == [("kind", "classification", (3,), 1), ("score", "regression", (1,), 1)]
    assert [h.loss.type_name for h in a.heads.values()] == ["cross_entropy", "mse"]
    assert (a.monitor, a.mode) == ("val_accuracy[kind]", "max")
    assert a.watched_metrics() == ["accuracy[kind]", "loss[kind]", "loss[score]", "mae[score]"]
    assert specdl.check(spec_of(train__checkpoint={"monitor": "val_loss[score]"})).mode == "min"
    assert specdl.load(yaml.safe_load(a.spec.to_yaml())) == a.spec  # the canonical form reads back


def test_every_head_mistake_names_the_head_and_the_target():
    wide = spec_of(model__layers=[{"linear": 16}, "relu", {"linear": {"out_features": 2, "name": "kind_head"}},
                                  {"linear": {"out_features": 1, "inputs": ["relu_1"], "name": "score_head"}}])
    assert errors(wide) == ["model.layers.2: head `kind_head` (target `kind`): the model's output is [N, 2], but the "
                            "data has 3 classes, so cross_entropy needs [N, 3]; make the last layer give 3 features"]
    assert errors(spec_of(loss={"score": "cross_entropy"})) == [
        "loss.score: head `score_head` (target `score`): `cross_entropy` is a classification loss, but the data is "
        "regression; use mse"]
    assert errors(spec_of(metrics={"score": ["accuracy"]})) == [
        "metrics.score.0: head `score_head` (target `score`): `accuracy` is a classification metric; this target "
        "is regression: use mae, mse, r2, rmse"]
    assert errors(spec_of(metrics={"kind": ["accuracy", {"top_k_accuracy": {"k": 3}}]})) == [
        "metrics.kind.1: head `kind_head` (target `kind`): `top_k_accuracy` needs k below the number of classes: k is "
        "3 and the data has 3 classes, so every model would score 1; use k from 1 to 2"]
    assert errors(spec_of(loss_weights={"scor": 2.0})) == ["loss_weights.scor: `scor` is not a target; did you "
                                                           "mean `score`?"]


def test_the_targets_and_the_heads_name_each_other():
    no_head = spec_of(model__outputs={"kind": "kind_head"})
    assert errors(no_head)[0].startswith("data.targets.score: the target `score` has no head")
    spare = spec_of(model__layers=[*TWO["model"]["layers"], {"linear": {"out_features": 2, "inputs": ["relu_1"]}}])
    assert "the output of `linear_4` feeds nothing" in errors(spare)[0]
    assert errors(spec_of(data__classes=3))[0].startswith("data.classes: `classes` and `targets` cannot both")
    assert "named like the loss `mse`" in errors(spec_of(data__targets={"mse": {"outputs": 1}, "kind": {"classes": 3}},
                                                       model__outputs={"mse": "score_head", "kind": "kind_head"}))[0]
    listed = errors(spec_of(REVIEWS, data__targets=["label", "rating"]))
    assert listed == ["data.targets: `targets` maps a name to each target, one head each (`targets: {label: {column: "
                      "label}, ...}`); for one head over several columns (a multi-target regression) write "
                      "`target: [label, rating]`"]
    one = {"data": {"source": "synthetic", "shape": [4], "classes": 3}, "model": {"layers": [{"linear": 3}]},
           "loss_weights": {"x": 1.0}}
    assert errors(one)[0].startswith("loss_weights: loss_weights weigh the losses of several outputs")


@pytest.mark.slow  # reads and tokenizes the 3,000 reviews once per target (~4 s here)
def test_a_csv_target_of_whole_numbers_takes_its_classes_from_the_column():
    a = specdl.check(REVIEWS)
    assert (a.heads["sentiment"].task, a.heads["sentiment"].data.classes) == ("classification", 2)
    assert a.heads["stars"].task == "regression"
    bad = spec_of(REVIEWS, data__targets__sentiment={"column": "lable"})
    assert errors(bad) == ["data.targets.sentiment.column: target `sentiment`: no column `lable` in data/reviews.csv; "
                           "did you mean `label`?"]


def test_the_editor_schema_takes_targets_outputs_and_keyed_losses():
    import jsonschema

    from specdl.front.editor_schema import spec_json_schema

    schema = jsonschema.Draft202012Validator(spec_json_schema())
    assert not list(schema.iter_errors(TWO)) and not list(schema.iter_errors(REVIEWS))
    assert list(schema.iter_errors(spec_of(data__targets__kind={"clases": 3})))
    assert list(schema.iter_errors(spec_of(loss_weights={"kind": "heavy"})))


# ---------------------------------------------------------------- the model and the loss, in this process
def test_the_model_returns_a_tensor_per_head_and_the_loss_is_their_weighted_sum():
    from specdl.build.model import build_loss, build_model
    from specdl.runtime.heads import Joined

    a = specdl.check(TWO)
    model = build_model(a)
    x = torch.randn(5, 6)
    kind, score = model(x)
    assert kind.shape == (5, 3) and score.shape == (5, 1)
    joined = Joined(model)(x)
    assert torch.equal(joined, torch.cat([kind, score], 1))
    y = torch.tensor([[0, 1.5], [2, -1.0], [1, 0.0], [0, 2.0], [2, 0.5]])
    loss_fn = build_loss(a)
    total = loss_fn(joined, y)
    want_kind = torch.nn.functional.cross_entropy(kind, y[:, 0].long())
    want_score = torch.nn.functional.mse_loss(score, y[:, 1:])
    assert torch.allclose(loss_fn.parts["kind"], want_kind) and torch.allclose(loss_fn.parts["score"], want_score)
    assert torch.allclose(total, want_kind + 0.5 * want_score)


def test_the_script_returns_the_heads_and_runs_them_data_parallel():
    from specdl.script.render import render

    a = specdl.check(TWO)
    script = render(a)
    assert "        return kind_head, x\n" in script and "HEADS = [" in script
    assert "run_model = Joined(model)  #" in script
    assert "run_model = data_parallel(Joined(model), DEVICE, WORLD)  #" in render(a, distributed=True)


def test_a_threshold_per_binary_head_reaches_its_predictions():
    from specdl.script.render import render

    spec = spec_of(data__targets={"spam": {"classes": 2}, "score": {"outputs": 1}}, loss={"spam": "bce_with_logits"},
                   model__outputs={"spam": "kind_head", "score": "score_head"}, metrics={},
                   train={"threshold": {"spam": 0.7}, "device": "cpu"})
    spec["model"]["layers"][2]["linear"]["out_features"] = 1
    a = specdl.check(spec)
    assert a.heads["spam"].kind == "binary" and a.spec.train.threshold_of("spam") == 0.7
    assert 'task="binary", invert=invert_targets["spam"], threshold=0.7)' in render(a)
    wrong = errors(spec_of(spec, train={"threshold": {"score": 0.3}}))
    assert wrong == ["train.threshold.score: head `score_head` (target `score`): a threshold applies to binary (one "
                     "logit, bce_with_logits) and multilabel heads; this head is regression"]


def test_check_proves_a_search_over_a_targets_loss_weight():
    """A search over ``loss_weights.<target>`` (tune, tests/test_heads_train.py): check
    proves the target exists and the weight's range, at the search key's line and column."""
    ok = spec_of(search={"trials": 2, "metric": "val_mae[score]",
                         "space": {"loss_weights.score": {"log_uniform": [0.1, 10.0]}}})
    assert specdl.check(ok).spec.search.space["loss_weights.score"].kind == "log_uniform"
    text = yaml.safe_dump(spec_of(ok, search__space={"loss_weights.scor": {"log_uniform": [0.1, 10.0]},
                                                     "loss_weights.kind": {"uniform": [-1.0, 1.0]}}), sort_keys=False)
    lines = text.splitlines()
    at = [i + 1 for i, line in enumerate(lines) if line.strip().startswith("loss_weights.")]
    with pytest.raises(specdl.SpecError) as e:
        specdl.check(text)
    assert [(i.line, i.col, i.message) for i in e.value.issues] == [
        (at[0], 5, "at 0.1, loss_weights.scor: `scor` is not a target; did you mean `score`?"),
        (at[1], 5, "at -1.0, loss_weights.kind: must be >= 0.0, got -1.0")]


# ---------------------------------------------------------------- build and the script
@pytest.mark.slow
def test_a_run_logs_each_part_and_reports_by_target_and_loads_for_the_run_verbs(tmp_path):
    test, run = specdl.train(TWO, out=tmp_path / "run")
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        assert row["val_loss"] == pytest.approx(row["val_loss[kind]"] + 0.5 * row["val_loss[score]"], rel=1e-5)
    assert test["loss"] == pytest.approx(test["loss[kind]"] + 0.5 * test["loss[score]"], rel=1e-5)
    report = json.loads((run / "report.json").read_text())
    assert set(report["targets"]) == {"kind", "score"} and set(report["targets"]["kind"]) == {"loss", "accuracy", "f1"}
    pre = json.loads((run / "preprocess.json").read_text())
    assert set(pre["target_transforms"]) == {"kind", "score"}
    pred = specdl.load_run(run).predict(np.zeros((4, 6)))  # the run verbs: tests/test_heads_runs.py
    assert list(pred["heads"]) == ["kind", "score"] and pred["heads"]["score"]["prediction"].shape == (4, 1)
    import onnx

    exported = specdl.export(run)  # one named output per head (tests/test_onnx_heads.py)
    assert [o.name for o in onnx.load(exported["path"]).graph.output] == ["kind", "score"]


@pytest.mark.slow
def test_a_resumed_run_ends_as_the_uninterrupted_one(tmp_path):
    from specdl.build.run import fit

    spec = spec_of(train={"epochs": 3, "batch_size": 32, "device": "cpu", "checkpoint": {"interval": 0},
                          "early_stopping": {"monitor": "val_mae[score]", "patience": 5}})
    assert specdl.check(spec).es_mode() == "min"
    full, _ = specdl.train(spec, out=tmp_path / "full")
    with pytest.raises(AssertionError, match="cut after epoch 2"):  # as a crash would, after last.pt
        fit(specdl.check(spec), out=tmp_path / "cut", on_epoch=lambda epoch, row: _cut(epoch, 2))
    resumed, _ = specdl.train(None, resume=tmp_path / "cut")
    assert resumed == full


def _cut(epoch: int, at: int) -> None:
    assert epoch < at, f"cut after epoch {at}"


NPZ = spec_of(name="npz-heads", data={"source": "npz", "path": "m.npz", "targets": {
    "a": {"array": "ya"}, "b": {"array": "yb", "task": "regression", "transforms": ["standardize"]}}},
    model__outputs={"a": "kind_head", "b": "score_head"}, metrics={"a": ["accuracy"], "b": ["mae", "r2"]},
    train={"epochs": 2, "batch_size": 32, "device": "cpu"}, loss_weights={"b": 2.0})


@pytest.mark.slow
@pytest.mark.parametrize("spec", [TWO, REVIEWS, NPZ], ids=["synthetic", "reviews", "npz"])
def test_build_equals_the_generated_script(spec, tmp_path):
    from .test_runtime import build_and_script

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    np.savez(tmp_path / "m.npz", x=x, ya=(x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0), yb=x[:, 2:4].sum(1, keepdims=True) * 10)

    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    built, script = build_and_script(tmp_path / "s.yaml", [], tmp_path)
    assert list(script) == list(built) and "r2[" + list(spec["data"]["targets"])[1] + "]" in built
    for k in built:
        assert script[k] == pytest.approx(built[k], abs=1e-6), k
    name = spec["name"]
    saved = (build_and_script.run_dir / "preprocess.json").read_text()
    assert (tmp_path / f"{name}.preprocess.json").read_text() == saved


def test_a_targets_transforms_are_checked_against_each_specs_own_types():
    """The models nested in a source keep the component types pydantic first resolved for
    them unless schema.spec_class gives them each spec's (sources/targets.py REBUILT): a
    target's `minmax` after a spec whose types held only `standardize` still reads."""
    first = spec_of(REVIEWS, data__targets__stars={"column": "rating", "task": "regression",
                                                   "transforms": ["standardize"]})
    then = spec_of(REVIEWS, data__targets__stars={"column": "rating", "task": "regression",
                                                  "transforms": ["minmax"]})
    for spec in (first, then):
        loaded = specdl.load(spec)
        assert [t.type_name for t in loaded.data.targets["stars"].transforms] == [spec["data"]["targets"]["stars"]
                                                                                 ["transforms"][0]]
