"""Other tools' command-line habits get the fix in one line each: a training flag names
the override (`--epochs 3`: `-o train.epochs=3`), another tool's verb names ours
(`train`: build), and a missing spec, image folder or run directory says it does not
exist and what it may be misspelt for. All in process (argparse's error path, the API)."""

from __future__ import annotations

import shutil

import pytest

import specdl
from specdl.cli import _parser, main
from specdl.errors import RunError, SpecError

from .conftest import ROOT

IRIS = str(ROOT / "specs" / "iris_mlp.yaml")
DIABETES = str(ROOT / "specs" / "diabetes_mlp.yaml")  # adamw


def errors(argv, capsys) -> list[str]:
    with pytest.raises(SystemExit) as e:
        _parser().parse_args(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [ln for ln in err.splitlines() if not ln.startswith("usage:")]


@pytest.mark.parametrize("argv, want", [
    (["build", IRIS, "--epochs", "3"], ["unrecognized option --epochs 3; did you mean `-o train.epochs=3`?"]),
    (["build", IRIS, "--epochs=3"], ["did you mean `-o train.epochs=3`?"]),
    (["build", "--epochs", "3", IRIS], ["unrecognized option --epochs 3; did you mean `-o train.epochs=3`?"]),
    (["tune", DIABETES, "--lr", "0.01"], ["did you mean `-o optimizer.adamw.lr=0.01`?"]),
    (["codegen", IRIS, "--batch_size", "8", "--device", "cuda"],
     ["did you mean `-o train.batch_size=8`?", "did you mean `-o train.device=cuda`?"]),
    (["build", IRIS, "--max-epochs", "5", "--forse"], ["did you mean `-o train.epochs=5`?", "did you mean `--force`?"]),
    (["codegen", IRIS, "--output", "x.py"], ["unrecognized option --output x.py; did you mean `--out x.py`?"]),
    (["build", "--config", IRIS], ["the spec is the verb's first argument: `specdl build SPEC.yaml`"]),
    (["predict", "run", "--input", "x.csv", "--epochs", "3"], ["`specdl predict` reads a finished run or no spec"]),
])
def test_a_training_flag_names_its_override(argv, want, capsys):
    lines = errors(argv, capsys)
    assert len(lines) == len(want), lines  # one line per word argparse did not take
    for line, w in zip(lines, want):
        assert line.startswith("specdl: error: unrecognized ") and w in line, line


@pytest.mark.parametrize("verb, ours", [("train", "build"), ("fit", "build"), ("run", "build"), ("test", "evaluate"),
                                        ("generate", "codegen"), ("infer", "predict"), ("validate", "check"),
                                        ("search", "tune"), ("biuld", "build"), ("evalute", "evaluate")])
def test_another_tools_verb_names_ours(verb, ours, capsys):
    (line,) = errors([verb, IRIS], capsys)
    assert line.startswith(f"specdl: error: unknown verb `{verb}`; did you mean `specdl {ours}`?"), line


def test_an_unknown_verb_lists_the_verbs(capsys):
    (line,) = errors(["frobnicate"], capsys)
    assert "unknown verb `frobnicate` (the verbs: check, build, tune, codegen" in line


def test_a_missing_spec_image_folder_or_run_names_its_sibling(tmp_path, capsys):
    shutil.copy(IRIS, tmp_path / "iris_mlp.yaml")
    with pytest.raises(SpecError) as e:
        specdl.check(tmp_path / "iris_mpl.yaml")
    assert f"the spec file {tmp_path}/iris_mpl.yaml does not exist; did you mean `{tmp_path}/iris_mlp.yaml`?" \
        in str(e.value)
    (tmp_path / "shapes" / "circle").mkdir(parents=True)
    (tmp_path / "img.yaml").write_text("data: {source: image_folder, root: shape}\nmodel: {layers: [flatten]}\n")
    with pytest.raises(SpecError, match=r"root \(image_folder\): the image folder shape does not exist; "
                                        r"did you mean `shapes`\?"):
        specdl.check(tmp_path / "img.yaml")
    run = tmp_path / "runs" / "iris-mlp" / "20261127-120000"
    run.mkdir(parents=True)
    (run / "spec.yaml").write_text("")
    for verb in (lambda p: specdl.load_run(p), lambda p: specdl.export(p, with_preprocessing=True)):
        with pytest.raises(RunError, match=r"does not exist; did you mean `runs/iris-mlp/20261127-120000`\?$"):
            verb("runs/iris-mpl/20261127-120000")
    with pytest.raises(RunError, match="runs/iris-mlp is not a specdl run directory .*the newest by name is "
                                       "runs/iris-mlp/20261127-120000"):
        specdl.load_run("runs/iris-mlp")
    assert main(["build", "--resume", "runs/iris-mlp/2026112"]) == 2
    assert "did you mean `runs/iris-mlp/20261127-120000`?" in capsys.readouterr().err
