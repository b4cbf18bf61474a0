"""What `specdl serve` serves: a finished run (its saved preprocessing read at start, its
model loaded on first use, once) and the backend that runs the forward. A request is read
into the run's raw inputs (specdl/serving/requests.py: predict's reading), the backend's
``prepare`` and ``forward`` turn them into predictions, and predict's ``prediction_rows``
into the answer: only the forward is the backend's (torch here, onnxruntime in
onnx_backend.py). The batcher (batcher.py) hands ``Served.answer`` several requests at
once: read one by one, run in one forward."""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import RunError, one_line
from ..runs.loaded import SavedRun
from ..runs.predict import prediction_rows
from .batcher import Batcher
from .onnx_backend import OnnxBackend, graph_sizes
from .requests import request_inputs

log = logging.getLogger("specdl.serve")


class ModelFailure(Exception):
    """The model failed on inputs that were read and prepared: a 500 with this one line."""


class TorchBackend:
    """The forward of a run's torch model (specdl/runs/loaded.py's LoadedRun): the fitted
    preprocessing to model inputs, then the predictions as `specdl predict` makes them.
    (``saved``: the run's ``SavedRun``, read again with the weights.)"""

    name = "torch"

    def __init__(self, saved, run_dir, checkpoint=None, allow_import: bool = False):
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

    @staticmethod
    def concat(xs):
        """Several requests' model inputs (tensors, or named ``Inputs``) as one batch."""
        import torch

        if hasattr(xs[0], "tensors"):
            return type(xs[0])({k: torch.cat([x.tensors[k] for x in xs]) for k in xs[0].tensors})
        return torch.cat(xs)

    @staticmethod
    def rows(x, which: slice):
        return x[which]


BACKENDS = {"torch": TorchBackend, "onnx": OnnxBackend}


@dataclass
class Prepared:
    """A request read and prepared: the backend's model inputs ``x`` of ``rows`` rows,
    and the images' names (image runs) for the answer."""

    x: object
    rows: int
    files: list | None = None


class Served:
    """A run as served: ``saved`` (spec, analysis, preprocessing; no torch) at once, the
    backend on first use (``backend()``); ``answer`` reads requests and runs them in one
    forward (``batcher`` combines them), ``predict`` answers one request alone."""

    def __init__(self, run_dir, checkpoint=None, backend: str = "torch", allow_import: bool = False,
                 files=None, max_batch: int = 32, max_wait: float = 0.005):
        if backend not in BACKENDS:
            from . import no_backend

            raise no_backend(backend)
        from ..components.trust import allowing_imports

        if backend == "onnx":  # a backbone's sizes from the raw graph: the spec checks without torch
            graph_sizes(run_dir)
        with allowing_imports(allow_import):  # a spec's `module:` layers
            self.saved = SavedRun(run_dir, checkpoint)
        self.args = (run_dir, checkpoint, allow_import)
        self.backend_name = backend
        self.files = Path(files) if files is not None else None
        if self.files is not None and not self.files.is_dir():
            raise RunError(f"--files {files}: no such folder")
        if not (isinstance(max_batch, int) and max_batch >= 1) or not 0 <= max_wait < float("inf"):
            raise RunError(f"--max-batch {max_batch} --max-wait-ms {max_wait * 1000:g}: give a whole number of rows "
                           "from 1 and a number of milliseconds from 0")
        self._backend, self._lock = None, threading.Lock()
        self.batcher = Batcher(self.answer, max_batch, max_wait)

    @property
    def ready(self) -> bool:
        return self._backend is not None

    def backend(self):
        """The backend, loaded once (the first caller loads it; the others wait)."""
        with self._lock:
            if self._backend is None:
                try:
                    self._backend = BACKENDS[self.backend_name](self.saved, *self.args)
                except RunError as e:
                    raise ModelFailure(f"the model did not load: {e}") from None
                log.info("loaded %s", one_line(str(getattr(self._backend, "path", self.saved.checkpoint))))
        return self._backend

    def prepare(self, body) -> Prepared:
        """A validated request read into model inputs (bad inputs: RunError, a 422)."""
        backend = self.backend()
        raw = request_inputs(self.saved, body, self.files, getattr(backend, "images", None))
        return Prepared(backend.prepare(raw), len(raw.rows), raw.files)

    def answer(self, bodies: list) -> list:
        """Each validated request's answer rows, the requests read one by one and run in
        one forward; a request that cannot be read gets its RunError (a 422) instead,
        one whose answer is not finite a ModelFailure. The model failing: ModelFailure."""
        out, read = [None] * len(bodies), []
        for i, body in enumerate(bodies):
            try:
                read.append((i, self.prepare(body)))
            except RunError as e:
                out[i] = e
        for (i, _), rows in zip(read, self._forward([p for _, p in read]) if read else []):
            out[i] = rows
        return out

    def _forward(self, batch: list[Prepared]) -> list:
        """Prepared requests' answer rows from one forward of them all (a request over
        --max-batch rows alone, in chunks of --max-batch)."""
        backend, size = self.backend(), self.batcher.max_batch
        x = batch[0].x if len(batch) == 1 else backend.concat([p.x for p in batch])
        files = sum((p.files for p in batch), []) if all(p.files for p in batch) else None
        total, rows = sum(p.rows for p in batch), []
        try:
            for start in range(0, total, size):
                part = x if total <= size else backend.rows(x, slice(start, start + size))
                rows += prediction_rows(backend.forward(part), files[start:start + size] if files else None)
        except Exception as e:  # noqa: BLE001 - any failure of the model is one line
            raise ModelFailure(f"the model failed on the request: {one_line(str(e) or type(e).__name__)[:300]}") \
                from None
        out, start = [], 0
        for p in batch:
            mine, start = rows[start:start + p.rows], start + p.rows
            finite = all(math.isfinite(v) for row in mine for v in row.values() if isinstance(v, float))
            out.append(mine if finite else ModelFailure("the model gave a non-finite output (NaN or infinity) for "
                                                        "the request"))
        return out

    def predict(self, body) -> list[dict]:
        """A validated request's answer rows, run alone (`specdl predict --format
        json`'s rows). Bad inputs: RunError; the model failing: ModelFailure."""
        rows = self.answer([body])[0]
        if isinstance(rows, Exception):
            raise rows
        return rows
