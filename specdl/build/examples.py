"""Example data for the bundled specs, written locally (nothing is downloaded): a small
image folder of class-separable pictures, a resnet18 state_dict standing in for
pretrained weights, and a table of movie reviews (``reviews.csv`` and its posters: text,
categorical, numeric and image columns, each a signal of the label: issue 29)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath

from .. import manifest
from ..errors import RunError

CLASSES = ("circles", "stripes", "squares")


def _image(kind: str, rng, size: int):
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size] / size
    cx, cy = rng.uniform(0.3, 0.7, 2)
    if kind == "circles":
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < rng.uniform(0.04, 0.09)
    elif kind == "stripes":
        mask = np.sin((yy + rng.uniform()) * rng.uniform(14, 22)) > 0
    else:
        half = rng.uniform(0.15, 0.3)
        mask = (abs(xx - cx) < half) & (abs(yy - cy) < half)
    base = rng.uniform(0, 90, 3)
    fg = rng.uniform(150, 255, 3)
    img = np.where(mask[..., None], fg, base) + rng.normal(0, 12, (size, size, 3))
    return np.clip(img, 0, 255).astype("uint8")


def _pngs(per_class: int, size: int, seed: int):
    """``(<class>/<n>.png, its bytes)`` for three shape classes (seeded)."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for kind in CLASSES:
        for i in range(per_class):
            buf = io.BytesIO()
            Image.fromarray(_image(kind, rng, size)).save(buf, format="png")
            yield f"{kind}/{i:03d}.png", buf.getvalue()


def write_images(root: Path, per_class: int = 60, size: int = 32, seed: int = 0) -> Path:
    """``root/<class>/<n>.png`` for three shape classes."""
    for rel, data in _pngs(per_class, size, seed):
        (Path(root) / rel).parent.mkdir(parents=True, exist_ok=True)
        (Path(root) / rel).write_bytes(data)
    return Path(root)


POSITIVE = ("wonderful", "moving", "brilliant", "delightful", "gripping", "superb", "charming", "great")
NEGATIVE = ("dull", "tedious", "clumsy", "forgettable", "bland", "awful", "messy", "boring")
FILLER = ("the", "film", "story", "cast", "plot", "scenes", "director", "ending", "was", "is", "a", "and", "with",
          "its", "music", "pace", "acting", "script", "camera", "of", "in", "this", "lead", "moments", "felt")
POSTERS = 64  # 32 circles then 32 squares, 32x32, reused by path


def _review(rng, good: bool) -> str:
    """A review: filler words around one sentiment word (of the label's side when ``good``)."""
    words = list(rng.choice(FILLER, int(rng.integers(4, 40))))
    words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(POSITIVE if good else NEGATIVE)))
    return " ".join(words).capitalize() + str(rng.choice([".", "!", "..."]))


def reviews_csv(rows: int = 3000, seed: int = 0) -> bytes:
    """reviews.csv: text, movie, runtime, year, poster, label, rating. Four independent fair
    signals (a sentiment word in the text, a movie from the first half of 40, runtime + year
    above its median, a circle poster rather than a square); label 1 where at least 3 of
    the 4 hold (without one input the best accuracy is 0.8125); rating 1-5: 1 + how many hold
    + a normal of sd 0.5, rounded (the best predictor's R^2 about 0.7; sd 0.7 until
    2026-12-07 capped it near 0.58, where a rating head trained alone reached 0.51)."""
    import csv
    import io

    import numpy as np

    rng = np.random.default_rng(seed)
    text, movie, poster = (rng.integers(0, 2, rows).astype(bool) for _ in range(3))
    runtime, year = rng.integers(80, 181, rows), rng.integers(1950, 2021, rows)
    numbers = runtime + year > np.median(runtime + year)
    signals = text.astype(int) + movie + numbers + poster
    rating = np.clip(np.rint(1 + signals + rng.normal(0, 0.5, rows)), 1, 5).astype(int)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["text", "movie", "runtime", "year", "poster", "label", "rating"])
    for i in range(rows):
        m = int(rng.integers(0, 20)) + (0 if movie[i] else 20)
        p = int(rng.integers(0, POSTERS // 2)) + (0 if poster[i] else POSTERS // 2)
        w.writerow([_review(rng, text[i]), f"movie_{m:02d}", runtime[i], year[i], f"posters/{p:02d}.png",
                    int(signals[i] >= 3), rating[i]])
    return buf.getvalue().encode()


def _posters(seed: int = 1):
    """(posters/NN.png, its bytes): POSTERS // 2 circles, then as many squares (seeded)."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(POSTERS):
        buf = io.BytesIO()
        Image.fromarray(_image("circles" if i < POSTERS // 2 else "squares", rng, 32)).save(buf, format="png")
        yield f"posters/{i:02d}.png", buf.getvalue()


def _weights(model: str = "resnet18", seed: int = 0) -> bytes:
    """A torchvision model's freshly initialised state_dict (seeded), as torch.save writes it."""
    import io

    import torch
    import torchvision

    torch.manual_seed(seed)
    buf = io.BytesIO()
    torch.save(torchvision.models.get_model(model).state_dict(), buf)
    return buf.getvalue()


def write_all(out: Path = Path("data")) -> list[Path]:
    """shapes/, checkpoints/resnet18.pth, reviews.csv and posters/ in ``out``, listed in its manifest. A file
    there that specdl did not write is never replaced (one that already holds the same
    bytes is taken as written)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    found = manifest.read(out)
    if found is not None and found["kind"] != "example-data":
        raise RunError(f"{out} holds {manifest.KINDS[found['kind']]} written by specdl, not example data (its "
                       f"{manifest.MANIFEST}); choose another --out")
    ours = set(found["paths"]) if found else set()
    files = _unclaimed(out, ours, {f"shapes/{rel}": data for rel, data in _pngs(60, 32, 0)})
    files |= _unclaimed(out, ours, {"checkpoints/resnet18.pth": _weights()})
    files |= _unclaimed(out, ours, {"reviews.csv": reviews_csv(), **dict(_posters())})
    folders = {str(PurePosixPath(rel).parents[i]) for rel in files for i in range(len(PurePosixPath(rel).parts) - 1)}
    if found is None:
        manifest.start(out, "example-data")
    manifest.record(out, *files, *(f for f in folders if not (out / f).exists()))
    for rel, data in files.items():
        _write_atomic(out / rel, data)
    return [out / "shapes", out / "checkpoints" / "resnet18.pth", out / "reviews.csv", out / "posters"]


def _unclaimed(out: Path, ours: set, files: dict) -> dict:
    """``files``, refused (one line) where one of them is there, unlisted, with other bytes."""
    for rel, data in files.items():
        p = out / rel
        if rel not in ours and os.path.lexists(p) and (not p.is_file() or p.read_bytes() != data):
            raise RunError(f"{p} exists and specdl did not write it (not in {out / manifest.MANIFEST}); it is "
                           "never replaced: move it, or choose another --out")
    return files


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
