"""File-backed image sources: a folder of class sub-folders, or a torchvision data set.
Images are decoded per sample by a DataLoader (with workers where asked)."""

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import PrivateAttr

from ..components.call import literal
from ..errors import ShapeError, SourceError
from .base import DataSource, Split
from .info import DataInfo

# Deterministic steps on uint8 images that may run once, before the cache, when they lead
# a split's pipeline (nothing random before them).
PRE_CACHE = ("resize", "center_crop", "grayscale")
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
TORCHVISION = {  # name -> (torchvision class, per-sample shape, classes)
    "mnist": ("MNIST", (1, 28, 28), 10),
    "fashion_mnist": ("FashionMNIST", (1, 28, 28), 10),
    "cifar10": ("CIFAR10", (3, 32, 32), 10),
    "cifar100": ("CIFAR100", (3, 32, 32), 100),
}


def scan(root: str) -> tuple[list[str], list[tuple[str, int]]]:
    """Classes (sorted sub-folder names) and (file, class index) pairs, as ImageFolder
    finds them."""
    base = Path(root)
    if not base.is_dir():
        from ..errors import no_such

        raise SourceError("root", no_such(root, "the image folder") if not base.exists() else
                          f"{root} is a file; give the folder that holds one sub-folder per class")
    classes = sorted(d.name for d in base.iterdir() if d.is_dir())
    if not classes:
        raise SourceError("root", f"{root} has no class sub-folders (root/<class>/<image>)" + _parent_hint(base))
    samples, seen = [], set()
    for i, c in enumerate(classes):
        samples += [(str(p), i) for p in folder_images(base / c, seen)]
    if not samples:
        raise SourceError("root", f"no images under {root} (looked for {', '.join(IMG_EXTENSIONS)})")
    empty = [c for i, c in enumerate(classes) if not any(k == i for _, k in samples)]
    if empty:
        raise SourceError("root", f"the class folder {base / empty[0]} holds no images; add some or remove it")
    return classes, samples


def _parent_hint(base: Path) -> str:
    """Where ``root`` names one class's folder (images straight in it): its parent, whose
    sub-folders are the classes."""
    def images(folder: Path) -> bool:
        return any(p.suffix.lower() in IMG_EXTENSIONS for p in folder.iterdir())

    parent = base.resolve().parent
    siblings = sorted(d.name for d in parent.iterdir() if d.is_dir() and not d.name.startswith(".") and images(d))
    if len(siblings) < 2 or not images(base):
        return ""
    shown = ", ".join(siblings[:5]) + (", ..." if len(siblings) > 5 else "")
    return f"; it holds images itself: did you mean `root: {base.parent}`, whose sub-folders ({shown}) are the classes?"


def folder_images(folder: Path, seen: set) -> list[Path]:
    """A class folder's image files as ImageFolder finds them (links to folders followed),
    or SourceError for a link that leads back to a folder on its way (a loop, which
    ImageFolder would follow until the path is too long) or to a folder read already
    (``seen``, shared by the classes: its images would be read twice, or under two labels)."""
    import os

    files, top = [], os.path.realpath(folder) + os.sep
    for d, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(d)
        if d != str(folder) and top.startswith(real + os.sep):
            raise SourceError("root", f"{d} is a link back to {real} (a loop): its images would be read "
                              "again and again; remove the link")
        if real in seen:
            raise SourceError("root", f"{d} leads to {real}, a folder read already by another path: its "
                              "images would be read twice; remove one of the links")
        seen.add(real)
        dirs.sort()
        files += [Path(d) / n for n in names if Path(n).suffix.lower() in IMG_EXTENSIONS]
    return sorted(p for p in files if not p.is_dir())


def _unreadable(path, e=None) -> str:
    if Path(path).stat().st_size == 0:
        return f"{path} is an empty (zero-byte) file; remove or replace it"
    why = (str(e).splitlines() or [type(e).__name__])[0][:120] if e is not None else "not an image"
    return f"{path} is not a readable image ({why}); remove or replace it"


def image_sizes(files, field: str) -> dict:
    """(width, height) of the first file of each distinct size, from the headers only
    (cheap: ``check`` reads every header); a file that is not an image is an error."""
    from PIL import Image

    from ..files import file_problem

    sizes = {}
    for path in files:
        why = file_problem(path)
        if why:  # a pipe would block the reader
            raise SourceError(field, why)
        try:
            with Image.open(path) as im:
                size = im.size
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise SourceError(field, _unreadable(path, e)) from None
        if size not in sizes.values():
            sizes[path] = size
    return sizes


def verify_images(files, field: str) -> None:
    """Before training: each file passes PIL's verify() (structure and checksums, no decoding)."""
    from PIL import Image

    for path in files:
        try:
            with Image.open(path) as im:
                im.verify()
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise SourceError(field, _unreadable(path, e)) from None


def load_rgb(path):
    """ImageFolder's loader, with a file that fails to decode named (a truncated image)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        from ..errors import RunError

        raise RunError(_unreadable(path, e)) from None


def _as_float(steps) -> list:
    """The steps' calls, then to float in [0, 1] (v2.ToDtype) where none of them is
    to_tensor: the images a model reads are float."""
    from ..components.call import Call

    calls = [c for t in steps for c in t.calls()]
    if not any(t.type_name == "to_tensor" for t in steps):
        calls.append(Call("v2.ToDtype", (Call("torch.float32"),), {"scale": True}))
    return calls


class ImageSteps:
    """The image steps of a source or of a CSV image input: ``transforms`` (every split)
    and ``augment`` (the train split only, first), as torchvision v2 calls and as the
    shape they give."""

    def pipeline(self, train: bool) -> list:
        """The torchvision v2 calls for a split: ToImage, augmentation (train only), the
        transforms, and to_tensor when the spec leaves it out."""
        from ..components.call import Call

        augment = [c for t in (self.augment if train else []) for c in t.calls()]
        return [Call("v2.ToImage"), *augment, *_as_float(self.transforms)]

    def shape_after(self, raw: tuple) -> tuple:
        """The model's input shape for images of shape ``raw``: what ``transforms`` give
        (val and test), which the train pipeline (``augment``, then ``transforms``) must give
        too. An augmentation may change the shape (a crop of images of several sizes) where
        the transforms after it bring train and eval images to one shape (a ``resize``)."""
        train = self._through(raw, ("augment", "transforms"))
        held_out = self._through(raw, ("transforms",)) if self.augment else train
        if train != held_out:
            shape = raw
            for i, t in enumerate(self.augment):  # the first augmentation that changed it
                before, shape = shape, t.infer(shape)
                if shape != before:
                    raise ShapeError(f"augmentation changes the image shape {list(before)} to {list(shape)}, "
                                     f"and the transforms after it make train images {list(train)} but val "
                                     f"and test ones {list(held_out)}; resize or crop to one size in "
                                     "`transforms`, or keep the shape", i, "augment")
        return held_out

    def _through(self, raw: tuple, groups) -> tuple:
        shape = raw
        for group in groups:
            seen_float = False
            for i, t in enumerate(getattr(self, group)):
                try:
                    if t.needs_float and not seen_float and group == "transforms":
                        raise ShapeError(f"{t.type_name} works on float images: put to_tensor before it")
                    shape = t.infer(shape)
                except ShapeError as e:
                    raise ShapeError(str(e), i, group) from None
                seen_float |= t.type_name == "to_tensor"
        return shape


class _ImageSource(ImageSteps, DataSource):
    transforms: list["ImageTransformUnion"] = []  # noqa: F821 - resolved by schema.spec_class
    augment: list["ImageTransformUnion"] = []  # noqa: F821 - train split only
    file_backed: ClassVar[bool] = True

    def cache_plan(self, train: bool):
        """How a split's images are cached and batched, as Calls and batched steps:
        ``(pre, augment, post)``: ``pre`` the leading deterministic uint8 steps (run once per
        image, before the cache), ``augment`` the random steps that follow, as batched
        tensor ops, ``post`` the rest (run on each batch: to_tensor, normalize, ...). None
        where the split needs the per-sample v2 pipeline: a random step without a batched
        form, a random step after a deterministic one, or images of several sizes after
        ``pre``."""
        from ..components.call import Call

        steps = list(self.augment if train else []) + list(self.transforms)
        n_pre = next((i for i, t in enumerate(steps) if t.type_name not in PRE_CACHE), len(steps))
        n_rand = next((i for i, t in enumerate(steps[n_pre:]) if not t.random), len(steps) - n_pre)
        pre, rand, post = steps[:n_pre], steps[n_pre:n_pre + n_rand], steps[n_pre + n_rand:]
        if any(t.random for t in post) or any(t.batched() is None for t in rand) or not self._one_size(pre):
            return None
        return [Call("v2.ToImage"), *(c for t in pre for c in t.calls())], [t.batched() for t in rand], _as_float(post)

    def uses_cache(self) -> bool:
        """Whether the images are read through the uint8 cache and batched steps (both the
        train and the eval pipeline have a cache plan), not decoded per sample by a DataLoader."""
        return self.cache_plan(True) is not None and self.cache_plan(False) is not None

    def _one_size(self, pre) -> bool:
        shapes = set()
        for w, h in self.raw_sizes():
            shape = (3, h, w)
            for t in pre:
                shape = t.infer(shape)
            shapes.add(shape)
        return len(shapes) == 1

    def raw_sizes(self) -> set:
        """The distinct (width, height) of the source's images."""
        raise NotImplementedError

    def verify(self) -> None:
        """Before training: the files are checked, a broken one named (build, before epoch 1)."""

    def datasets(self, train_tf, eval_tf, seed: int) -> tuple[dict, dict]:
        """The three splits as data sets decoded and transformed per sample (``train_tf``,
        ``eval_tf``: the v2 pipelines), and their labels as arrays."""
        raise NotImplementedError

    def cached(self, images, steps, seed: int) -> tuple[dict, dict]:
        """The three splits read through the uint8 cache (runtime/images.py), and their
        labels: ``images(x, rows, y, augment, post)`` makes a split of the cache; ``steps``:
        the train and eval plans' callables."""
        raise NotImplementedError

    @property
    def script_template(self) -> str:
        """The script's data section: through the cache, or per sample by DataLoaders."""
        return "data/image_cache.py.j2" if self.uses_cache() else "data/images.py.j2"

    def script_lines(self, stratify: bool) -> list[str]:
        """The script's lines that read the data into x_train, x_val, x_test and their
        labels (after ``train_tf``/``eval_tf``, or the cache's steps, are defined)."""
        raise NotImplementedError

    def split_code(self, stratify: bool) -> list[str]:
        """The script's seeded split of the labels ``y``, as build's ``split_indices``."""
        split = self.held_out()
        return [f"rows = split_rows(y, val={literal(split.val)}, test={literal(split.test)}, seed=SEED, "
                f"stratify={literal(stratify)})", 'idx_train, idx_val, idx_test = rows["train"], rows["val"], rows["test"]']

    def imports(self) -> list[str]:
        return ["from torchvision.transforms import v2", "from torch.utils.data import DataLoader, Subset"]


class ImageFolderData(_ImageSource):
    """Images in class sub-folders (``root/<class>/<image>``), split with ``split``; or
    separate ``train``, ``val`` and ``test`` roots with the same classes. ``transforms``
    apply to every split, ``augment`` to the train split only."""

    source: Literal["image_folder"]
    labels_at: ClassVar[str] = "root"
    root: str | None = None
    train: str | None = None
    val: str | None = None
    test: str | None = None
    _sizes: set | None = PrivateAttr(default=None)  # (width, height) of the images, as info() found them

    def model_post_init(self, _):
        if (self.root is None) == (self.train is None):
            raise ValueError("give `root` (one folder, split by `split`), or `train` (and `val`, `test`) folders")
        if self.train is not None and self.test is None:
            raise ValueError("with separate folders, give at least `train` and `test`")

    def validates(self) -> bool:
        return self.split.val > 0 if self.root is not None else self.val is not None

    def validation_missing(self) -> tuple[tuple, str]:
        if self.root is None:
            return ("data", "test"), "a validation folder (data.val, beside train and test)"
        return super().validation_missing()

    def scan_all(self) -> tuple[list[str], dict]:
        found = {}
        for split, root in self.folders().items():  # split: the field naming the folder
            try:
                found[split] = scan(root)
            except SourceError as e:
                raise SourceError(split, str(e)) from None
        classes = next(iter(found.values()))[0]
        for split, (cls, _) in found.items():
            if cls != classes:
                missing = sorted(set(classes) ^ set(cls))
                raise SourceError(split, f"the {split} folder's classes differ from the train folder's: "
                                  f"{', '.join(missing)}")
        return classes, {k: v[1] for k, v in found.items()}

    def class_names(self) -> list[str]:
        return self.scan_all()[0]

    def info(self, seed: int = 0):
        classes, samples = self.scan_all()
        shape, first, failed = None, None, None
        self._sizes = set()
        for field, pairs in samples.items():
            for path, size in image_sizes([p for p, _ in pairs], field).items():
                self._sizes.add(size)
                try:
                    got = self.shape_after((3, size[1], size[0]))
                except ShapeError as e:
                    failed = failed or (e, path, size)
                    continue
                if shape is not None and got != shape:
                    raise SourceError(field, f"{path} is {size[0]}x{size[1]} pixels but {first[0]} is "
                                      f"{first[1][0]}x{first[1][1]}, and the transforms do not bring them to "
                                      "one size; add `resize: [H, W]` to data.transforms")
                if shape is None:
                    shape, first = got, (path, size)
        if failed:  # a step cannot take these images: located at the step, naming an image where sizes differ
            e, path, size = failed
            note = f" ({path} is {size[0]}x{size[1]} pixels)" if len(self._sizes) > 1 else ""
            raise ShapeError(f"{e}{note}", e.index, e.group)
        return DataInfo(shape, "float32", "classification", len(classes), None)

    def raw_sizes(self) -> set:
        if self._sizes is None:
            self.info()
        return self._sizes

    def splits_rows(self) -> bool:
        return self.root is not None

    def verify(self) -> None:
        for split, pairs in self.scan_all()[1].items():
            verify_images([p for p, _ in pairs], split)

    def folders(self) -> dict:
        """The folders by the field that names them: one root, or a folder per split
        (runtime/images.py's folder_splits reads this too)."""
        return {k: v for k in ("root", "train", "val", "test") if (v := getattr(self, k)) is not None}

    def _splits(self, read, seed: int) -> dict:
        """folder_splits of this source's folders, split as build splits (split_indices)."""
        from functools import partial

        from ..runtime.images import folder_splits
        from .base import split_indices

        return folder_splits(read, self.folders(), partial(split_indices, split=self.split, seed=seed,
                                                            stratify=self.split.stratify))

    def datasets(self, train_tf, eval_tf, seed: int) -> tuple[dict, dict]:
        from torch.utils.data import Subset

        from ..runtime.images import dataset_reader

        splits = self._splits(dataset_reader(train_tf, eval_tf, loader=load_rgb), seed)
        return {k: Subset(x, r) for k, (x, r, _) in splits.items()}, {k: y for k, (_, _, y) in splits.items()}

    def cached(self, images, steps, seed: int) -> tuple[dict, dict]:
        from ..runtime.images import cache_reader

        (pre_t, aug, post_t), (pre_e, _, post_e) = steps
        splits = self._splits(cache_reader(pre_t, pre_e), seed)
        steps = {"train": (aug, post_t), "val": ((), post_e), "test": ((), post_e)}  # augmented: train only
        return ({k: images(x, r, y, *steps[k]) for k, (x, r, y) in splits.items()},
                {k: y for k, (_, _, y) in splits.items()})

    def script_lines(self, stratify: bool) -> list[str]:
        """Read per sample (the cache's section is templates/data/image_cache.py.j2)."""
        return ["# one root: its rows split as build splits them (seeded); else a folder per split",
                f"split = {self.split_call(stratify)}",
                f"splits = folder_splits(dataset_reader(train_tf, eval_tf), {literal(self.folders())}, split)",
                "x_train, x_val, x_test = (Subset(x, rows) for x, rows, _ in splits.values())",
                "y_train, y_val, y_test = (y for _, _, y in splits.values())"]

    def split_call(self, stratify: bool) -> str:
        """folder_splits' ``split``: split_rows, seeded as build splits."""
        from ..components.call import Call, Name

        held = self.held_out()
        return Call("functools.partial", (Name("split_rows"),), {"val": held.val, "test": held.test,
                    "seed": Name("SEED"), "stratify": stratify}).code(width=1000)

    def code(self):
        """The imports either path may read (the script keeps those it reads): the cache's, or a DataLoader's."""
        return ["import hashlib", "import os", "from pathlib import Path", "from PIL import Image", *self.imports(),
                "from torchvision.datasets import ImageFolder"], []


class TorchvisionData(_ImageSource):
    """A torchvision data set (mnist, fashion_mnist, cifar10, cifar100) under ``root``;
    ``download: true`` fetches it (needs the network). Its own test set is the test
    split; ``split.val`` of its train set is held out for validation."""

    source: Literal["torchvision"]
    name: Literal["mnist", "fashion_mnist", "cifar10", "cifar100"]
    root: str = "data"
    download: bool = False

    def class_names(self) -> list[str]:
        return [str(c) for c in range(TORCHVISION[self.name][2])]

    def cache_plan(self, train: bool):
        return None  # read per sample by a DataLoader (docs/spec.md)

    def held_out(self) -> Split:
        """Its own test set is the test split: only validation is held out of its train set."""
        return Split.model_construct(val=self.split.val, test=0.0, stratify=self.split.stratify)

    def datasets(self, train_tf, eval_tf, seed: int) -> tuple[dict, dict]:
        import numpy as np
        from torch.utils.data import Subset

        from .base import split_indices

        train_full, train_eval = self.open(True, train_tf), self.open(True, eval_tf)
        test = self.open(False, eval_tf)
        y = np.asarray(train_full.targets, dtype=np.int64)
        idx = split_indices(y, self.held_out(), seed, self.split.stratify)
        xs = {"train": Subset(train_full, idx["train"]), "val": Subset(train_eval, idx["val"]), "test": test}
        return xs, {"train": y[idx["train"]], "val": y[idx["val"]], "test": np.asarray(test.targets, dtype=np.int64)}

    def script_lines(self, stratify: bool) -> list[str]:
        cls, r, download = TORCHVISION[self.name][0], literal(self.root), literal(self.download)
        return [f"full_train = tv_datasets.{cls}({r}, train=True, download={download}, transform=train_tf)",
                f"full_eval = tv_datasets.{cls}({r}, train=True, transform=eval_tf)",
                f"x_test = tv_datasets.{cls}({r}, train=False, download={download}, transform=eval_tf)",
                "y = np.asarray(full_train.targets, dtype=np.int64)", *self.split_code(stratify),
                "x_train, x_val = Subset(full_train, idx_train), Subset(full_eval, idx_val)",
                "y_train, y_val, y_test = y[idx_train], y[idx_val], np.asarray(x_test.targets, dtype=np.int64)"]

    def info(self, seed: int = 0):
        _, shape, classes = TORCHVISION[self.name]
        return DataInfo(self.shape_after(shape), "float32", "classification", classes, None)

    def code(self):
        return self.imports() + ["from torchvision import datasets as tv_datasets"], []

    def open(self, train: bool, transform=None):
        """The torchvision data set, or a clear error saying where it looked."""
        import torchvision

        cls = getattr(torchvision.datasets, TORCHVISION[self.name][0])
        try:
            return cls(self.root, train=train, download=self.download, transform=transform)
        except RuntimeError as e:
            where, why = Path(self.root).resolve(), str(e).splitlines()[0] if str(e) else type(e).__name__
            if self.download:  # torchvision reports a failed download (no network) as a RuntimeError too
                raise SourceError("download", f"cannot download {self.name} ({why}); without the network, "
                                  f"copy the data set under {where}") from None
            raise SourceError("root", f"no {self.name} data under {where} ({why}); set "
                              "`download: true` to fetch it, or point `root` at a copy") from None
        except OSError as e:  # URLError: no network
            raise SourceError("download", f"cannot download {self.name} ({e}); without the network, "
                              f"copy the data set under {Path(self.root).resolve()}") from None


