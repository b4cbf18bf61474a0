"""An image run's steps before `to_tensor` without torch (specdl/runs/pixels.py: what
`serve --backend onnx` does to a request's images before the raw ONNX graph) against the
run's own eval pipeline in torchvision, on a tiny image folder written here: images of
several sizes and modes, every step it does (`resize` by a short side and to [h, w],
`center_crop` smaller and larger than the image, `grayscale` to 1 and 3 channels).
Decoding, cropping and grayscale are equal; PIL's resize is within RESIZE_LEVELS of
torchvision's on every pixel, equal on most."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import specdl
from specdl.errors import RunError
from specdl.runs.inputs import through
from specdl.runs.pixels import RESIZE_LEVELS, before_to_tensor, pixels

SIZES = [(20, 14), (9, 13), (32, 32), (17, 17)]  # (width, height)


def write_folder(root):
    """root/a and root/b: RGB, grayscale (L) and RGBA PNGs and a JPEG, of SIZES."""
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i, (w, h) in enumerate(SIZES):
            yy, xx = np.mgrid[0:h, 0:w]
            smooth = (np.sin(xx / 3 + i) + np.cos(yy / 4)) * 50 + 120
            a = np.clip(smooth[..., None] + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
            im = Image.fromarray(a)
            mode = ("RGB", "L", "RGBA", "RGB")[i]
            im.convert(mode).save(root / c / (f"{i}.jpg" if i == 3 else f"{i}.png"))
    return root


def spec_of(root, transforms: list):
    return specdl.load({"data": {"source": "image_folder", "root": str(root), "transforms": transforms},
                        "model": {"layers": ["flatten", {"linear": 2}]}})


PIPELINES = {
    "crop": [{"center_crop": [12, 10]}, "to_tensor"],
    "crop larger": [{"center_crop": [16, 24]}, "to_tensor"],
    "grayscale": [{"grayscale": 1}, {"center_crop": 8}, "to_tensor"],
    "grayscale 3": [{"grayscale": 3}, {"center_crop": [9, 7]}, "to_tensor"],
    "resize short side": [{"resize": 12}, {"center_crop": 12}, "to_tensor"],
    "resize up": [{"resize": [40, 36]}, "to_tensor"],
    "resize both": [{"grayscale": 3}, {"resize": [11, 15]}, "to_tensor", {"normalize": {"mean": [0.5] * 3,
                                                                                      "std": [0.25] * 3}}],
}


@pytest.mark.parametrize("name", list(PIPELINES))
def test_pixels_are_the_eval_pipelines_images(name, tmp_path):
    spec = spec_of(write_folder(tmp_path / "img"), PIPELINES[name])
    files = sorted((tmp_path / "img").rglob("*.*"))
    want = specdl.check(spec).data.feat
    data = spec.data
    torch_side = through([(str(f), f) for f in files], data.pipeline(train=False), want)  # predict's images
    steps = before_to_tensor(data.transforms)
    got = pixels([(str(f), f) for f in files], steps, want)
    x = torch_side.numpy().astype(np.float64)
    for t in reversed([t for t in data.transforms if t.type_name == "normalize"]):
        x = x * np.asarray(t.std)[:, None, None] + np.asarray(t.mean)[:, None, None]
    expected = np.round(x * 255).astype(np.int64)
    assert got.dtype == np.uint8 and got.shape == expected.shape == (len(files), *want)
    diff = np.abs(got.astype(np.int64) - expected)
    if "resize" not in name:
        assert diff.max() == 0
    else:  # PIL's bilinear filter vs torchvision's uint8 kernel
        assert diff.max() <= RESIZE_LEVELS and (diff == 0).mean() >= 0.9, ((diff > 0).mean(), diff.max())


def test_what_pixels_cannot_do_is_refused_in_one_line(tmp_path):
    root = write_folder(tmp_path / "img")
    with pytest.raises(RunError, match=r"`resize` in data.transforms has antialias: false"):
        before_to_tensor(spec_of(root, [{"resize": {"size": 8, "antialias": False}}, "to_tensor"]).data.transforms)
    with pytest.raises(RunError, match=r"^img/a/0.png is \[3, 14, 20\] after the run's transforms; the model takes"):
        pixels([("img/a/0.png", root / "a" / "0.png")], [], (3, 8, 8))
    (root / "a" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(RunError, match=r"^row 3, input `poster`: .*bad.png"):
        pixels([("row 3, input `poster`", root / "a" / "bad.png")], [], (3, 8, 8))


def test_a_small_image_runs_onnx_preprocessing_is_its_torch_preprocessing(tmp_path):
    """One small image-folder run (resize by the short side, center_crop, normalize): the
    onnx backend's images (uint8, without torch) scaled and normalized as its raw graph
    does (runs/deploy.py's ``scaled``) against the torch backend's model inputs for the
    same images: within RESIZE_LEVELS / 255 / std, most equal."""
    import torch

    from specdl.runs.deploy import image_steps, scaled
    from specdl.runs.inputs import transformed_images
    from specdl.runs.loaded import SavedRun
    from specdl.serving.onnx_backend import OnnxBackend

    write_folder(tmp_path / "img")
    transforms = [{"resize": 12}, {"center_crop": 10}, "to_tensor",
                  {"normalize": {"mean": [0.4, 0.5, 0.6], "std": [0.2, 0.25, 0.3]}}]
    spec = {"data": {"source": "image_folder", "root": str(tmp_path / "img"), "transforms": transforms,
                     "split": {"val": 0.25, "test": 0.25}},
            "model": {"layers": ["flatten", {"linear": 2}]}, "train": {"epochs": 1, "batch_size": 8, "device": "cpu"}}
    saved = SavedRun(specdl.train(spec, out=tmp_path / "run").run_dir)
    pairs = [(f.name, f) for f in sorted((tmp_path / "img").rglob("*.*"))]
    raw = OnnxBackend.images(saved, pairs)
    assert raw.x.dtype == np.uint8 and raw.x.shape == (8, 3, 10, 10) and raw.files == [n for n, _ in pairs]
    graph = scaled(torch.as_tensor(raw.x), image_steps(saved.spec.data.transforms)).numpy()
    want = transformed_images(saved, pairs).x.numpy()
    diff = np.abs(graph - want) * np.array([0.2, 0.25, 0.3])[:, None, None] * 255  # in levels of 255
    assert diff.max() <= RESIZE_LEVELS + 1e-3 and (diff < 1e-3).mean() >= 0.9
