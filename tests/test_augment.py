"""Image augmentations: static shape rules, the catalogue, and build == codegen on an
image folder."""

from __future__ import annotations

import pytest

import specdl

from .conftest import run_cli
from .test_data import build_and_script, spec_file

AUGMENT = ("[random_vertical_flip, {random_rotation: 15}, {color_jitter: {brightness: 0.3, contrast: 0.2, "
           "saturation: 0.2, hue: 0.05}}, {random_affine: {degrees: 10, translate: [0.1, 0.1], "
           "scale: [0.9, 1.1], shear: 5}}, {random_erasing: {p: 0.5, scale: [0.02, 0.2]}}]")


@pytest.mark.slow  # trains and runs the script (~4 s): CI's slow run
def test_augmentations_build_and_codegen_agree(tmp_path):
    from specdl.build.examples import write_images

    write_images(tmp_path / "img", per_class=10, seed=0)
    spec = spec_file(tmp_path, f"data: {{source: image_folder, root: img, augment: {AUGMENT}, "
                               "transforms: [{resize: 16}]}\n"
                               "model: {layers: [{conv2d: {out_channels: 4, kernel_size: 3}}, relu, "
                               "{adaptive_avgpool2d: 1}, flatten, {linear: 3}]}\n"
                               "train: {epochs: 2, device: cpu}\n")
    a = specdl.check(spec)
    assert a.graph.input.shape == ("N", 3, 16, 16)
    built, script = build_and_script(spec, tmp_path)
    assert script == pytest.approx(built, abs=1e-6)


@pytest.mark.parametrize("augment, message", [
    ("[{color_jitter: {hue: 0.7}}]", "must be <= 0.5, got 0.7"),
    ("[{random_erasing: {scale: [0.5, 0.1]}}]", "scale [0.5, 0.1] must satisfy"),
    ("[{random_affine: {degrees: 5, translate: [0.1, 2.0]}}]", "must be fractions in [0, 1]"),
    ("[{random_affine: {degrees: 5, scale: [1.0]}}]", "must be two numbers"),
    ("[{random_rotation: -3}]", "must be >= 0.0, got -3"),
])
def test_bad_augmentation_is_located(tmp_path, augment, message):
    from specdl.build.examples import write_images

    write_images(tmp_path / "img", per_class=4, seed=0)
    spec = spec_file(tmp_path, f"data: {{source: image_folder, root: {tmp_path / 'img'},\n"
                               f"       augment: {augment}}}\n"
                               "model: {layers: [flatten, {linear: 3}]}\n")
    r = run_cli("check", spec)
    assert r.returncode == 2, r.stdout
    assert f"{spec}:2:" in r.stderr and message in r.stderr, r.stderr


@pytest.mark.parametrize("name", ["random_crop", "color_jitter", "relu6", "class_token"])
def test_catalogue_describes_layers_and_image_transforms(name):
    r = run_cli("layers", name)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(name) and "primary argument" in r.stdout


def test_catalogue_lists_both_and_rejects_unknown_names():
    r = run_cli("layers")
    assert r.returncode == 0 and "random_erasing" in r.stdout and "position_embedding" in r.stdout
    r = run_cli("layers", "random_crops")
    assert r.returncode == 2 and r.stderr.strip() == (
        "specdl: error: unknown layer or image transform `random_crops`; did you mean `random_crop`?")
