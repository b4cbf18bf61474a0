"""What `specdl serve` serves: a finished run (its saved preprocessing read at start, its
model loaded on first use, once) and the backend that runs the forward. A request is read
into the run's raw inputs (specdl/serving/requests.py: predict's reading), the backend's
``prepare`` and ``forward`` turn them into predictions, and predict's ``prediction_rows``
into the answer: only the forward is the backend's. A batcher wraps ``forward``."""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

from ..errors import RunError, one_line
from ..runs.loaded import SavedRun
from ..runs.predict import prediction_rows
from .requests import request_inputs

log = logging.getLogger("specdl.serve")
BACKENDS = ("torch",)  # the onnx backend joins with issue 31 part B


class ModelFailure(Exception):
    """The model failed on inputs that were read and prepared: a 500 with this one line."""


class TorchBackend:
    """The forward of a run's torch model (specdl/runs/loaded.py's LoadedRun): the fitted
    preprocessing to model inputs, then the predictions as `specdl predict` makes them."""

    name = "torch"

    def __init__(self, run_dir, checkpoint=None, allow_import: bool = False):
        from ..components.trust import allowing_imports
        from ..runs.loaded import LoadedRun

        with allowing_imports(allow_import):
            self.run = LoadedRun(run_dir, checkpoint)

    def prepare(self, raw):
        """Raw inputs -> model inputs (a value the run cannot take: a RunError, a 422)."""
        return self.run.model_inputs(raw)

    def forward(self, x, source: str = "the request") -> dict:
        """Model inputs -> predictions (``LoadedRun.predictions``' dict)."""
        return self.run.predictions(x, source)


class Served:
    """A run as served: ``saved`` (spec, analysis, preprocessing; no torch) at once, the
    backend on first use (``backend()``), and ``predict`` from request to answer rows."""

    def __init__(self, run_dir, checkpoint=None, backend: str = "torch", allow_import: bool = False,
                 files=None):
        if backend not in BACKENDS:
            from . import no_backend

            raise no_backend(backend)
        from ..components.trust import allowing_imports

        with allowing_imports(allow_import):  # a spec's `module:` layers
            self.saved = SavedRun(run_dir, checkpoint)
        self.args = (run_dir, checkpoint, allow_import)
        self.backend_name = backend
        self.files = Path(files) if files is not None else None
        if self.files is not None and not self.files.is_dir():
            raise RunError(f"--files {files}: no such folder")
        self._backend, self._lock = None, threading.Lock()

    @property
    def ready(self) -> bool:
        return self._backend is not None

    def backend(self) -> TorchBackend:
        """The backend, loaded once (the first caller loads it; the others wait)."""
        with self._lock:
            if self._backend is None:
                try:
                    self._backend = TorchBackend(*self.args)
                except RunError as e:
                    raise ModelFailure(f"the model did not load: {e}") from None
                log.info("loaded %s", one_line(str(self.saved.checkpoint)))
        return self._backend

    def predict(self, body) -> list[dict]:
        """A validated request's answer rows (`specdl predict --format json`'s rows).
        Bad inputs: RunError; the model failing: ModelFailure."""
        raw = request_inputs(self.saved, body, self.files)
        backend = self.backend()
        x = backend.prepare(raw)
        try:
            rows = prediction_rows(backend.forward(x), raw.files)
        except Exception as e:  # noqa: BLE001 - any failure of the model is one line
            raise ModelFailure(f"the model failed on the request: {one_line(str(e) or type(e).__name__)[:300]}") \
                from None
        if any(isinstance(v, float) and not math.isfinite(v) for row in rows for v in row.values()):
            raise ModelFailure("the model gave a non-finite output (NaN or infinity) for the request")
        return rows
