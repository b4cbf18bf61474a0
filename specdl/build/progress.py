"""Progress over epochs on standard error: a rich bar on a terminal, one plain line per
epoch elsewhere (``epoch_line``)."""

from __future__ import annotations

import sys


class Progress:
    """Progress over epochs, on standard error. On a terminal: one rich bar with the
    latest losses. Elsewhere (a log, a pipe): one plain line per epoch with the losses,
    the monitored values, the learning rate and the time, at most two lines a second for
    very fast epochs (the first and the last epoch are always shown). ``enabled``: None
    decides by the terminal, False is silent (``-q``), True forces the bar."""

    LINE_EVERY_S = 0.5

    def __init__(self, epochs: int, enabled: bool | None = None, start: int = 0):
        tty = sys.stderr.isatty()
        self.epochs, self.bar = epochs, enabled is True or (enabled is None and tty)
        self.lines = enabled is None and not tty
        self._p, self._last = None, 0.0
        if self.bar:
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
        elif self.lines:
            import time

            now = time.monotonic()
            if epoch in (1, self.epochs) or now - self._last >= self.LINE_EVERY_S:
                self._last = now
                print(epoch_line(epoch, self.epochs, row), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None


def epoch_line(epoch: int, epochs: int, row: dict) -> str:
    """``epoch 3/20  train_loss 0.412  val_loss 0.398  val_accuracy 0.91  lr 0.001  0.21s``"""
    parts = [f"epoch {epoch}/{epochs}"]
    for k, v in [*((k, v) for k, v in row.items() if k not in ("epoch", "time_s", "lr")), ("lr", row.get("lr"))]:
        if v is not None:
            parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
    if "time_s" in row:
        parts.append(f"{row['time_s']:.2f}s")
    return "  ".join(parts)
