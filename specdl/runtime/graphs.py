"""The training step in a CUDA graph (``train.cuda_graphs``): PyTorch's whole-network
capture. Copied verbatim into generated scripts, like the loop (``loop.SCRIPT_FUNCTIONS``);
it reads only what a script imports (torch, nullcontext)."""

from __future__ import annotations

from contextlib import nullcontext

import torch


class GraphStep:
    """The training step (forward, loss, backward, gradient clipping, optimizer step)
    captured once in a CUDA graph and replayed for each batch, after copying the batch
    into static buffers: one launch per step instead of one per kernel. The first
    ``warmup`` steps run eagerly on a side stream (they create the optimizer's state and
    the libraries' workspaces); a batch of another size (the last, short one) runs
    eagerly; a changed learning rate (an epoch scheduler) is captured anew. The loss is
    summed on the device, read once per epoch."""

    def __init__(self, model, loss_fn, optimizer, batch_size, grad_clip=None, autocast=nullcontext, warmup=3):
        if not torch.cuda.is_available():
            raise RuntimeError("train.cuda_graphs needs a CUDA GPU, and torch sees none here")
        self.model, self.loss_fn, self.optimizer, self.grad_clip = model, loss_fn, optimizer, grad_clip
        self.batch_size, self.autocast, self.warmup = batch_size, autocast, warmup
        self.graph = self.lrs = self.x = self.y = self.total = self.broken = None
        self.stream = torch.cuda.Stream()

    def step(self, xb, yb):
        """One step's work (run eagerly, or recorded by the capture): the loss times the
        batch's size, added to the epoch's sum."""
        with self.autocast():
            loss = self.loss_fn(self.model(xb), yb)
        loss.backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.total += loss.detach().float() * len(yb)

    def eager(self, xb, yb):
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            self.optimizer.zero_grad(set_to_none=True)  # not into the graph's gradients
            self.step(xb, yb)
        torch.cuda.current_stream().wait_stream(self.stream)
        self.warmup = max(self.warmup - 1, 0)

    def capture(self, xb, yb, lrs):
        """Record the step on the static buffers; the optimizer is capturable while it is
        recorded (its step counters on the GPU), as it was before for eager steps. A step
        that cannot be captured (it reads the GPU from Python) leaves the graph off and
        its reason in ``broken``: the steps run eagerly, as without graphs."""
        self.graph = None  # the previous graph's memory goes back first
        if self.x is None:
            self.x, self.y = xb.clone(), yb.clone()
        groups = self.optimizer.param_groups
        flags = [g.get("capturable") for g in groups]
        for g in groups:
            if "capturable" in g:
                g["capturable"] = True
        for p, s in self.optimizer.state.items():
            if torch.is_tensor(s.get("step")):
                s["step"] = s["step"].to(p.device)
        self.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):  # DataLoader's pinning thread runs on
                self.step(self.x, self.y)
            self.graph, self.lrs = graph, lrs
        except RuntimeError as e:  # nothing ran: a capture only records
            self.broken = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        finally:
            for g, flag in zip(groups, flags):
                if flag is not None:
                    g["capturable"] = flag

    def epoch(self, batches):
        """One pass over the training data; returns the loss summed over the samples
        (a tensor on the GPU), and their number."""
        self.model.train()
        seen = 0
        for xb, yb in batches:
            if seen == 0:
                self.total = torch.zeros((), device=yb.device) if self.total is None else self.total.zero_()
            seen += len(yb)
            full, lrs = len(yb) == self.batch_size, [g["lr"] for g in self.optimizer.param_groups]
            if full and self.warmup == 0 and self.broken is None and lrs != self.lrs:
                self.capture(xb, yb, lrs)  # the first time, and after a learning rate changed
            if not full or self.graph is None:  # warming up, a short batch, or no graph to be had
                self.eager(xb, yb)
                continue
            self.x.copy_(xb)
            self.y.copy_(yb)
            self.graph.replay()
        return self.total.clone(), seen
