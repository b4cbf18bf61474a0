"""Analysis -> torch objects: the model (eager, in declaration order, so the same seed
gives the generated script's weights), loss, optimizer and scheduler."""

from __future__ import annotations

import contextlib
import functools
import pickle
import warnings

import torch
from torch import nn

from ..errors import RunError, format_path
from ..front.graph import INPUT, Graph


class SpecModule(nn.Module):
    """The model a spec describes: one submodule per layer, named as in the spec and
    the generated code; ``forward`` runs the layers in topological order."""

    def __init__(self, graph: Graph, outputs: tuple | None = None):
        super().__init__()
        self._outputs = outputs  # several outputs (spec 12.7): forward returns these layers' values
        steps = []
        for node in graph.nodes:
            if node.layer.functional:
                fn = node.layer.apply
            else:
                module = make_module(node)
                self.add_module(node.name, module)
                fn = functools.partial(node.layer.call, module) if node.layer.custom_call else None
            steps.append((node.name, fn, tuple(node.inputs)))
        last_use = dict.fromkeys(outputs or (), len(steps))  # a head's value is kept to the end
        for i, (_, _, inputs) in enumerate(steps):
            for ref in inputs:
                last_use[ref] = max(i, last_use.get(ref, i))
        # names whose value can be dropped after each step (keeps activation memory down)
        self._steps = [(name, fn, inputs, tuple(r for r in set(inputs) if last_use[r] == i))
                       for i, (name, fn, inputs) in enumerate(steps)]
        self._chain = outputs is None and all(inputs == ((steps[i - 1][0],) if i else (INPUT,))
                                              for i, (_, _, inputs) in enumerate(steps))

    def forward(self, x):
        mods = self._modules
        if self._chain:
            for name, fn, _, _ in self._steps:
                x = fn(x) if fn is not None else mods[name](x)
            return x
        return self._through({INPUT: x})

    def _through(self, env: dict):
        """The graph's steps from its sources' values (``env``), dropping each value after its last use."""
        mods = self._modules
        for name, fn, inputs, drop in self._steps:
            args = [env[r] for r in inputs]
            for r in drop:
                del env[r]
            env[name] = fn(*args) if fn is not None else mods[name](*args)
        if self._outputs is not None:
            return tuple(env[h] for h in self._outputs)
        return env[self._steps[-1][0]]


class NamedSpecModule(SpecModule):
    """A model whose graph starts at named inputs (spec 12.3): ``forward(**inputs)``, the
    graph's environment starting with them. Called on a batch of ``Inputs`` (the loop's),
    its forward pre-hook hands their tensors over as keyword arguments."""

    def __init__(self, graph: Graph, outputs: tuple | None = None):
        from ..runtime.inputs import keyword_inputs

        super().__init__(graph, outputs)
        self.register_forward_pre_hook(keyword_inputs, with_kwargs=True)

    def forward(self, **inputs):
        return self._through(dict(inputs))


def make_module(node) -> nn.Module:
    """The module for one graph node (a block call builds its sub-graphs)."""
    if getattr(node, "subgraphs", None):
        mods = [SpecModule(g) for g in node.subgraphs]
        return mods[0] if len(mods) == 1 else nn.Sequential(*mods)
    where = f"{format_path(node.path)} ({node.type})"
    weights = getattr(node.layer, "weights", None)
    if isinstance(weights, str) and (weights.endswith((".pt", ".pth")) or "/" in weights):
        from ..files import file_problem

        why = file_problem(weights)  # a pipe would block, /dev/zero never end
        if why and not why.startswith("no such file"):
            raise RunError(f"{where}: weights: {why}")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")  # the error below says it
            return node.layer.ctor_many(node.in_types)()
    except (RuntimeError, pickle.UnpicklingError) as e:  # not a torch file, or objects weights_only refuses
        unloadable = isinstance(e, pickle.UnpicklingError) or "Weights only" in str(e) or "zip archive" in str(e)
        if weights is None or not unloadable:
            raise
        raise RunError(f"{where}: cannot load the weights {weights}: not a state_dict of tensors "
                       "(specdl never unpickles code)") from None
    except FileNotFoundError as e:
        raise RunError(f"{format_path(node.path)} ({node.type}): file not found: {e.filename}; "
                       "relative paths are taken from the current directory") from None
    except OSError as e:  # urllib's URLError is an OSError: a download without the network
        raise RunError(f"{format_path(node.path)} ({node.type}): cannot download ({e}); without "
                       "the network, save the weights as a local state_dict file and give its path") from None


def build_model(analysis, seed: bool = True) -> SpecModule:
    """The nn.Module for an analysed spec; seeded with the spec's seed when ``seed``."""
    if seed:
        torch.manual_seed(analysis.spec.seed)
    outputs = tuple(analysis.spec.model.outputs[t] for t in analysis.heads) if analysis.heads else None
    return (NamedSpecModule if analysis.graph.named else SpecModule)(analysis.graph, outputs)


def build_loss(analysis):
    """The spec's loss; for one logit (binary) wrapped by the runtime's binary_loss, so
    that class labels reach it as float targets (the script does the same)."""
    from ..runtime.loop import binary_loss

    if analysis.heads:  # several outputs: the weighted sum of each head's
        from .heads import heads_loss

        return heads_loss(analysis, build_loss)
    with refused(analysis.loss):
        loss = analysis.loss.ctor()()
    return binary_loss(loss) if analysis.binary else loss


def build_optimizer(spec, model, frozen: bool = False) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad] if frozen else model.parameters()
    with refused(spec.optimizer):
        return spec.optimizer.ctor()(params)


def build_scheduler(spec, optimizer, steps_per_epoch: int, mode: str):
    if spec.scheduler is None:
        return None
    with refused(spec.scheduler):
        return spec.scheduler.ctor(spec.train.epochs, steps_per_epoch, mode)(optimizer)


@contextlib.contextmanager
def refused(component):
    """A combination of arguments that torch's constructor refuses (and check does not
    know of) is one line naming the component, not a traceback."""
    try:
        yield
    except (ValueError, TypeError) as e:
        raise RunError(f"{component.kind} {component.type_name}: torch refuses these arguments: "
                       f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
