"""Fourth round of hostile specs, for the third wave's keys (named inputs, several outputs,
score metrics) where a corpus file of tests/bad_specs/ does not fit: an npz file written
here, target names that must keep working, and overrides into these keys."""
from __future__ import annotations

import numpy as np
import pytest

import specdl
from specdl.errors import SpecError

NPZ = """data:
  source: npz
  path: {path}
  inputs:
    feats: {{array: {feats}}}
  targets:
    kind: {{array: kind}}
    {t}: {{array: score, task: regression}}
model:
  layers:
    - linear: {{out_features: 8, inputs: [feats]}}
    - linear: {{out_features: 3, name: kind_head}}
    - linear: {{out_features: 1, inputs: [linear_0], name: score_head}}
  outputs: {{kind: kind_head, {t}: score_head}}
"""


@pytest.fixture
def arrays(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.normal(size=(40, 3)).astype("float32"), kind=np.arange(40) % 3,
             score=rng.normal(size=40).astype("float32"))
    return path


def check(tmp_path, text: str, overrides=()):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    return spec, specdl.check(spec, overrides=list(overrides))


def test_npz_arrays_as_written_check(arrays, tmp_path):
    _, analysis = check(tmp_path, NPZ.format(path=arrays, feats="x", t="score"))
    assert set(analysis.heads) == {"kind", "score"}


@pytest.mark.parametrize("feats", ["kind", "score"])
def test_a_target_array_is_no_input(feats, arrays, tmp_path):
    """The model would read its answer: refused as a CSV target column is (spec 12.1)."""
    with pytest.raises(SpecError) as e:
        check(tmp_path, NPZ.format(path=arrays, feats=feats, t="score"))
    (issue,) = [i.render() for i in e.value.issues]
    assert str(issue).startswith(f"{tmp_path / 'spec.yaml'}:5:") and "data.inputs.feats.array" in str(issue)
    assert f"`{feats}` is the target's array; it cannot also be an input" in str(issue)


@pytest.mark.parametrize("name", ["stars-5", "Kind_2", "a" * 64])
def test_target_names_of_letters_digits_dash_and_underscore_check(name, arrays, tmp_path):
    text = NPZ.format(path=arrays, feats="x", t=name)
    _, analysis = check(tmp_path, text + f'train: {{checkpoint: {{monitor: "val_loss[{name}]"}}}}\n')
    assert name in analysis.heads and analysis.monitor == f"val_loss[{name}]"


@pytest.mark.parametrize("name", ["a" * 65, "sc ore", "scöre", "_score", "score.x", "x]"])
def test_target_names_that_would_break_files_or_monitors_are_one_error(name, arrays, tmp_path):
    with pytest.raises(SpecError) as e:
        check(tmp_path, NPZ.format(path=arrays, feats="x", t=f"'{name}'"))
    (issue,) = [i.render() for i in e.value.issues]
    assert "is not a valid target name: use letters, digits, _ and -" in str(issue)


def test_every_weight_zero_from_overrides_is_an_error(arrays, tmp_path):
    text = NPZ.format(path=arrays, feats="x", t="score")
    check(tmp_path, text, ["loss_weights.kind=0"])  # one head switched off: allowed
    with pytest.raises(SpecError) as e:
        check(tmp_path, text, ["loss_weights.kind=0", "loss_weights.score=0.0"])
    (issue,) = [i.render() for i in e.value.issues]
    assert "every target's weight is 0" in str(issue) and "nothing trains" in str(issue)


TEXT = """data:
  source: csv
  path: {path}
  target: label
  task: classification
  inputs:
    review: {{text: text{extra}}}
model:
  layers:
    - embedding: {{embedding_dim: 4, inputs: [review]}}
    - sequence_pool: {{mode: mean, inputs: [embedding_0, review]}}
    - linear: 2
"""


@pytest.mark.parametrize("blank, extra, fix", [(True, "", "fill in the texts"),
                                               (False, ", min_freq: 1000", "lower min_freq")])
def test_a_text_input_with_no_word_in_its_vocabulary_is_a_warning(blank, extra, fix, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text,label\n" + "".join(f"{'' if blank else 'a good film'},{i % 2}\n" for i in range(20)))
    spec, analysis = check(tmp_path, TEXT.format(path=path, extra=extra))
    (warning,) = [w.render() for w in analysis.warnings if "vocabulary" in w.message]
    assert warning.startswith(f"{spec}:7:20: warning: data.inputs.review.text: the vocabulary of `text` holds no word")
    assert warning.endswith(fix)


def test_a_text_input_with_words_has_no_such_warning(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text,label\n" + "".join(f"a good film {i},{i % 2}\n" for i in range(20)))
    _, analysis = check(tmp_path, TEXT.format(path=path, extra=""))
    assert not [w for w in analysis.warnings if "vocabulary" in w.message]
