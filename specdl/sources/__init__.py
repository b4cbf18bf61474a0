"""Data sources: one class each, saying what it gives (for ``check``), how to load it
(for ``build``) and the script lines that do the same (for ``codegen``). A class
registers itself in ``SOURCES`` by its ``source: Literal[...]`` field; importing its
module here is all it takes."""

# tabular first: the order of SOURCES is the order in messages and in the JSON schema
from . import tabular  # noqa: F401, I001 - registers sklearn, synthetic, csv, npz
from . import images  # noqa: F401 - then image_folder, torchvision
from .base import SOURCES, DataSource, Split
from .images import ImageFolderData, TorchvisionData
from .info import DataInfo
from .tabular import CsvData, Loaded, NpzData, SklearnData, SyntheticData

__all__ = ["SOURCES", "CsvData", "DataInfo", "DataSource", "ImageFolderData", "Loaded", "NpzData",
           "SklearnData", "Split", "SyntheticData", "TorchvisionData"]
