"""Issue 26 reviewed at the seams of its five parts: a held-out case of each defect
found, in process (one tiny build for the module)."""

from __future__ import annotations

import shutil

import pytest

import specdl
from specdl import manifest
from specdl.errors import RunError
from tests.test_hardening3_files import built, spec  # noqa: F401 - fixtures


def test_a_failed_export_lists_no_file_it_did_not_write(built, tmp_path, monkeypatch):  # noqa: F811
    """`export RUN --out RUN/mine.onnx` that fails before writing: the user's file there is
    not listed as specdl's (a later --force would remove it); a written one is."""
    import torch

    run = tmp_path / "run"
    shutil.copytree(built, run)
    (run / "mine.onnx").write_text("the user's own")

    def broken(*a, **k):
        raise ValueError("exporter broke")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(RunError, match="exporter broke"):
        specdl.export(run, run / "mine.onnx")
    assert "mine.onnx" not in manifest.read(run)["paths"]
    monkeypatch.undo()
    specdl.export(run, run / "mine.onnx")
    assert "mine.onnx" in manifest.read(run)["paths"]


@pytest.mark.parametrize("given", [[{"sepal length (cm)": 5.0}], {"a": 1}, None, 3])
def test_evaluate_given_anything_but_a_path_says_what_it_reads(built, given):  # noqa: F811
    with pytest.raises(RunError, match=r"^evaluate reads a labelled file \(a path"):
        specdl.evaluate(built, given)


@pytest.mark.parametrize("text", ['{"categories": null}\n', "name: x\n", ""])
def test_a_checkpoint_that_is_another_kind_of_file_is_named_so(tmp_path, text):
    """(`--checkpoint` given the preprocess.json or the spec: not "it holds Python objects")"""
    from specdl.build import checkpoints as checkpoint

    (tmp_path / "c.pt").write_text(text)
    with pytest.raises(RunError, match="not a torch checkpoint"):
        checkpoint.load(tmp_path / "c.pt")


def test_a_real_checkpoint_with_python_objects_is_still_named_so(tmp_path):
    import torch

    from specdl.build import checkpoints as checkpoint

    torch.save({"x": tmp_path}, tmp_path / "c.pt")  # a PosixPath: no tensor, no plain data
    with pytest.raises(RunError, match="holds Python objects"):
        checkpoint.load(tmp_path / "c.pt")


def test_a_missing_input_spec_or_preprocess_says_it_does_not_exist_and_its_sibling(built, tmp_path):  # noqa: F811
    (tmp_path / "rows.csv").write_text("x\n1\n")
    with pytest.raises(RunError, match=r"^the input .*rowz.csv does not exist; did you mean `.*rows.csv`\?"):
        specdl.predict(built, tmp_path / "rowz.csv")
    with pytest.raises(RunError, match=r"^the input .*rowz.csv does not exist; did you mean `.*rows.csv`\?"):
        specdl.evaluate(built, tmp_path / "rowz.csv")
    given = {"checkpoint": built / "best.pt", "preprocess": built / "preprocess.json"}
    with pytest.raises(RunError, match=r"^the spec .*spec.yml does not exist; did you mean `.*spec.yaml`\?"):
        specdl.predict(None, [{}], spec=built / "spec.yml", **given)
    with pytest.raises(RunError, match=r"is a folder, not the spec$"):
        specdl.predict(None, [{}], spec=built, **given)


@pytest.mark.parametrize("name", ["report.json", "last.pt", "metrics.jsonl", "curves.png"])
def test_predict_evaluate_and_export_never_write_over_a_file_of_the_run(built, tmp_path, capsys, name):  # noqa: F811
    """A file of the run being read is refused as --out even where the verb does not read
    it (its report, its resume checkpoint, its curves); a new file in the run is fine."""
    from specdl.cli import main

    from .test_hardening3_files import COLUMNS

    run = tmp_path / "run"
    shutil.copytree(built, run)
    (tmp_path / "x.csv").write_text(COLUMNS + ",target\n5.1,3.5,1.4,0.2,0\n")
    (tmp_path / "p.csv").write_text(COLUMNS + "\n5.1,3.5,1.4,0.2\n")
    before = (run / name).read_bytes()
    for argv in (["predict", str(run), "--input", str(tmp_path / "p.csv")],
                 ["evaluate", str(run), "--input", str(tmp_path / "x.csv")], ["export", str(run)]):
        capsys.readouterr()
        assert main([*argv, "--out", str(run / name)]) == 2, argv
        assert "which specdl wrote in the run this command reads" in capsys.readouterr().err
    assert (run / name).read_bytes() == before
    capsys.readouterr()
    assert main(["predict", str(run), "--input", str(tmp_path / "p.csv"), "--out", str(run / "new.csv")]) == 0, \
        capsys.readouterr().err


@pytest.mark.slow  # a build and an ONNX export (~8 s)
def test_export_with_preprocessing_prints_no_note_of_its_own_unseen_category(tmp_path, capsys):
    """The verification feeds an unseen category on purpose; the user gave none."""
    from .test_data_integrity import PLAIN, spec_at

    run = specdl.train(spec_at(tmp_path, PLAIN, ids=False), out=tmp_path / "run").run_dir
    capsys.readouterr()
    specdl.export(run, tmp_path / "m.onnx", with_preprocessing=True)
    assert "never saw" not in capsys.readouterr().err
