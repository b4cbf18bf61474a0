"""Progress display and the run directory's report."""

from __future__ import annotations

import json
import sys
from pathlib import Path


class Progress:
    """One bar over epochs with the latest losses; silent when not on a terminal."""

    def __init__(self, epochs: int, enabled: bool | None = None, start: int = 0):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._p = None
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._p = RichProgress(TextColumn("epoch"), MofNCompleteColumn(), BarColumn(),
                                   TimeElapsedColumn(), TimeRemainingColumn(),
                                   TextColumn("{task.description}"), transient=False)
            self._p.start()
            self._task = self._p.add_task("", total=epochs, completed=start)

    def update(self, epoch: int, row: dict, monitor: str) -> None:
        if self._p is not None:
            desc = f"train_loss {row['train_loss']:.4g}"
            if monitor in row and monitor != "train_loss":
                desc += f"  {monitor} {row[monitor]:.4g}"
            self._p.update(self._task, completed=epoch, description=desc)

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None


def write_report(run_dir: Path, analysis, trainer, test: dict, pred, state: dict,
                 train_time: float, device) -> dict:
    """report.json: the test metrics, the best epoch, and per-class scores."""
    import torch

    report = {
        "name": analysis.spec.name,
        "test": {k: v for k, v in test.items() if k != "loss"} | {"loss": test["loss"]},
        "best_epoch": state["best_epoch"],
        "epochs_run": state["epoch"],
        "monitor": analysis.monitor,
        "best_" + analysis.monitor: state["best"],
        "train_time_s": round(train_time, 3),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "samples": {k: int(len(v)) for k, v in trainer.arrays.x.items()},
    }
    if analysis.task == "classification":
        from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

        truth = trainer.arrays.y_true["test"]
        labels = list(range(analysis.data.classes))
        p, r, f, s = precision_recall_fscore_support(truth, pred, labels=labels, zero_division=0)
        report["per_class"] = {str(c): {"precision": float(p[c]), "recall": float(r[c]),
                                        "f1": float(f[c]), "support": int(s[c])} for c in labels}
        report["confusion_matrix"] = confusion_matrix(truth, pred, labels=labels).tolist()
    (run_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
