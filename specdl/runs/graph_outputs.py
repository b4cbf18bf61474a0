"""What `specdl export RUN --with-preprocessing`'s graph gives: one output for a run of one
target (``probabilities``, or ``prediction`` in the data's units), and for several outputs
(spec 12.7) one per head, named by its target, each as a one-target run's would be: the
answer in torch ops (each head's probabilities, or its prediction with its target's fitted
transforms undone), what `specdl predict` gives to verify them by, and the words."""

from __future__ import annotations

import torch

from .inputs import saved_states


def graph_outputs(run) -> dict:
    """Output name -> (the Analysis of what it answers, its target transforms with their
    fitted states as tensors): one target's, or each head's by its target's name."""
    a, data = run.analysis, run.spec.data
    if not a.heads:
        name = "prediction" if a.task == "regression" else "probabilities"
        return {name: (a, _steps(data.target_transforms, run.pre["target_transforms"]))}
    from ..sources.targets import target_views

    views = target_views(data)
    return {t: (h, _steps(views[t].target_transforms, run.pre["target_transforms"][t])) for t, h in a.heads.items()}


def _steps(transforms, states) -> list:
    return list(zip(transforms, tensors(saved_states(states))))


def tensors(states) -> list[dict]:
    """Fitted states (arrays) as float64 tensors: what each transform's ``graph`` and
    ``invert`` take in the graph."""
    return [{k: torch.as_tensor(v, dtype=torch.float64) for k, v in s.items()} for s in states]


def answer(out, analysis, steps):
    """One output as the graph gives it: probabilities in class order (one logit: both
    classes'), a probability per label (multilabel), or the prediction in the data's units
    (``steps``' transforms undone, last first)."""
    from ..runtime.loop import probabilities

    if analysis.task == "classification":
        p = probabilities(out, analysis.probability)  # as the score metrics read them
        if analysis.kind == "binary":
            p = p.reshape(-1)  # not len(out): the export would fix the batch
            return torch.stack([1 - p, p], 1)
        return p
    if analysis.task == "multilabel":
        return torch.sigmoid(out)
    y = out.double()
    for t, s in reversed(steps):
        y = t.invert(y, s)
    return y.float()


def answers(outputs: dict, out):
    """The model's output (several outputs: a tensor per head) as the graph's outputs."""
    if len(outputs) == 1 and not isinstance(out, (tuple, list)):
        return answer(out.float(), *next(iter(outputs.values())))
    return tuple(answer(o.float(), *how) for o, how in zip(out, outputs.values()))


def wanted(pred: dict) -> list:
    """`specdl predict`'s predictions (``LoadedRun.predict``'s dict) as the graph's outputs
    are compared with them: the probabilities or the predictions, of each head."""
    import numpy as np

    parts = list(pred["heads"].values()) if "heads" in pred else [pred]
    return [np.asarray(p["probabilities"] if "probabilities" in p else p["prediction"]) for p in parts]


def describe_outputs(run) -> str:
    """What the graph gives, in words (the end of the export message and metadata)."""
    said = []
    for name, (a, _) in graph_outputs(run).items():
        if a.task == "regression":
            said.append(f"`{name}` in the data's units")
            continue
        classes = run.pre["class_names"][name] if run.analysis.heads else run.pre["class_names"]
        classes = classes or [str(i) for i in range(a.data.classes)]
        said.append(f"`{name}` " + ("probabilities " * bool(run.analysis.heads)) +
                    f"[N, {len(classes)}] ({', '.join(classes)[:120]})")
    return "gives " + ", ".join(said)
