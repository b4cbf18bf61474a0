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
    from specdl import checkpoint

    (tmp_path / "c.pt").write_text(text)
    with pytest.raises(RunError, match="not a torch checkpoint"):
        checkpoint.load(tmp_path / "c.pt")


def test_a_real_checkpoint_with_python_objects_is_still_named_so(tmp_path):
    import torch

    from specdl import checkpoint

    torch.save({"x": tmp_path}, tmp_path / "c.pt")  # a PosixPath: no tensor, no plain data
    with pytest.raises(RunError, match="holds Python objects"):
        checkpoint.load(tmp_path / "c.pt")
