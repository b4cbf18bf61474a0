"""Micro-batching for `specdl serve` (spec-language.md 12.8): validated requests are
combined, counting rows, into one batch of at most ``max_batch`` rows, which one worker
thread reads and runs in one forward (one hand-off per request, one forward at a time).
The batcher takes what is queued; while other requests have arrived and are still being
read, it waits at most ``max_wait`` seconds for them, and not at all when nothing else is
coming; a request over ``max_batch`` rows runs alone (its backend runs it in chunks).

Each request is a ``concurrent.futures.Future``: a request whose caller gave up (the
504 at --timeout) cancels it, and a row not yet started leaves its batch; a forward in
progress finishes and its answer is dropped. A batch that fails is run again one
request at a time, so a request that breaks the model fails alone."""

from __future__ import annotations

import contextvars
import threading
import time
from collections import deque
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field

_ARRIVING = contextvars.ContextVar("specdl_arriving", default=None)  # this request's token: [its batcher]


@dataclass
class _Item:
    payload: object
    rows: int
    future: Future = field(default_factory=Future)


class Batcher:
    """``run(payloads) -> results``, one result per payload in order, called on batches
    of submitted payloads from one worker thread (started on first use)."""

    def __init__(self, run, max_batch: int = 32, max_wait: float = 0.005):
        self.run, self.max_batch, self.max_wait = run, max_batch, max_wait
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        self._arriving = 0  # requests arrived (``handling``) and not yet submitted
        self.batches: list[int] = []  # rows of the last forwards (a bounded record, for tests)

    @contextmanager
    def held(self):
        """The worker takes nothing while held: requests submitted meanwhile are taken
        together (a caller's several requests meant as one batch)."""
        with self._cond:
            yield

    @contextmanager
    def handling(self):
        """Around a request from its arrival (before its body is read) to its answer: a
        batch may wait for it until it is submitted (a ``submit`` within this context)."""
        token = [self]
        with self._cond:
            self._arriving += 1
        reset = _ARRIVING.set(token)
        try:
            yield
        finally:
            _ARRIVING.reset(reset)
            self._arrived(token)

    def _arrived(self, token: list) -> None:
        """The request of ``token`` is no longer on its way (submitted, or refused)."""
        with self._cond:
            if token and token[0] is self:
                token[0] = None
                self._arriving -= 1
                self._cond.notify()  # a batch waiting for it need not

    def submit(self, payload, rows: int) -> Future:
        """Queue ``payload`` (``rows`` rows); its future holds its result."""
        item = _Item(payload, rows)
        self._arrived(_ARRIVING.get())
        with self._cond:
            if self._worker is None:
                self._worker = threading.Thread(target=self._loop, name="specdl-batcher", daemon=True)
                self._worker.start()
            self._queue.append(item)
            self._cond.notify()
        return item.future

    def _loop(self) -> None:
        while True:
            batch = [i for i in self._take() if i.future.set_running_or_notify_cancel()]  # the cancelled leave
            if batch:
                self._run(batch)

    def _take(self) -> list[_Item]:
        """The next batch: the first queued request and those queued behind it that fit
        in ``max_batch`` rows; while other requests have arrived and are still being
        read (``handling``), up to ``max_wait`` more for them."""
        with self._cond:
            while not self._queue:
                self._cond.wait()
            batch = [self._queue.popleft()]
            rows, deadline = batch[0].rows, time.monotonic() + self.max_wait
            while rows < self.max_batch:
                if self._queue:
                    if rows + self._queue[0].rows > self.max_batch:
                        break  # the next batch's first
                    batch.append(self._queue.popleft())
                    rows += batch[-1].rows
                    continue
                left = deadline - time.monotonic()
                if not self._arriving or left <= 0:  # nothing else on its way
                    break
                self._cond.wait(left)
        return batch

    def _run(self, batch: list[_Item]) -> None:
        self.batches = [*self.batches[-99:], sum(i.rows for i in batch)]
        try:
            results = self.run([i.payload for i in batch])
        except BaseException as e:  # noqa: BLE001 - handed to the requests, never lost in the thread
            if len(batch) > 1:  # which request broke it: each alone
                for item in batch:
                    self._run([item])
                return
            results = None
            batch[0].future.set_exception(e)
        for item, result in zip(batch, results or []):
            item.future.set_result(result)
