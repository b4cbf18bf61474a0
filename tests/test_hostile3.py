"""Third round of hostile input: override paths with empty segments given to the Python
API (the CLI refuses them in its argument parser), and `overrides` given as one string."""
from __future__ import annotations

import pytest

import specdl
from specdl.errors import SpecError

SPEC = """data: {source: sklearn, dataset: iris}
model: {layers: [linear: 3]}
train: {epochs: 1, device: cpu}
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


@pytest.mark.parametrize("dotted", ["..", "model..layers", ".train", "train.", "train. .epochs"])
def test_the_api_refuses_an_empty_segment_with_its_own_error(dotted, spec):
    with pytest.raises(SpecError) as e:
        specdl.check(spec, overrides=[f"{dotted}=1"])
    assert "empty segment" in str(e.value)
    assert str(spec) not in str(e.value)        # located at the override, not the spec


@pytest.mark.parametrize("overrides, epochs", [("train.epochs=2", 2), (["train.epochs=4"], 4),
                                               (("train.epochs=5",), 5)])
def test_one_override_string_is_one_override_not_one_per_character(overrides, epochs, spec):
    analysis = specdl.check(spec, overrides=overrides)
    assert analysis.spec.train.epochs == epochs
