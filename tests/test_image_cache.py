"""Image folders through the uint8 cache: decoded once (hit, miss, invalidation; in
memory or memory-mapped; a read-only folder), batched augmentation equal to v2's per
sample for the same drawn parameters, and build == script on cached folders."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

import specdl
from specdl.runtime import images

from .conftest import run_cli
from .test_data import build_and_script, spec_file


def folder(root, n=6, size=(8, 8), classes=("a", "b")):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = (rng.random((size[1], size[0], 3)) * 255).astype("uint8")
            Image.fromarray(img).save(root / c / f"{i}.png")
    return root


PRE = v2.Compose([v2.ToImage()])


def cache_files(place):
    return sorted(p.name for p in place.glob("*")) if place.exists() else []


def test_cache_miss_then_hit(tmp_path, monkeypatch):
    root = folder(tmp_path / "img")
    x, y = images.image_folder(root, PRE)
    assert x.shape == (12, 3, 8, 8) and x.dtype == torch.uint8 and list(y) == [0] * 6 + [1] * 6
    first = np.array(Image.open(root / "a" / "0.png").convert("RGB")).transpose(2, 0, 1)
    assert torch.equal(x[0], torch.from_numpy(first))
    written = cache_files(tmp_path / ".specdl-cache")
    assert [n.rsplit(".", 1)[1] for n in written] == ["json", "u8"] and written[0].startswith("img-")

    def no_decoding(*a, **k):
        raise AssertionError("decoded again on a cache hit")

    monkeypatch.setattr(images, "decode_images", no_decoding)
    again, _ = images.image_folder(root, PRE)
    assert torch.equal(again, x)


@pytest.mark.parametrize("change", ["touch", "rewrite", "new file", "steps"])
def test_cache_invalidated_by_a_changed_file_or_steps(tmp_path, change):
    root = folder(tmp_path / "img")
    x, _ = images.image_folder(root, PRE)
    old = cache_files(tmp_path / ".specdl-cache")
    pre = PRE
    if change == "touch":
        st = os.stat(root / "a" / "1.png")
        os.utime(root / "a" / "1.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    elif change == "rewrite":
        Image.new("RGB", (8, 8), (255, 0, 0)).save(root / "a" / "1.png")
    elif change == "new file":
        Image.new("RGB", (8, 8), (0, 255, 0)).save(root / "b" / "9.png")
    else:
        pre = v2.Compose([v2.ToImage(), v2.Grayscale()])
    new, y = images.image_folder(root, pre)
    now = cache_files(tmp_path / ".specdl-cache")
    if change == "steps":  # another pipeline's cache sits beside the first
        assert set(old) < set(now) and new.shape == (12, 1, 8, 8)
        return
    assert now != old and len(now) == 2, "the stale cache is replaced, not kept beside"
    if change == "rewrite":
        assert (new[1] == torch.tensor([255, 0, 0]).view(3, 1, 1)).all() and not torch.equal(new[1], x[1])
    if change == "new file":
        assert len(new) == 13 and y[-1] == 1
    if change == "touch":
        assert torch.equal(new, x)


def _mapped(path) -> bool:
    return str(path) in open("/proc/self/maps").read()


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="reads Linux's /proc/self/maps")
def test_memory_mapped_when_over_the_memory_budget(tmp_path, monkeypatch):
    root = folder(tmp_path / "img")
    pre = v2.Compose([v2.ToImage(), v2.Resize([16, 16])])
    files = [str(root / c / f"{i}.png") for c in "ab" for i in range(6)]
    in_memory = images.image_cache(root, files, pre)
    data = next((tmp_path / ".specdl-cache").glob("*.u8"))
    assert not _mapped(data), "under the budget the cache is read into memory"
    monkeypatch.setenv("SPECDL_CACHE_MEMORY", "100")  # below the 12*3*16*16 bytes
    mapped = images.image_cache(root, files, pre)
    assert _mapped(data) and torch.equal(mapped, in_memory)
    assert torch.equal(mapped[[3, 0]], in_memory[[3, 0]])
    del mapped


@pytest.mark.parametrize("blocked", ["beside", "both"])
def test_read_only_folder_falls_back(tmp_path, monkeypatch, blocked):
    """Where `.specdl-cache` cannot be made beside the folder, the user's cache directory
    holds it; where neither can be written, the images are decoded into memory only."""
    root = folder(tmp_path / "own" / "img")
    (tmp_path / "own" / ".specdl-cache").write_text("not a folder")  # mkdir fails, as on a read-only disk
    home = tmp_path / "home-cache"
    if blocked == "both":
        home.write_text("not a folder either")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    x, _ = images.image_folder(root, PRE)
    assert x.shape == (12, 3, 8, 8)
    kept = cache_files(home / "specdl" / "images") if blocked == "beside" else []
    assert len(kept) == (2 if blocked == "beside" else 0)
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("damage", ["cut short", "header"])
def test_a_damaged_cache_is_made_again(tmp_path, damage):
    root = folder(tmp_path / "img")
    x, _ = images.image_folder(root, PRE)
    data = next((tmp_path / ".specdl-cache").glob("*.u8"))
    if damage == "cut short":
        data.write_bytes(data.read_bytes()[:100])
    else:
        data.with_name(data.name[:-3] + ".json").write_text("{not json")
    again, _ = images.image_folder(root, PRE)
    assert torch.equal(again, x) and data.stat().st_size == x.numel()


def test_a_file_that_does_not_decode_is_named_and_leaves_no_cache(tmp_path):
    root = folder(tmp_path / "img")
    data = (root / "b" / "2.png").read_bytes()
    (root / "b" / "2.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError, match=r"img/b/2.png is not a readable image"):
        images.image_folder(root, PRE)
    assert cache_files(tmp_path / ".specdl-cache") == []


# ----------------------------------------------------------------- batched augmentation
def batch(n=64, c=3, h=6, w=7, seed=0):
    return torch.randint(0, 256, (n, c, h, w), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@pytest.mark.parametrize("p, dim", [(0.5, -1), (0.2, -2), (0.0, -1), (1.0, -2)])
def test_random_flip_per_sample(p, dim):
    x = batch(2000)
    out = images.random_flip(x, torch.Generator().manual_seed(1), p=p, dim=dim)
    flip = F.horizontal_flip if dim == -1 else F.vertical_flip
    flipped = torch.tensor([torch.equal(o, flip(xi)) for o, xi in zip(out, x)])
    kept = torch.tensor([torch.equal(o, xi) for o, xi in zip(out, x)])
    assert (flipped | kept).all()
    assert abs(flipped.float().mean().item() - p) < 0.04
    drawn = torch.rand(2000, generator=torch.Generator().manual_seed(1)) < p  # the documented draw
    assert torch.equal(flipped, drawn)


@pytest.mark.parametrize("size, padding", [((6, 7), 4), ((4, 5), 0), ((6, 7), 0), ((8, 9), 1)])
def test_random_crop_equals_v2_for_the_drawn_offsets(size, padding):
    x = batch(300)
    out = images.random_crop(x, torch.Generator().manual_seed(2), size=list(size), padding=padding)
    g = torch.Generator().manual_seed(2)
    top = torch.randint(0, 6 + 2 * padding - size[0] + 1, (300,), generator=g)
    left = torch.randint(0, 7 + 2 * padding - size[1] + 1, (300,), generator=g)
    assert out.shape == (300, 3, *size)
    for i in range(300):
        want = F.crop(F.pad(x[i], [padding] * 4), int(top[i]), int(left[i]), *size)
        assert torch.equal(out[i], want), i
    span = 6 + 2 * padding - size[0]
    assert top.min() == 0 and top.max() == span  # every offset that fits is drawn, none beyond


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("brightness, contrast", [((0.6, 1.4), (0.7, 1.3)), ((0.5, 1.5), None),
                                                  (None, (0.0, 2.0))])
def test_color_jitter_equals_v2_for_the_drawn_factors(channels, brightness, contrast):
    x = batch(200, c=channels)
    out = images.color_jitter(x, torch.Generator().manual_seed(3), brightness, contrast)
    g = torch.Generator().manual_seed(3)
    draws = [None if r is None else r[0] + (r[1] - r[0]) * torch.rand(200, generator=g) for r in (brightness, contrast)]
    first = torch.rand(200, generator=g) < 0.5
    wants = []
    for i in range(200):
        steps = [(F.adjust_brightness, draws[0]), (F.adjust_contrast, draws[1])]
        if not first[i]:
            steps.reverse()
        want = x[i]
        for fn, f in steps:
            if f is not None:
                want = fn(want, float(f[i]))
        wants.append(want)
    diff = (out.int() - torch.stack(wants).int()).abs()
    if contrast is None:
        assert diff.max() == 0
    else:  # blending with the mean rounds once or twice (vector kernels fuse a*x + b): rarely 1 level apart
        assert diff.max() <= 1 and (diff > 0).float().mean() < 1e-3


def test_cache_plan_splits_the_pipeline(tmp_path):
    folder(tmp_path / "img")
    s = specdl.load(spec_file(tmp_path, SPEC % ("[random_horizontal_flip, {color_jitter: {brightness: 0.2}}]",
                                                "[{resize: 12}, {center_crop: 10}, to_tensor]")))
    pre, aug, post = s.data.cache_plan(True)
    assert [c.fn for c in pre] == ["v2.ToImage"] and [fn for fn, _ in aug] == ["random_flip", "color_jitter"]
    assert [c.fn for c in post] == ["v2.Resize", "v2.CenterCrop", "v2.ToDtype"]
    pre, aug, post = s.data.cache_plan(False)
    assert [c.fn for c in pre] == ["v2.ToImage", "v2.Resize", "v2.CenterCrop"] and aug == []


@pytest.mark.parametrize("augment", ["[{random_rotation: 10}]", "[{color_jitter: {saturation: 0.2}}]",
                                     "[{random_resized_crop: 8}]"])
def test_steps_without_a_batched_form_keep_the_per_sample_pipeline(tmp_path, augment):
    folder(tmp_path / "img")
    s = specdl.load(spec_file(tmp_path, SPEC % (augment, "[]")))
    assert not s.data.uses_cache()
    assert "DataLoader(" in specdl.codegen(s) and "image_cache" not in specdl.codegen(s)


def test_images_of_several_sizes_need_resize_before_the_cache(tmp_path):
    folder(tmp_path / "img")
    Image.new("RGB", (10, 8)).save(tmp_path / "img" / "a" / "wide.png")
    flip = specdl.load(spec_file(tmp_path, SPEC % ("[random_horizontal_flip]", "[{resize: [8, 8]}]")))
    assert not flip.data.uses_cache()  # the flip comes before resize: raw images, two sizes
    plain = specdl.load(spec_file(tmp_path, SPEC % ("[]", "[{resize: [8, 8]}]")))
    assert plain.data.uses_cache()


SPEC = """name: cached
seed: 1
data: {source: image_folder, root: img, split: {val: 0.25, test: 0.25}, augment: %s, transforms: %s}
model: {layers: [{conv2d: {out_channels: 4, kernel_size: 3}}, relu, {adaptive_avgpool2d: 1}, flatten, {linear: 2}]}
train: {epochs: 2, batch_size: 5, device: cpu}
"""
SEPARATE = """name: separate
data: {source: image_folder, train: img, test: img_test, augment: [{random_crop: {size: 10, padding: 2}}]}
model: {layers: [flatten, {linear: 2}]}
train: {epochs: 2, batch_size: 4, device: cpu}
"""


@pytest.mark.parametrize("case", ["augment+resize",  # the other trains (~4 s) in CI's slow run
                                  pytest.param("separate folders", marks=pytest.mark.slow)])
def test_build_equals_script_on_a_cached_folder(tmp_path, case):
    folder(tmp_path / "img", n=10, size=(12, 10) if case != "separate folders" else (10, 10))
    if case == "separate folders":
        folder(tmp_path / "img_test", n=3, size=(10, 10))
        spec = spec_file(tmp_path, SEPARATE)
    else:
        spec = spec_file(tmp_path, SPEC % ("[random_vertical_flip, {color_jitter: {brightness: 0.3, contrast: 0.3}}, "
                                           "{random_crop: {size: [10, 12], padding: 3}}]",
                                           "[{resize: [9, 9]}, to_tensor, {normalize: {mean: [0.5, 0.5, 0.5], "
                                           "std: [0.2, 0.2, 0.2]}}]"))
    assert specdl.load(spec).data.uses_cache()
    built, script = build_and_script(spec, tmp_path)
    assert list(script) == list(built)
    assert script == pytest.approx(built, abs=1e-6)


@pytest.mark.slow  # two full builds of a folder (a corrupt file, then memory-mapped)
def test_cached_build_names_a_corrupt_image_and_memmap_gives_the_same_run(tmp_path):
    folder(tmp_path / "img", n=8)
    spec = spec_file(tmp_path, SPEC % ("[random_horizontal_flip]", "[]"))
    runs = [run_cli("build", spec, "--out", f"r{i}", "-q", cwd=tmp_path, env=env)
            for i, env in enumerate([{}, {"SPECDL_CACHE_MEMORY": "0"}])]
    assert [r.returncode for r in runs] == [0, 0], runs[1].stderr
    assert (tmp_path / "r0" / "metrics.jsonl").read_text().count("train_loss") == 2
    reports = [(tmp_path / f"r{i}" / "report.json").read_text() for i in range(2)]
    import json

    assert json.loads(reports[0])["test"] == json.loads(reports[1])["test"]
    data = (tmp_path / "img" / "b" / "5.png").read_bytes()
    (tmp_path / "img" / "b" / "5.png").write_bytes(data[: len(data) // 2])
    r = run_cli("build", spec, "--out", "r2", "-q", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "img/b/5.png is not a readable image" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow  # a stopped run and its resume: with the other resume tests
def test_resumed_cached_run_equals_the_uninterrupted_one(tmp_path):
    """The augmentation draws come from the shuffle generator, saved in last.pt: a run
    resumed after epoch 2 goes on with the same draws."""
    import json

    folder(tmp_path / "img", n=8)
    spec = spec_file(tmp_path, SPEC % ("[random_horizontal_flip, {random_crop: {size: 8, padding: 2}}, "
                                       "{color_jitter: {brightness: 0.4}}]", "[]"))
    full = run_cli("build", spec, "-o", "train.epochs=4", "--out", "full", "-q", cwd=tmp_path)
    half = run_cli("build", spec, "-o", "train.epochs=2", "--out", "half", "-q", cwd=tmp_path)
    more = run_cli("build", "--resume", "half", "-o", "train.epochs=4", "-q", cwd=tmp_path)
    assert [r.returncode for r in (full, half, more)] == [0, 0, 0], more.stderr
    rows = [(tmp_path / d / "metrics.jsonl").read_text().splitlines() for d in ("full", "half")]
    strip = [[{k: v for k, v in json.loads(r).items() if k != "time_s"} for r in rs] for rs in rows]
    assert strip[0] == strip[1] and len(strip[0]) == 4
    reports = [json.loads((tmp_path / d / "report.json").read_text())["test"] for d in ("full", "half")]
    assert reports[0] == reports[1]


@pytest.mark.parametrize("train, words", [
    ("{epochs: 1, early_stopping: {patience: 2}}", "data.test: monitoring `val_loss` needs a validation folder"),
    ("{epochs: 1, checkpoint: {monitor: val_accuracy}}", "needs a validation folder (data.val"),
])
def test_separate_folders_without_val_monitor_nothing_on_val(tmp_path, train, words):
    folder(tmp_path / "img")
    folder(tmp_path / "img_test", n=2)
    spec = spec_file(tmp_path, "data: {source: image_folder, train: img, test: img_test}\n"
                               f"model: {{layers: [flatten, {{linear: 2}}]}}\ntrain: {train}\n")
    r = run_cli("check", spec, cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and words in lines[0] and lines[1:] == ["1 error"], r.stderr
