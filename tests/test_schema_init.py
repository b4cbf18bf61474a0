"""`specdl schema` for editors, and `specdl init` templates."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

import specdl

from .conftest import ROOT, SPECS, run_cli

BAD = ROOT / "tests" / "bad_specs"
# malformed specs whose fault is one a JSON Schema can see (keys, types, ranges, names)
SCHEMA_FAULTS = ["04_unknown_top_key", "05_unknown_data_key", "07_unknown_argument", "08_missing_argument",
                 "09_wrong_type", "10_out_of_range", "11_negative_lr", "19_unknown_dataset",
                 "20_future_version", "27_bad_device", "29_empty_layers", "31_several_errors",
                 "33_not_a_mapping"]


@pytest.fixture(scope="module")
def validator():
    r = run_cli("schema")
    assert r.returncode == 0, r.stderr
    schema = json.loads(r.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_bundled_specs_validate(spec, validator):
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(spec.read_text()))]
    assert not errors, errors[:3]


@pytest.mark.parametrize("name", SCHEMA_FAULTS)
def test_schema_faults_fail_validation(name, validator):
    data = yaml.safe_load((BAD / f"{name}.yaml").read_text())
    assert list(validator.iter_errors(data)), f"{name} should not validate"


def test_canonical_forms_validate(validator):
    for spec in SPECS:
        assert not list(validator.iter_errors(yaml.safe_load(specdl.load(spec).to_yaml()))), spec


@pytest.mark.parametrize("template", ["mlp", "cnn", "text",  # resnet and transfer train ~4 s each: CI's slow run
                                      *(pytest.param(t, marks=pytest.mark.slow) for t in ("resnet", "transfer"))])
def test_init_templates_check_and_train(template, tmp_path, validator):
    r = run_cli("init", "--template", template, "--out", tmp_path / "s.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = Path(tmp_path / "s.yaml").read_text()
    assert text.startswith("#")  # commented
    assert not list(validator.iter_errors(yaml.safe_load(text)))
    metrics, _ = specdl.train(tmp_path / "s.yaml", out=tmp_path / "run", overrides=["train.epochs=1"])
    assert metrics["loss"] == metrics["loss"]
    r = run_cli("init", "--out", tmp_path / "s.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "--force" in r.stderr
