"""Image sources own their splits (build) and their script lines (codegen): build equals
the script on folders decoded per sample, in each layout; a transform or augmentation
that fails is located at its own place; no module outside sources/ names an image source."""

from __future__ import annotations

import re

import pytest

import specdl

from .conftest import ROOT, run_cli
from .test_data import build_and_script, spec_file
from .test_image_cache import folder

PER_SAMPLE = """name: per-sample
seed: 3
data: {source: image_folder, %s, augment: [{random_rotation: 10}], transforms: [to_tensor]}
model: {layers: [flatten, {linear: 2}]}
train: {epochs: 2, batch_size: 4, device: cpu, num_workers: 0}
"""


@pytest.mark.parametrize("layout", ["root: img, split: {val: 0.25, test: 0.25}",
                                    "train: img, val: img_val, test: img_test",
                                    "train: img, test: img_test"])
def test_build_equals_script_on_folders_read_per_sample(tmp_path, layout):
    for name, n in (("img", 8), ("img_val", 2), ("img_test", 3)):
        folder(tmp_path / name, n=n)
    spec = spec_file(tmp_path, PER_SAMPLE % layout)
    assert not specdl.load(spec).data.uses_cache()
    built, script = build_and_script(spec, tmp_path)
    assert list(script) == list(built)
    assert script == pytest.approx(built, abs=1e-6)


@pytest.mark.parametrize("data, where", [
    ("augment: [random_horizontal_flip, {resize: [4, 4]}]", "data.augment[1] (resize): augmentation must keep"),
    ("transforms: [{resize: [4, 4]}, {normalize: {mean: [0.5], std: [0.5]}}]",
     "data.transforms[1] (normalize): normalize works on float images"),
    ("transforms: [to_tensor, {resize: [4, 4]}, {normalize: {mean: [0.5, 0.5], std: [0.5, 0.5]}}]",
     "data.transforms[2] (normalize)"),
])
def test_a_failing_image_step_is_located_at_its_place(tmp_path, data, where):
    folder(tmp_path / "img")
    spec = spec_file(tmp_path, f"data: {{source: image_folder, root: img, {data}}}\n"
                               "model: {layers: [flatten, {linear: 2}]}\n")
    r = run_cli("check", spec, cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and where in lines[0] and lines[1:] == ["1 error"], r.stderr


def test_no_module_outside_sources_names_an_image_source():
    """Adding an image source touches its class (sources/images.py) and the docs only."""
    named = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "specdl").rglob("*.py"))
             if "sources" not in p.parts
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"source\s*[!=]=\s*\"(image_folder|torchvision)|\"image_folder\"|IMAGE_SOURCES", line)]
    template = (ROOT / "templates" / "train.py.j2").read_text()
    assert not named and not re.search(r"source ==|image_folder\"|torchvision\"", template), named
