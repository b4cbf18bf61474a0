"""`specdl export`: a run directory's model (its best.pt) or a spec's (with a checkpoint,
or its seeded initial weights) to ONNX, verified with onnxruntime on real inputs; with
the run's fitted preprocessing in the graph (runs/deploy.py) on request. Owns where the
file goes, what it must not overwrite, which real inputs verify it, and recording a
file written inside a run in its manifest."""

from __future__ import annotations

import os
from pathlib import Path

RAW_ONNX = "model.raw.onnx"  # in a run: `export --with-preprocessing`'s graph, `serve --backend onnx`'s model


def export_run(run_dir, output=None, checkpoint=None, with_preprocessing: bool = False) -> dict:
    """Export a run directory's model (``checkpoint``, default its best.pt) to ``output``
    (default RUN_DIR/model.onnx), verified on the run's saved example inputs (else real
    inputs from its data); ``with_preprocessing``: the graph takes raw rows or images
    (default RUN_DIR/model.raw.onnx, what `specdl serve --backend onnx` serves)."""
    from ..files import check_output
    from .loaded import LoadedRun

    run_dir = Path(run_dir)
    run = LoadedRun(run_dir, checkpoint)  # a missing checkpoint refused before torch is imported
    from ..build.onnx import EXAMPLES
    out = Path(output) if output else run_dir / (RAW_ONNX if with_preprocessing else "model.onnx")
    kept = [f for f in run.kept if f.suffix != ".onnx"]  # an export replaces its own
    check_output(out, "the ONNX file", inputs=[*run.reads, run_dir / EXAMPLES], regular=True,
                 kept=kept)  # never over what it reads
    if (run_dir / EXAMPLES).exists():  # the run's own real inputs: no data needed
        from ..build import checkpoints as ckpt

        inputs = ckpt.load(run_dir / EXAMPLES)
    else:
        inputs = _real_inputs(run.analysis)
    before = _file_state(out)
    try:
        if with_preprocessing and run.analysis.graph.named:  # one graph input per data input
            from .deploy_named import export_named

            return export_named(run, inputs, out)
        if with_preprocessing:
            from .deploy import export_with_preprocessing

            return export_with_preprocessing(run, inputs, out)
        return _export_model(run.model, run.analysis, inputs, out)
    finally:
        _written_in_run(run_dir, out, before)


def export_spec(spec, output=None, checkpoint=None, overrides=None) -> dict:
    """Export a spec's model (``checkpoint``'s weights, or its seeded initial ones;
    ``overrides`` as in load) to ``output`` (default <name>.onnx), verified on real
    inputs from its data."""
    from ..build.model import build_model as _build
    from ..files import check_output, spec_inputs
    from ..front import analysis_of as _analysis

    analysis = _analysis(spec, overrides)
    if checkpoint is None:
        model = _build(analysis)
    else:
        from ..build import checkpoints as ckpt

        model = ckpt.load_best(Path(checkpoint), lambda: _build(analysis))
    out = Path(output) if output else Path(f"{analysis.spec.name}.onnx")
    check_output(out, "the ONNX file", inputs=[*spec_inputs(analysis.spec), checkpoint], regular=True,
                 kept=[])  # never over what it reads
    return _export_model(model, analysis, _real_inputs(analysis), out)


def _real_inputs(analysis):
    from ..build.data import prepare
    from ..build.onnx import real_inputs

    return real_inputs(analysis, prepare(analysis.spec, analysis))


def _export_model(model, analysis, inputs, out) -> dict:
    """The model alone (inputs after the preprocessing), and what it expects (and, with
    several outputs, gives: one output per head), in words."""
    from ..build.onnx import export_onnx
    from .deploy import describe_model_input

    expects = describe_model_input(analysis)
    if analysis.heads:
        expects += "; gives " + ", ".join(f"`{t}` [{', '.join(map(str, ('N', *shape)))}]"
                                          for t, _, shape, _ in analysis.head_tuples()) + " (one output per head)"
    return export_onnx(model, inputs, out, list(analysis.heads or [])) | {"expects": expects}


def _written_in_run(run_dir: Path, out, before) -> None:
    """An ONNX file export wrote (not one it left as it was) inside the run: specdl's."""
    if _file_state(out) not in (None, before):
        from .. import manifest

        manifest.record(run_dir, *filter(None, [manifest.inside(run_dir, out)]))


def _file_state(path):
    """What tells a file rewritten from the one that was there (None: no file)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size, st.st_ctime_ns
