"""The helpers a script copies from specdl/runtime/ (layers, synthetic targets, the CSV
reader) are the package's source, as the loop's functions are (tests/test_runtime.py)."""

from __future__ import annotations

import ast
import importlib
import inspect

import specdl
from specdl.components.trust import HELPERS

from .conftest import ROOT
from .test_runtime import definitions


def test_each_helper_in_a_script_is_the_package_source():
    """The helpers a script holds (a backbone, a class token, synthetic targets...) are the
    classes and functions of specdl/runtime/ that build constructs, as their source."""
    held = 0
    for path in sorted((ROOT / "generated").glob("*.py")):
        script = definitions(path.read_text())
        for module, parts in HELPERS.values():
            for part in [p for p in parts if p in script]:
                obj = getattr(importlib.import_module(module), part)
                assert script[part] == definitions(inspect.getsource(obj))[part], (path.name, part)
                held += 1
    assert held >= 9  # synthetic_data in seven goldens, backbone, ClassToken, PositionEmbedding


def test_a_csv_script_reads_with_the_package_reader(tmp_path):
    """A script reading a CSV holds specdl/runtime/csv.py's reader and the one list of
    missing cells, as their source."""
    from specdl.runtime import csv as csv_module

    (tmp_path / "d.csv").write_text("a,b,y\n" + "1,2,no\n3,4,yes\n" * 8)
    code = specdl.codegen(specdl.load(f"name: c\ndata: {{source: csv, path: {tmp_path / 'd.csv'}, target: y}}\n"
                                      "model: {layers: [{linear: 2}]}\ntrain: {epochs: 1}\n"))
    script = definitions(code)
    for part in HELPERS["read_csv"][1][1:]:
        assert script[part] == definitions(inspect.getsource(getattr(csv_module, part)))[part], part
    assert ast.literal_eval(code.split("\nMISSING_CELLS = ", 1)[1].split("\n\n", 1)[0]) == csv_module.MISSING_CELLS
