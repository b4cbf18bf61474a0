"""The public Python API. Everything here takes a path, a dict or a Spec."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from .errors import RunError, SpecError
from .front import analysis_of as _analysis
from .front import check, load


def _user_code(fn):
    """Adds ``allow_import=False``: whether a ``module:`` layer may import the user code
    it names (the CLI's --allow-import). Nothing is imported from a spec otherwise."""

    @functools.wraps(fn)
    def wrapper(*args, allow_import: bool = False, **kwargs):
        from .components.trust import ALLOW_IMPORT, allowing_imports

        with allowing_imports(allow_import or ALLOW_IMPORT.get()):
            try:
                return fn(*args, **kwargs)
            except (RuntimeError, ImportError, AttributeError) as e:
                from .build.versions import mismatch

                if mismatch(e) is None:
                    raise
                raise RunError(mismatch(e)) from None
    return wrapper


@_user_code
def infer_shapes(spec) -> dict:
    """``{layer name: output shape}`` with ``"N"`` for the batch, ``input`` (or each named input) first."""
    a = _analysis(spec)
    return {**{k: t.shape for k, t in a.graph.sources.items()}, **{n.name: n.out.shape for n in a.graph.nodes}}


@_user_code
def build_model(spec, seed: bool = True):
    """The torch ``nn.Module`` for a spec (seeded with the spec's seed)."""
    from .build.model import build_model as _build

    return _build(_analysis(spec), seed=seed)


@_user_code
def train(spec, out=None, overrides=None, resume=None, progress: bool | None = False, force: bool = False):
    """Train, evaluate on the test split and write the run directory.

    Returns:
        RunResult with ``metrics`` (test metrics) and ``run_dir``; it unpacks as a pair.
    """
    from .build.run import fit

    if resume is not None:
        spec = Path(resume) / "spec.yaml"
    return fit(_analysis(spec, overrides), out=out, resume=resume, progress=progress, force=force)


@_user_code
def codegen(spec, distributed: bool = False) -> str:
    """The standalone PyTorch script for a spec, as text (``distributed``: one that also
    runs under torchrun, data-parallel)."""
    from .script.render import render

    return render(_analysis(spec), distributed=distributed)


@_user_code
def tune(spec, trials=None, jobs: int = 1, storage=None, study=None, out=None, overrides=None,
         progress: bool | None = False):
    """Search the spec's `search` space with Optuna (docs/tune.md).

    Returns:
        TuneResult with ``study`` (the Optuna study), ``best_spec`` (the Spec of best.yaml),
        ``tune_dir`` and ``best_path``; it unpacks as ``study, best_spec``.
    """
    from .tuning.run import tune as _tune

    return _tune(spec, trials=trials, jobs=jobs, storage=storage, study=study, out=out, overrides=overrides,
                 progress=progress)


__all__ = ["load", "check", "infer_shapes", "build_model", "train", "codegen", "load_run", "predict", "export",
           "tune", "evaluate", "serve_app", "SpecError"]


@_user_code
def load_run(run_dir=None, checkpoint=None, *, spec=None, preprocess=None):
    """A finished run: ``.model`` with its best weights, ``.inputs(x)`` with the run's
    fitted preprocessing, ``.predict(x)`` (``x`` as ``predict`` takes it). Instead of a
    run directory, a generated script's outputs: ``spec`` (the spec it was generated
    from), ``checkpoint`` (<name>.best.pt) and ``preprocess`` (<name>.preprocess.json)."""
    from .runs.loaded import LoadedRun

    return LoadedRun(run_dir, checkpoint, spec, preprocess)


@_user_code
def predict(run, x, checkpoint=None, *, spec=None, preprocess=None) -> dict:
    """Predictions of a finished run (a run directory, a ``load_run`` result, or None with
    ``spec``, ``checkpoint`` and ``preprocess``) on ``x``: what `specdl predict --input`
    reads (a path to a .csv, .npy or .npz, an image or a folder of images), or in memory
    rows as dicts keyed by column name, a NumPy array [N, ...] of raw features, or PIL
    images; a run with named inputs also a mapping of input names to values (texts,
    categories, numbers, arrays, an image input's paths or PIL images; an .npz keyed by
    input name) (docs/cli.md).

    Returns:
        ``{"prediction": [...]}``, with ``"probabilities"`` (classification, multilabel),
        ``"classes"`` and ``"index"`` (classification), ``"targets"`` (named targets).
        Several outputs (``data.targets``): ``{"heads": {target: that dict}}``.
    """
    from .runs.loaded import LoadedRun

    if not isinstance(run, LoadedRun):
        run = LoadedRun(run, checkpoint, spec, preprocess)
    elif checkpoint is not None or spec is not None or preprocess is not None:
        raise RunError("a loaded run has its weights and preprocessing; give checkpoint, spec and preprocess "
                       "to load_run instead")
    return run.predict(x)


@_user_code
def evaluate(run_dir, input, checkpoint=None, target: str | None = None, details: bool = False, *,
             spec=None, preprocess=None) -> dict:
    """A finished run's metrics on a new labelled file, with the run's fitted preprocessing:
    a CSV holding the target column (``target``: its name, for runs not trained on a CSV;
    default ``target``), an .npz with the features and targets (the spec's npz keys, else
    ``x`` and ``y``), or an image folder of class sub-folders. ``run_dir`` None: a
    generated script's outputs (``spec``, ``checkpoint``, ``preprocess``) as in load_run.
    Several outputs (``data.targets``): each target's column or array; ``target`` scores
    that one alone.

    Returns:
        The metrics and the loss, keyed as report.json's ``test``; with ``details``, the
        whole evaluation (``input``, ``samples``, ``test``, and for classification
        ``per_class``, ``confusion_matrix``, ``classes``; several outputs: ``targets``,
        each target's metrics and loss, as report.json's).
    """
    from .runs.evaluate import evaluation
    from .runs.loaded import LoadedRun

    if not isinstance(input, (str, os.PathLike)):  # rows in memory carry no target by their form
        raise RunError(f"evaluate reads a labelled file (a path to a .csv, an .npz or an image folder), not "
                       f"{type(input).__name__}: write the rows with their target to a CSV, or predict them "
                       "(specdl.predict takes rows in memory)")
    report = evaluation(LoadedRun(run_dir, checkpoint, spec, preprocess), input, target)
    return report if details else report["test"]


@_user_code
def export(spec_or_run, output=None, checkpoint=None, overrides=None, with_preprocessing: bool = False) -> dict:
    """Export a run directory (its best.pt) or a spec (with ``checkpoint``, or its seeded
    initial weights; ``overrides`` as in load) to ONNX, verified with onnxruntime on real inputs.
    ``with_preprocessing`` (a run directory): the graph takes raw rows and does the run's
    fitted preprocessing (docs/cli.md), verified against ``predict`` on raw rows."""
    from .runs.export import export_run, export_spec

    path = Path(spec_or_run)
    if not path.exists():
        from .errors import no_such

        raise RunError(no_such(path, "the run directory or spec"))
    if with_preprocessing and not path.is_dir():
        raise RunError(f"--with-preprocessing needs a run directory (its fitted preprocessing); {path} is not one")
    if path.is_dir() and overrides:
        raise RunError(f"{path} is a run directory: its model is fixed, so -o overrides do not apply")
    if path.is_dir():
        return export_run(path, output, checkpoint, with_preprocessing)
    return export_spec(path, output, checkpoint, overrides)


@_user_code
def serve_app(run_dir, checkpoint=None, *, files=None, timeout: float = 30.0, max_body="10MB",
              protect_docs: bool = False, backend: str = "torch", max_batch: int = 32, max_wait_ms: float = 5.0):
    """The ASGI app (FastAPI) that `specdl serve` runs for the finished run ``run_dir``
    (docs/serving.md): run it with any ASGI server, or mount it in your own app
    (``app.mount("/model", specdl.serve_app(run))``; mounted, it loads the model and
    starts the batcher on first use). Needs the `serve` extra (FastAPI, uvicorn)."""
    from . import __version__
    from .components.trust import ALLOW_IMPORT

    try:
        from .serving.app import serve_app as _app
        from .serving.guards import parse_size
    except ImportError as e:
        from .serving import without_extra

        raise without_extra(e) from None

    size = parse_size(max_body) if isinstance(max_body, str) else int(max_body)
    return _app(run_dir, checkpoint, backend=backend, allow_import=ALLOW_IMPORT.get(), files=files,
                timeout=timeout, max_body=size, protect_docs=protect_docs, max_batch=max_batch,
                max_wait_ms=max_wait_ms, version=__version__)
