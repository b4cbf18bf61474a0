"""A finished run directory, ready to use: the spec, the model with its best weights,
and the run's fitted preprocessing (never re-fitted); of a run of several outputs (spec
12.7), each head as a one-target run (``HeadRun``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..build.preprocess import PREPROCESS, check_saved, read_preprocess
from ..errors import RunError, SpecError, one_line
from ..front.plan import dtypes
from .inputs import applied, check_finite, check_raw, saved_states


def unseen_notes(names, cats, onehot) -> None:
    """One note per categorical column holding categories the train split never saw
    (encoded as all zeros, as in training): how many rows, and which values."""
    import sys

    for j, name in enumerate(names):
        rows = np.flatnonzero(onehot[j].sum(axis=1) == 0)
        if len(rows):
            values = list(dict.fromkeys(cats[rows, j].tolist()))
            shown = ", ".join(repr(v)[:40] for v in values[:3])
            shown += f" and {len(values) - 3} more" if len(values) > 3 else ""
            print(one_line(f"specdl: note: `{name}`: {len(rows)} of {len(cats)} rows hold {len(values)} "
                           f"categor{'y' if len(values) == 1 else 'ies'} the run's train split never saw "
                           f"({shown}); they encode as all zeros"), file=sys.stderr)



def _written(run_dir) -> list:
    from ..build.rundir import written

    return written(run_dir)


def run_files(run_dir=None, checkpoint=None, spec=None, preprocess=None) -> tuple[Path, Path, Path]:
    """(spec, preprocessing file, checkpoint) of a run directory, or as given: a spec with
    the checkpoint and preprocess.json a generated script writes (<name>.best.pt,
    <name>.preprocess.json). Anything missing is one line saying what to give."""
    if run_dir is not None and (spec is not None or preprocess is not None):
        raise RunError("give a run directory, or a spec with its --checkpoint and --preprocess; not both")
    if run_dir is None:
        if spec is None or checkpoint is None or preprocess is None:
            raise RunError("give a run directory, or --spec SPEC --checkpoint C --preprocess P together (a "
                           "generated script writes <name>.best.pt and <name>.preprocess.json beside it)")
        for what, path in (("spec", spec), ("preprocessing file", preprocess)):
            if not Path(path).is_file():
                from ..errors import no_such

                raise RunError(f"{path} is a folder, not the {what}" if Path(path).is_dir()
                               else no_such(path, f"the {what}"))
        return Path(spec), Path(preprocess), Path(checkpoint)
    run_dir = Path(run_dir)
    if not (run_dir / "spec.yaml").exists():
        from ..errors import not_a_run

        raise RunError(not_a_run(run_dir))
    if not (run_dir / PREPROCESS).exists():
        raise RunError(f"{run_dir} has no {PREPROCESS} (a run from an older specdl?); build it again")
    return run_dir / "spec.yaml", run_dir / PREPROCESS, Path(checkpoint) if checkpoint else run_dir / "best.pt"


class SavedRun:
    """A finished run's spec, analysis and fitted preprocessing, read and checked against
    each other without torch (its model is ``LoadedRun``'s): what `specdl serve` builds
    its request models from before any weights load. Arguments as ``run_files``."""

    def __init__(self, run_dir=None, checkpoint=None, spec=None, preprocess=None):
        from ..front import analysis_of as _analysis
        from ..front import load

        spec_path, pre_path, self.checkpoint = run_files(run_dir, checkpoint, spec, preprocess)
        self.pre = read_preprocess(pre_path)
        try:
            spec = load(spec_path)
            spec.data.use_saved(self.pre.get("facts"))  # the data itself need not be at hand
            self.analysis = _analysis(spec)
        except SpecError as e:
            said = "no longer checks" if run_dir is not None else "does not check"
            raise RunError(f"{spec_path} {said}: {e.issues[0].message}") from None
        check_saved(pre_path, self.pre, self.analysis)
        self.spec, self.run_dir = self.analysis.spec, Path(run_dir) if run_dir is not None else None
        self.reads = [spec_path, pre_path, self.checkpoint]  # what an --out must not overwrite


class LoadedRun(SavedRun):
    """``specdl.load_run(dir)``: ``.model`` (best weights, eval mode), ``.inputs(x)``
    applies the run's preprocessing, ``.predict(x)`` returns predictions. ``x``: what
    `specdl predict --input` reads (a path) or rows in memory (specdl/runs/given.py). A
    generated script's outputs stand for a run directory: ``spec``, ``checkpoint`` and
    ``preprocess`` (its <name>.preprocess.json). Several outputs (spec 12.7): ``.model``'s
    forward returns one tensor per head, ``.predict(x)`` each target's predictions (each
    head read as a one-target run: ``HeadRun``)."""

    def __init__(self, run_dir=None, checkpoint=None, spec=None, preprocess=None):
        from ..build import checkpoints as ckpt

        super().__init__(run_dir, checkpoint, spec, preprocess)
        self.notes = True  # unseen categories noted (not while export verifies with one of its own)
        self.kept = [] if run_dir is None else _written(run_dir)  # nor what specdl wrote in the run
        self.model = ckpt.load_best(self.checkpoint, self._build_model)  # the file read (and refused) first
        self.model.eval()
        from ..build.rundir import older_run_note

        note = older_run_note(self.run_dir) if self.run_dir is not None else None
        if note:
            print(note, file=sys.stderr)

    def _build_model(self):
        from ..build.model import build_model

        return build_model(self.analysis, seed=False)

    # -- preprocessing, exactly as in training
    def read(self, x, exclude=()):
        """The run's raw inputs (a ``RawInputs``) from anything predict takes: a path as
        `specdl predict --input` reads it, or rows, arrays, images in memory
        (specdl/runs/given.py)."""
        from .given import read_given

        return read_given(self, x, exclude)

    def inputs(self, x):
        """Anything predict takes -> the model's input tensor (transforms as fitted in training)."""
        return self.model_inputs(self.read(x))

    def model_inputs(self, raw):
        """Raw inputs as ``read`` gives them (a ``RawInputs``) -> the model's input tensor."""
        import torch

        data = self.spec.data
        if self.analysis.graph.named:
            from .named import model_inputs

            return model_inputs(self, raw)
        if data.file_backed:
            return raw.x  # already transformed by image_inputs
        x, cats = raw.x if data.source == "csv" else (raw.x, None)
        x = check_raw(self, np.asarray(x, dtype=dtypes(self.analysis).read), raw.rows)
        first = x
        x = applied(x, data.transforms, self.fitted("transforms"))
        if data.source == "csv" and self.pre["categories"] is not None:
            onehot = [(cats[:, j:j + 1] == np.asarray(c, dtype=object)[None, :]).astype(np.float64)
                      for j, c in enumerate(self.pre["categories"])]
            if self.notes:
                unseen_notes(data.columns()[1], cats, onehot)
            x = np.hstack([x, *onehot])
        x = torch.as_tensor(x, dtype=getattr(torch, dtypes(self.analysis).input))
        return check_finite(self, x, first, raw.rows)

    def outputs(self, x, source: str = "the given inputs"):
        """The model's outputs (float32) for model inputs ``x``, in the run's evaluation
        chunks (``source``: what ``x`` was read from, for a message)."""
        import torch

        model = self.model
        if self.analysis.heads:  # several outputs: the heads' outputs side by side (runtime/heads.py)
            from ..runtime.heads import Joined

            model = Joined(model)
        try:
            with torch.inference_mode():
                return torch.cat([model(xb).float() for xb in self.chunks(x)])
        except (RuntimeError, IndexError, ValueError, TypeError) as e:  # what the checks of specdl/runs/inputs.py let through
            if "allocate" in str(e):
                raise
            raise RunError(f"the model cannot take the inputs of {source}: "
                           f"{str(e).splitlines()[0][:200]}") from None

    def chunks(self, x):
        """Model inputs (a tensor, or named ``Inputs``) in the run's evaluation chunks."""
        from ..runtime.loop import chunks

        size = self.spec.train.eval_chunk
        return x.chunks(size) if hasattr(x, "tensors") else chunks(x, size)

    def predict(self, x) -> dict:
        """{"prediction": [...], and "probabilities" (classification)} for anything
        `read` takes; several outputs: {"heads": {target: its predictions}}."""
        raw = self.read(x)
        return self.predictions(self.model_inputs(raw), raw.source)

    def predictions(self, x, source: str = "the given inputs") -> dict:
        """Predictions for model inputs ``x`` (``model_inputs``), as training makes them
        (runtime/loop.py's ``predictions``), with the probabilities and class names."""
        out = self.outputs(x, source)
        if self.analysis.heads:  # several outputs: each head's, as a one-target run's
            from ..runtime.heads import split_heads

            parts = split_heads(out, self.analysis.head_tuples())
            return {"heads": {t: HeadRun(self, t).decided(parts[t]) for t in self.analysis.heads}}
        return self.decided(out)

    @property
    def threshold(self) -> float:
        """train.threshold: where a binary or multilabel output's probability decides 1."""
        return self.spec.train.threshold

    @property
    def target_transforms(self) -> list:
        """The spec's transforms of the target (one head's: ``HeadRun``)."""
        return self.spec.data.target_transforms

    def decided(self, out) -> dict:
        """``predictions``' dict from the model's outputs ``out``."""
        from ..runtime.loop import predictions, probabilities

        task, threshold = self.analysis.kind, self.threshold
        # binary (one logit): the second class where its probability reaches train.threshold
        pred = predictions(out, task, self.invert_targets, threshold)
        if task in ("classification", "binary"):
            probs = self.probabilities(out)
            names = self.pre["class_names"] or [str(i) for i in range(probs.shape[1])]
            return {"index": pred, "prediction": [names[i] for i in pred.tolist()],
                    "probabilities": probs.numpy(), "classes": names}
        if task == "multilabel":
            return {"prediction": pred, "probabilities": probabilities(out, "sigmoid").numpy()}
        names = self.analysis.target_names()  # several named targets: a column each (prediction_<name>)
        return {"prediction": pred, **({"targets": names} if names else {})}

    def probabilities(self, out):
        """Class probabilities from the model's outputs (torch ops: the ONNX graph of
        ``export --with-preprocessing`` runs this too). One logit (binary): both classes'."""
        import torch

        from ..runtime.loop import probabilities

        p = probabilities(out, self.analysis.probability)  # as the score metrics read them
        if self.analysis.kind == "binary":
            p = p.reshape(-1)  # not len(out): an export would fix the batch
            return torch.stack([1 - p, p], 1)
        return p

    def fitted(self, key: str) -> list:
        """The fitted states of ``transforms`` or ``target_transforms``, as arrays."""
        return saved_states(self.pre[key])

    def invert_targets(self, y):
        """Model outputs -> the data's units (the target transforms undone, last first)."""
        from ..runtime.prepare import invert

        return invert(y, [t.step() for t in self.target_transforms], self.fitted("target_transforms"))

    def transform_targets(self, y):
        """Targets in the data's units -> as the loss saw them in training."""
        return applied(y, self.target_transforms, self.fitted("target_transforms"))


class HeadRun(LoadedRun):
    """One head of a loaded run of several outputs (``run``) as a one-target run: its
    Analysis, its model's output, its class names and fitted target transforms, its
    threshold. The single-target predictions and evaluation read it as they read a run."""

    def __init__(self, run, target: str):  # the run is loaded: nothing is read again
        self.whole, self.target = run, target
        self.analysis, self.spec, self.checkpoint = run.analysis.heads[target], run.spec, run.checkpoint
        self.run_dir, self.reads, self.kept, self.notes = run.run_dir, run.reads, run.kept, run.notes
        self.pre = {**run.pre, "class_names": run.pre["class_names"][target],
                    "target_transforms": run.pre["target_transforms"][target]}
        from ..runtime.heads import HeadOf

        self.model = HeadOf(run.model, list(run.analysis.heads).index(target))

    @property
    def threshold(self) -> float:
        return self.spec.train.threshold_of(self.target)

    @property
    def target_transforms(self) -> list:
        return getattr(self.spec.data.targets[self.target], "transforms", [])

    def model_inputs(self, raw):
        return self.whole.model_inputs(raw)
