"""Codegen is injection-proof: every string a spec can carry is validated or rendered
as a Python literal. For each slot and each hostile string, the result is a clear
error, or a script whose syntax tree equals the one for a benign string once constant
values are blanked: the string changed data, never code."""

from __future__ import annotations

import ast
import csv
import subprocess
import sys

import numpy as np
import pytest

import specdl
from specdl.errors import RunError, SpecError

from .conftest import ROOT

HOSTILE = [
    'a"b', "a'b", '"""; import os; os.system("echo pwned")  #', "''') + __import__('os').getcwd() + ('''",
    "line\nbreak", "back\\slash\\", "__import__('os').system('id')", "eval(input())", "ｏｓ.ｓｙｓｔｅｍ",
    "αβγ", "{{ 7 * 7 }}", "${HOME}", "x" * 300, "); print(1); (", "\\n\\x00", "\t\r", "# comment", "",
]
BENIGN = "plain"


def csv_spec(tmp, s, slot):
    cols = {"target": "label", "feature": "f1", "cat": "c1", "path": "data.csv"}
    cols[slot] = s if slot != "path" else f"d{s}.csv".replace("/", "_")
    with open(tmp / cols["path"], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([cols["feature"], cols["cat"], cols["target"]])
        for i in range(40):
            w.writerow([i % 7, "ab"[i % 2], "yes" if i % 3 else "no"])
    return {"name": "h", "data": {"source": "csv", "path": cols["path"], "target": cols["target"],
                                  "categorical": [cols["cat"]]},
            "model": {"layers": [{"linear": 2}]}, "train": {"epochs": 1}}


def npz_spec(tmp, s, slot):
    keys = {"x": "xx", "y": "yy"}
    if slot in keys:
        keys[slot] = s
    path = f"a{s}.npz".replace("/", "_") if slot == "path" else "a.npz"
    np.savez(tmp / path, **{keys["x"]: np.zeros((20, 3)), keys["y"]: np.arange(20) % 2})
    return {"name": "h", "data": {"source": "npz", "path": path, **keys},
            "model": {"layers": [{"linear": 2}]}}


def image_spec(tmp, s, slot):
    from specdl.build.examples import write_images

    root = f"img{s}".replace("/", "_")
    write_images(tmp / root, per_class=4)
    return {"name": "h", "data": {"source": "image_folder", "root": root, "split": {"stratify": False}},
            "model": {"layers": ["flatten", {"linear": 3}]}}


def weights_spec(tmp, s, slot):
    try:  # check refuses a weights file that is not there
        (tmp / f"w{s}.pth").write_bytes(b"")
    except (OSError, ValueError):
        pass  # a name the file system refuses: check's refusal is then the outcome
    return {"name": "h", "data": {"source": "synthetic", "shape": [3, 32, 32], "classes": 2},
            "model": {"torchvision": "resnet18", "weights": f"w{s}.pth", "num_classes": 2}}


def names_spec(tmp, s, slot):
    d = {"name": "h", "data": {"source": "synthetic", "shape": [4], "classes": 2},
         "model": {"blocks": {"blk": [{"linear": 4}]}, "layers": [{"linear": {"out_features": 4, "name": "n"}},
                                                                    {"blk": {}}, {"linear": 2}]}}
    if slot == "layer_name":
        d["model"]["layers"][0]["linear"]["name"] = s
    elif slot == "block_name":
        d["model"]["blocks"] = {s: [{"linear": 4}]}
        d["model"]["layers"][1] = {s: {}}
    elif slot == "spec_name":
        d["name"] = s
    elif slot == "module":
        d["model"]["layers"][0] = {"module": {"target": "torch.nn.Identity" if s == BENIGN else s}}
    return d


IDENTIFIER_SLOTS = {"layer_name", "block_name"}  # validated: accepted values are plain identifiers
SLOTS = {
    "csv_path": (csv_spec, "path"), "csv_target": (csv_spec, "target"), "csv_feature": (csv_spec, "feature"),
    "csv_categorical": (csv_spec, "cat"), "npz_path": (npz_spec, "path"), "npz_x_key": (npz_spec, "x"),
    "npz_y_key": (npz_spec, "y"), "image_root": (image_spec, "root"), "weights_path": (weights_spec, "w"),
    "layer_name": (names_spec, "layer_name"), "block_name": (names_spec, "block_name"),
    "spec_name": (names_spec, "spec_name"), "module_target": (names_spec, "module"),
}


def blanked(code: str) -> str:
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            node.value = None
    return ast.dump(tree)


def generate(tmp_path, make, slot, s):
    d = tmp_path / f"case{abs(hash((slot, s)))}"
    d.mkdir()
    spec = make(d, s, slot)
    import os

    old = os.getcwd()
    os.chdir(d)
    try:
        return specdl.codegen(spec, allow_import=True)  # even with imports allowed
    except (SpecError, RunError):
        return None  # rejected with a clear error
    finally:
        os.chdir(old)


@pytest.mark.parametrize("slot", sorted(SLOTS))
def test_hostile_strings_are_rejected_or_inert(slot, tmp_path):
    make, key = SLOTS[slot]
    baseline = generate(tmp_path, make, key, BENIGN)
    assert baseline is not None, "the benign case must generate"
    shape = blanked(baseline)
    outcomes = {"rejected": 0, "inert": 0}
    for s in HOSTILE:
        try:
            code = generate(tmp_path, make, key, s)
        except OSError:
            continue  # the file system refused the name itself
        if code is None:
            outcomes["rejected"] += 1
            continue
        if slot in IDENTIFIER_SLOTS:
            assert s.isidentifier() and s.isascii(), f"{slot}: {s!r} was accepted as a name"
        else:
            assert blanked(code) == shape, f"{slot}: {s!r} changed the script's structure"
        outcomes["inert"] += 1
    assert sum(outcomes.values()) >= len(HOSTILE) - 3


def test_hostile_spec_file_name_in_docstring(tmp_path):
    bad = tmp_path / 'x"""; import os #\nz.yaml'
    bad.write_text((ROOT / "specs" / "iris_mlp.yaml").read_text())
    r = subprocess.run([sys.executable, "-m", "specdl", "codegen", str(bad)], capture_output=True, text=True,
                       cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    plain = subprocess.run([sys.executable, "-m", "specdl", "codegen", str(ROOT / "specs" / "iris_mlp.yaml")],
                           capture_output=True, text=True, cwd=tmp_path,
                           env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}).stdout
    assert blanked(r.stdout) == blanked(plain)


def test_generated_scripts_pass_ruff(tmp_path):
    """Generated code is clean for every bundled spec and some hostile variants."""
    codes = [specdl.codegen(p) for p in sorted((ROOT / "specs").glob("*.yaml"))]
    for s in HOSTILE[:6]:
        code = generate(tmp_path, csv_spec, "target", s)
        if code:
            codes.append(code)
    for i, code in enumerate(codes):
        (tmp_path / f"g{i}.py").write_text(code)
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select", "E,F,W,I",
                        "--line-length", "120", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
