"""File-backed image sources: a folder of class sub-folders, or a torchvision data set.
Images are decoded per sample by a DataLoader (with workers where asked)."""

from pathlib import Path
from typing import ClassVar, Literal

from ..errors import ShapeError
from .base import DataSource, SourceError
from .info import DataInfo

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
        raise SourceError("root", f"no such folder: {root}")
    classes = sorted(d.name for d in base.iterdir() if d.is_dir())
    if not classes:
        raise SourceError("root", f"{root} has no class sub-folders (root/<class>/<image>)")
    samples = []
    for i, c in enumerate(classes):
        files = sorted(p for p in (base / c).rglob("*") if p.suffix.lower() in IMG_EXTENSIONS)
        samples += [(str(p), i) for p in files]
    if not samples:
        raise SourceError("root", f"no images under {root} (looked for {', '.join(IMG_EXTENSIONS)})")
    return classes, samples


class _ImageSource(DataSource):
    transforms: list["ImageTransformUnion"] = []  # noqa: F821 - resolved by schema.spec_class
    augment: list["ImageTransformUnion"] = []  # noqa: F821 - train split only
    file_backed: ClassVar[bool] = True

    def pipeline(self, train: bool) -> list:
        """The torchvision v2 calls for a split: ToImage, augmentation (train only), the
        transforms, and to_tensor when the spec leaves it out."""
        from ..components.base import Call

        steps = list(self.augment if train else []) + list(self.transforms)
        calls = [Call("v2.ToImage")]
        for t in steps:
            calls += t.calls()
        if not any(t.type_name == "to_tensor" for t in self.transforms):
            calls.append(Call("v2.ToDtype", (Call("torch.float32"),), {"scale": True}))
        return calls

    def shape_after(self, raw: tuple) -> tuple:
        shape = raw
        for group in ("augment", "transforms"):
            seen_float = False
            for i, t in enumerate(getattr(self, group)):
                try:
                    if t.needs_float and not seen_float and group == "transforms":
                        raise ShapeError(f"{t.type_name} works on float images: put to_tensor before it")
                    before = shape
                    shape = t.infer(shape)
                    if group == "augment" and shape != before:
                        raise ShapeError(f"augmentation must keep the image shape {list(before)} (it "
                                         f"gives {list(shape)}); resize or crop in `transforms`")
                except ShapeError as e:
                    e.index, e.group = i, group
                    raise
                seen_float |= t.type_name == "to_tensor"
        return shape

    def imports(self) -> list[str]:
        return ["from torchvision.transforms import v2", "from torch.utils.data import DataLoader, Subset"]


class ImageFolderData(_ImageSource):
    """Images in class sub-folders (``root/<class>/<image>``), split with ``split``; or
    separate ``train``, ``val`` and ``test`` roots with the same classes. ``transforms``
    apply to every split, ``augment`` to the train split only."""

    source: Literal["image_folder"]
    root: str | None = None
    train: str | None = None
    val: str | None = None
    test: str | None = None

    def model_post_init(self, _):
        if (self.root is None) == (self.train is None):
            raise ValueError("give `root` (one folder, split by `split`), or `train` (and `val`, `test`) folders")
        if self.train is not None and self.test is None:
            raise ValueError("with separate folders, give at least `train` and `test`")

    def roots(self) -> dict:
        if self.root is not None:
            return {"all": self.root}
        return {k: getattr(self, k) for k in ("train", "val", "test") if getattr(self, k) is not None}

    def scan_all(self) -> tuple[list[str], dict]:
        found = {}
        for split, root in self.roots().items():
            try:
                found[split] = scan(root)
            except SourceError as e:
                raise SourceError("root" if split == "all" else split, str(e)) from None
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
        from PIL import Image

        classes, samples = self.scan_all()
        first = next(iter(samples.values()))[0][0]
        try:
            with Image.open(first) as im:
                w, h = im.size
        except OSError as e:
            raise SourceError("root", f"cannot read the image {first}: {e}") from None
        return DataInfo(self.shape_after((3, h, w)), "float32", "classification", len(classes), None)

    def code(self):
        return self.imports() + ["from torchvision.datasets import ImageFolder"], []


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
            where = Path(self.root).resolve()
            raise SourceError("root", f"no {self.name} data under {where} ({str(e).splitlines()[0]}); set "
                              "`download: true` to fetch it, or point `root` at a copy") from None
        except OSError as e:  # URLError: no network
            raise SourceError("download", f"cannot download {self.name} ({e}); without the network, "
                              f"copy the data set under {Path(self.root).resolve()}") from None


