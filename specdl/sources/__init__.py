"""Data sources: one class each, saying what it gives (for ``check``), how to load it
(for ``build``) and the script lines that do the same (for ``codegen``)."""

from .base import DataSource, SourceError, Split
from .images import ImageFolderData, TorchvisionData
from .info import DataInfo
from .tabular import CsvData, Loaded, NpzData, SklearnData, SyntheticData

SOURCES = {c.model_fields["source"].annotation.__args__[0]: c
           for c in (SklearnData, SyntheticData, CsvData, NpzData, ImageFolderData, TorchvisionData)}

__all__ = ["SOURCES", "DataSource", "DataInfo", "Loaded", "SourceError", "Split"]
