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
                                    pytest.param("train: img, val: img_val, test: img_test", marks=pytest.mark.slow),
                                    pytest.param("train: img, test: img_test", marks=pytest.mark.slow)])
# (each case trains, ~4 s: the default suite keeps the split of one root; CI's slow run the others)
def test_build_equals_script_on_folders_read_per_sample(tmp_path, layout):
    for name, n in (("img", 8), ("img_val", 2), ("img_test", 3)):
        folder(tmp_path / name, n=n)
    spec = spec_file(tmp_path, PER_SAMPLE % layout)
    assert not specdl.load(spec).data.uses_cache()
    built, script = build_and_script(spec, tmp_path)
    assert list(script) == list(built)
    assert script == pytest.approx(built, abs=1e-6)


@pytest.mark.parametrize("data, where", [
    ("augment: [random_horizontal_flip, {resize: [4, 4]}]", "data.augment[1] (resize): augmentation changes the image shape [3, 8, 8] to [3, 4, 4], and the transforms after it make train images [3, 4, 4] but val and test ones [3, 8, 8]"),
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


SHAPING = """name: shaping
seed: 1
data: {source: image_folder, root: img, split: {val: 0.25, test: 0.25}, augment: %s, transforms: %s}
model: {layers: [flatten, {linear: 2}]}
train: {epochs: 2, batch_size: 4, device: cpu, num_workers: 0}
"""


@pytest.mark.parametrize("sizes, augment, transforms, cached", [
    # a crop of images of several sizes, then one size for every split: per sample
    pytest.param([(12, 10), (9, 14)], "[{random_crop: 8}, random_horizontal_flip]", "[{resize: [6, 6]}]", False,
                 marks=pytest.mark.slow),  # trains (~5 s): CI's slow run; crop-cached stays in the default suite
    # torchvision's recipe: a random resized crop to train, resize and center crop to evaluate
    pytest.param([(12, 10), (9, 14)], "[{random_resized_crop: 6}]", "[{resize: [7, 7]}, {center_crop: 6}]", False,
                 marks=pytest.mark.slow),  # the per-sample path crop-mixed takes too: CI (`pytest -m slow`)
    # images of one size: the crop is a batched step of the uint8 cache, resize follows it
    ([(10, 10)], "[{random_crop: {size: 8, padding: 1}}]", "[{resize: [6, 6]}, to_tensor]", True),
], ids=["crop-mixed", "resized-crop", "crop-cached"])
def test_an_augmentation_may_change_the_shape_that_transforms_then_fix(tmp_path, sizes, augment, transforms, cached):
    """The train pipeline (augment, then transforms) and the eval one (transforms) must
    give one shape; on the way, an augmentation may change it (docs/spec.md)."""
    for i, size in enumerate(sizes):
        folder(tmp_path / "img", n=4, size=size, classes=(f"a{i}", f"b{i}") if len(sizes) > 1 else ("a", "b"))
    if len(sizes) > 1:  # two classes, each holding both sizes
        for i in range(len(sizes)):
            for c in "ab":
                for f in (tmp_path / "img" / f"{c}{i}").iterdir():
                    (tmp_path / "img" / c).mkdir(exist_ok=True)
                    f.rename(tmp_path / "img" / c / f"{i}-{f.name}")
                (tmp_path / "img" / f"{c}{i}").rmdir()
    spec = spec_file(tmp_path, SHAPING % (augment, transforms))
    a = specdl.check(spec)
    assert a.data.feat == (3, 6, 6)
    assert specdl.load(spec).data.uses_cache() is cached
    built, script = build_and_script(spec, tmp_path)
    assert list(script) == list(built)
    assert script == pytest.approx(built, abs=1e-6)


def test_an_image_too_small_for_a_crop_is_named_at_the_crop(tmp_path):
    folder(tmp_path / "img", n=3, size=(12, 10))
    folder(tmp_path / "small", n=1, size=(5, 5))
    (tmp_path / "small" / "a" / "0.png").rename(tmp_path / "img" / "a" / "small.png")
    spec = spec_file(tmp_path, SHAPING % ("[{random_crop: 8}]", "[{resize: [6, 6]}]"))
    r = run_cli("check", spec, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"{spec}:3:83: error: data.augment[0] (random_crop): crop [8, 8] is larger than the padded image "
        "[3, 5, 5] (img/a/small.png is 5x5 pixels)", "1 error"], r.stderr


def test_no_module_outside_sources_names_an_image_source():
    """Adding an image source touches its class (sources/images.py) and the docs only."""
    named = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "specdl").rglob("*.py"))
             if "sources" not in p.parts
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"source\s*[!=]=\s*\"(image_folder|torchvision)|\"image_folder\"|IMAGE_SOURCES", line)]
    template = (ROOT / "templates" / "train.py.j2").read_text()
    assert not named and not re.search(r"source ==|image_folder\"|torchvision\"", template), named
