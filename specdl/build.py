"""Analysis -> torch objects: the model (eager, in declaration order, so the same seed
gives the generated script's weights), loss, optimizer and scheduler."""

from __future__ import annotations

import torch
from torch import nn

from .graph import INPUT, Graph


class SpecModule(nn.Module):
    """The model a spec describes: one submodule per layer, named as in the spec and
    the generated code; ``forward`` runs the layers in topological order."""

    def __init__(self, graph: Graph):
        super().__init__()
        steps = []
        for node in graph.nodes:
            if node.layer.functional:
                fn = node.layer.apply
            else:
                self.add_module(node.name, node.layer.ctor(node.in_types[0])())
                fn = None
            steps.append((node.name, fn, tuple(node.inputs)))
        last_use = {}
        for i, (_, _, inputs) in enumerate(steps):
            for ref in inputs:
                last_use[ref] = i
        # names whose value can be dropped after each step (keeps activation memory down)
        self._steps = [(name, fn, inputs, tuple(r for r in set(inputs) if last_use[r] == i))
                       for i, (name, fn, inputs) in enumerate(steps)]
        self._chain = all(inputs == ((steps[i - 1][0],) if i else (INPUT,))
                          for i, (_, _, inputs) in enumerate(steps))

    def forward(self, x):
        mods = self._modules
        if self._chain:
            for name, fn, _, _ in self._steps:
                x = fn(x) if fn is not None else mods[name](x)
            return x
        env = {INPUT: x}
        for name, fn, inputs, drop in self._steps:
            args = [env[r] for r in inputs]
            for r in drop:
                del env[r]
            env[name] = fn(*args) if fn is not None else mods[name](*args)
        return env[self._steps[-1][0]]


def build_model(analysis, seed: bool = True) -> SpecModule:
    """The nn.Module for an analysed spec; seeded with the spec's seed when ``seed``."""
    if seed:
        torch.manual_seed(analysis.spec.seed)
    return SpecModule(analysis.graph)


def build_loss(analysis) -> nn.Module:
    return analysis.loss.ctor()()


def build_optimizer(spec, model) -> torch.optim.Optimizer:
    return spec.optimizer.ctor()(model.parameters())


def build_scheduler(spec, optimizer, steps_per_epoch: int, mode: str):
    if spec.scheduler is None:
        return None
    return spec.scheduler.ctor(spec.train.epochs, steps_per_epoch, mode)(optimizer)
