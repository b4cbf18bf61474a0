"""The run directory's report: report.json (test metrics, best epoch, per-class scores) and
its plots (curves.png, confusion.png, roc.png, pr.png)."""

from __future__ import annotations

import json
import math
from pathlib import Path


def write_report(run_dir: Path, analysis, trainer, test: dict, pred, state: dict,
                 train_time: float, device, onnx: dict | None = None, setup_time: float = 0.0) -> dict:
    """report.json: the test metrics, the best epoch, and per-class scores."""
    import torch

    report = {
        "name": analysis.spec.name,
        "test": {k: _finite(v) for k, v in test.items() if k != "loss"} | {"loss": _finite(test["loss"])},
        "best_epoch": state.best_epoch,
        "epochs_run": state.epoch,
        "monitor": analysis.monitor,
        "best_" + analysis.monitor: state.best,
        "train_time_s": round(train_time, 3),
        "setup_s": round(setup_time, 3),  # from train() to the first step: data, model, optimizer
        "device": str(device),
        "threads": torch.get_num_threads(),
        "cuda_graphs": trainer.graphs,  # the training step replayed as a CUDA graph (train.cuda_graphs)
        "samples": {k: trainer.arrays.size(k) for k in ("train", "val", "test")},
    }
    if onnx is not None:
        report["onnx"] = onnx
    name = analysis.spec.name
    if analysis.heads:  # several outputs: each target's test metrics, and each classifier's per-class scores
        from ..runtime.heads import head_columns
        from .heads import by_target

        report["targets"] = by_target(analysis, report["test"])
        truth = head_columns(trainer.arrays.y_true["test"], analysis.head_tuples())
        scores = {t: output_plots(run_dir, h, truth[t], pred[t], trainer.arrays.class_names[t], f"{name} ({t})",
                                  f".{t}") for t, h in analysis.heads.items()}
        report["class_scores"] = {t: v for t, v in scores.items() if v}
    else:
        report.update(output_plots(run_dir, analysis, trainer.arrays.y_true["test"], pred,
                                   trainer.arrays.class_names, name))
    plot_curves(run_dir / "curves.png", run_dir / "metrics.jsonl", state.best_epoch, name, list(analysis.heads or ()))
    (run_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def plot_files(analysis) -> list[str]:
    """The plots a run writes besides curves.png: confusion.png of a classification output,
    roc.png and pr.png of one with probabilities; several outputs: each head's, named
    ``confusion.<target>.png`` (``roc.<target>.png``, ``pr.<target>.png``)."""
    out = []
    for suffix, a in ({f".{t}": h for t, h in analysis.heads.items()} if analysis.heads else {"": analysis}).items():
        out += [f"confusion{suffix}.png"] * (a.task == "classification")
        out += [f"roc{suffix}.png", f"pr{suffix}.png"] * (a.probability is not None)
    return out


def output_plots(run_dir: Path, analysis, truth, pred, names, title: str, suffix: str = "") -> dict:
    """One output's per-class scores (report.json's) with confusion.png, where it classifies,
    and roc.png and pr.png where its predictions carry probabilities (Analysis.predictor(curves=True));
    ``suffix``: before .png (a head's target)."""
    out = {}
    if analysis.task == "regression":
        return out
    truth = truth.astype("int64")  # several outputs: a head's column of the packed float targets
    if analysis.task == "classification":
        out = class_scores(truth, pred, analysis.data.classes, names)
        plot_confusion(run_dir / f"confusion{suffix}.png", out["confusion_matrix"], out["classes"], title)
    if getattr(pred, "probabilities", None) is not None:
        names = names or list(range(analysis.data.classes))
        plot_ranking(run_dir, truth, pred.probabilities, [str(n) for n in names], title, suffix)
    return out


def _finite(value):
    """A test number as JSON holds it: null where it is not defined (NaN: a split lacking a
    class for roc_auc; scikit-learn's warning about it is a note already)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def class_scores(truth, pred, classes: int, names=None) -> dict:
    """Per-class precision, recall, f1 and support keyed by the class's label (the names
    the data gives, else its index), the confusion matrix (rows: true class) and the
    class names: report.json's and `specdl evaluate`'s."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(classes))
    names = [str(n) for n in names or labels]
    p, r, f, s = precision_recall_fscore_support(truth, pred, labels=labels, zero_division=0)
    return {"per_class": {names[c]: {"precision": float(p[c]), "recall": float(r[c]), "f1": float(f[c]),
                                     "support": int(s[c])} for c in labels},
            "confusion_matrix": confusion_matrix(truth, pred, labels=labels).tolist(),
            "classes": names}


def _pyplot():
    """pyplot on the Agg backend. Where HOME (or MPLCONFIGDIR) cannot be written, matplotlib
    uses a temporary folder of its own: its warnings about that are not the user's concern."""
    import logging

    log = logging.getLogger("matplotlib")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    finally:
        log.setLevel(level)
    return plt


def plot_curves(path: Path, metrics_jsonl: Path, best_epoch: int, title: str, targets: list | None = None) -> None:
    """Loss per epoch (train and validation) and, in a second panel, the validation
    metrics computed each epoch (the monitored ones and the spec's first); several outputs
    (``targets``): each head's validation loss in the loss panel and a panel per head with its
    metrics. The best epoch (the one tested) marked on every panel."""
    rows = [json.loads(x) for x in metrics_jsonl.read_text().splitlines() if x.strip()]
    if not rows:
        return
    plt = _pyplot()
    panels = _curve_panels(list(rows[-1]), targets)
    across = len(panels) if len(panels) <= 3 else math.ceil(math.sqrt(len(panels)))
    down = math.ceil(len(panels) / across)
    fig, axes = plt.subplots(down, across, figsize=(5.5 * across, 4 * down), squeeze=False)
    epochs = [r["epoch"] for r in rows]
    for ax, (ylabel, lines) in zip(axes.flat, panels):
        for label, key in lines:
            ax.plot(epochs, [float("nan") if r.get(key) is None else r[key] for r in rows], label=label)
        if best_epoch:
            ax.axvline(best_epoch, color="tab:red", linestyle="--", linewidth=1, label=f"best epoch {best_epoch}")
        ax.set(xlabel="epoch", ylabel=ylabel, title=f"{title}: {ylabel}" + (" (validation)" if ylabel != "loss" else ""))
        ax.legend()
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)  # epochs: 1, 2, 3, never 1.5
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    # fixed margins (the labels are short and the panels a fixed size): tight_layout's ~0.1 s saved
    fig.subplots_adjust(left=0.3 / (5.5 * across) * 3, right=1 - 0.1 / across, bottom=0.5 / (4 * down) * 1.4,
                        top=1 - 0.35 / (4 * down), wspace=0.25, hspace=0.35)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _curve_panels(keys: list[str], targets: list | None) -> list[tuple[str, list]]:
    """(y label, [(line label, key)]) of each panel of curves.png, from the keys of the last
    row: the loss, then the validation metrics (several outputs: a panel per target's)."""
    loss = [(label, key) for label, key in (("train", "train_loss"), ("validation", "val_loss")) if key in keys]
    metrics = [k for k in keys if k.startswith("val_") and k != "val_loss"]
    if not targets:
        return [("loss", loss)] + ([(metrics[0][4:] if len(metrics) == 1 else "metric", [(k[4:], k) for k in metrics])]
                                   if metrics else [])
    loss += [(f"validation [{t}]", f"val_loss[{t}]") for t in targets if f"val_loss[{t}]" in keys]
    panels = [("loss", loss)]
    for t in targets:
        own = [k for k in metrics if k.endswith(f"[{t}]") and k != f"val_loss[{t}]"]
        if own:
            panels.append((t, [(k[4:-len(t) - 2], k) for k in own]))
    return panels


def plot_confusion(path: Path, matrix, names, title: str) -> None:
    """The test confusion matrix, counts in each cell."""
    plt = _pyplot()
    n = len(names)
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * n + 2.5), max(3.5, 0.5 * n + 2)))
    im = ax.imshow(matrix, cmap="Blues")
    ax.set(xticks=range(n), yticks=range(n), xticklabels=names, yticklabels=names,
           xlabel="predicted", ylabel="true", title=f"{title}: test confusion")
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    top = max(max(r) for r in matrix) or 1
    for i in range(n):
        for j in range(n):
            ax.text(j, i, matrix[i][j], ha="center", va="center",
                    color="white" if matrix[i][j] > top / 2 else "black", fontsize=8)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# classes drawn one by one, each in the legend with its area; above it they are grey
LEGEND_CLASSES = 10


def plot_ranking(run_dir: Path, y_true, p, names: list[str], title: str, suffix: str = "") -> None:
    """roc.png and pr.png of the test split: one curve for two classes (class 1's), else a
    curve per class (or label) one-vs-rest that the split holds, with their micro and
    macro averages; each with its area (AUC, average precision) in the legend (``suffix``:
    before .png, a head's target)."""
    import numpy as np
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    from ..runtime.metrics import defined, one_vs_rest

    if y_true.ndim == 1 and (p.ndim == 1 or p.shape[1] == 2):  # binary: class 1 against class 0
        y, q, names = y_true[:, None], (p if p.ndim == 1 else p[:, 1])[:, None], names[1:]
    else:
        y, q = one_vs_rest(y_true, p.shape[1]), p
    held = np.flatnonzero(defined(y)).tolist()
    if not held:  # one class in the test split: no curve is defined
        return
    grid = np.linspace(0, 1, 201)
    roc = [(names[j], *roc_curve(y[:, j], q[:, j])[:2]) for j in held]
    pr = [(names[j], *precision_recall_curve(y[:, j], q[:, j])[1::-1], average_precision_score(y[:, j], q[:, j]))
          for j in held]
    rocs = [(f"{c} ({auc(f, t):.3f})", f, t) for c, f, t in roc]
    prs = [(f"{c} ({a:.3f})", r, pp) for c, r, pp, a in pr]
    if len(held) > 1:
        f, t, _ = roc_curve(y[:, held].ravel(), q[:, held].ravel())
        mean_t = np.mean([np.interp(grid, f_, t_) for _, f_, t_ in roc], axis=0)
        rocs += [(f"micro ({auc(f, t):.3f})", f, t), (f"macro ({auc(grid, mean_t):.3f})", grid, mean_t)]
        pp, r, _ = precision_recall_curve(y[:, held].ravel(), q[:, held].ravel())
        mean_p = np.mean([np.interp(grid, r_[::-1], p_[::-1]) for _, r_, p_, _ in pr], axis=0)
        micro = average_precision_score(y[:, held].ravel(), q[:, held].ravel())
        prs += [(f"micro ({micro:.3f})", r, pp), (f"macro ({np.mean([a for *_, a in pr]):.3f})", grid, mean_p)]
    _curves(run_dir / f"roc{suffix}.png", rocs, len(held), ("false positive rate", "true positive rate"),
            f"{title}: test ROC (AUC)", diagonal=True)
    _curves(run_dir / f"pr{suffix}.png", prs, len(held), ("recall", "precision"), f"{title}: test precision-recall (AP)")


def _curves(path: Path, curves, per_class: int, labels, title: str, diagonal: bool = False) -> None:
    """Curves (label, x, y) on one panel: the first ``per_class`` thin (grey and unlabelled
    beyond LEGEND_CLASSES), the averages after them in black."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for i, (label, x, y) in enumerate(curves):
        if i < per_class and per_class > LEGEND_CLASSES:
            ax.plot(x, y, color="0.75", linewidth=0.8)
        elif i < per_class:
            ax.plot(x, y, linewidth=1, label=label)
        else:  # micro, then macro: black, solid and dashed
            ax.plot(x, y, color="black", linewidth=1.8, linestyle="-" if i == per_class else "--", label=label)
    if diagonal:
        ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1)
    ax.set(xlabel=labels[0], ylabel=labels[1], title=title, xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(fontsize=7, loc="lower right" if diagonal else "lower left")
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.11, top=0.92)  # fixed labels: tight_layout's cost saved
    fig.savefig(path, dpi=100)
    plt.close(fig)
