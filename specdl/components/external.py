"""Layers whose insides specdl does not describe: torchvision backbones and user
modules. Their shapes come from a forward pass on the meta device (no memory, no
compute), so ``check`` imports torch for specs that use them."""

import os
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from ..errors import ShapeError
from .base import Layer, PosInt
from .call import Call
from .names import is_ident
from .tensor import TT
from .trust import ALLOW_IMPORT, ImportRefused, resolve

# A backbone is built by the helper `backbone` (specdl/runtime/layers.py): build calls
# it, and the generated script holds its source, so the two cannot differ.
_CACHE: dict = {}


def meta_forward(key, make, x):
    """(output type, parameter count, multiply-adds) of a module built by ``make``, from
    a forward pass on the meta device; cached by ``key``."""
    if (key, x) in _CACHE:
        return _CACHE[(key, x)]
    try:
        import torch
        from torch import nn
    except ImportError:
        raise ShapeError(f"sizing a {'torchvision backbone' if key[0] == 'tv' else 'module layer'} needs torch "
                         "(a forward pass on the meta device), and torch cannot be imported here") from None

    macs = [0]

    def count(mod, inputs, out):
        if isinstance(mod, nn.modules.conv._ConvNd):
            per_out = mod.in_channels // mod.groups * int(torch.tensor(mod.kernel_size).prod())
            macs[0] += out[0].numel() * per_out if out.dim() > 1 else 0
        elif isinstance(mod, nn.Linear):
            macs[0] += out[0].numel() * mod.in_features

    with torch.device("meta"):
        module = make()
    hooks = [m.register_forward_hook(count) for m in module.modules()]
    dtype = torch.int64 if x.dtype == "int64" else torch.float32
    try:
        with torch.no_grad():
            out = module.eval()(torch.zeros((1, *x.feat), dtype=dtype, device="meta"))
    except Exception as e:  # noqa: BLE001 - any failure of user code is a shape error here
        raise ShapeError(f"cannot take {x}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    finally:
        for h in hooks:
            h.remove()
    if not isinstance(out, torch.Tensor):
        raise ShapeError(f"returns {type(out).__name__}, not a tensor")
    result = (TT(("N", *out.shape[1:]), str(out.dtype).replace("torch.", "")),
              sum(p.numel() for p in module.parameters()), macs[0])
    _CACHE[(key, x)] = result
    return result


def sizes_found(layers) -> list:
    """What sizing found for the meta-sized ones among ``layers``, as JSON data: a process
    without torch (`serve --backend onnx`) checks a run's spec again from it (``learn_sizes``)."""
    return [{"key": list(layer.meta_key()), "x": [list(x.shape), x.dtype], "out": [list(out.shape), out.dtype],
             "params": params, "macs": macs}
            for layer in layers if isinstance(layer, _MetaSized) for x, (out, params, macs) in layer._sized.items()]


def learn_sizes(found: list) -> None:
    """``sizes_found``'s data into the sizing cache: those layers size without torch."""
    for f in found:
        _CACHE[(tuple(f["key"]), TT(tuple(f["x"][0]), f["x"][1]))] = (TT(tuple(f["out"][0]), f["out"][1]),
                                                                      f["params"], f["macs"])


class _MetaSized(Layer):
    """A layer sized by a forward pass on the meta device (``_meta``). What sizing found
    stays with this layer (``_sized``), so its parameter count can be asked for later,
    outside the call that was allowed to import; a new spec asks again."""

    _sized: dict = PrivateAttr(default_factory=dict)

    def _meta(self, x):
        raise NotImplementedError

    def meta_key(self) -> tuple:
        """What the sizing cache knows the layer by (with its input's type)."""
        raise NotImplementedError

    def sized(self, x):
        if x not in self._sized:
            self._sized[x] = self._meta(x)
        return self._sized[x]

    def infer(self, x):
        return self.sized(x)[0]

    def count_params(self, x):
        return self.sized(x)[1]

    def macs(self, x, y):
        return self.sized(x)[2]


class TorchvisionSpec(_MetaSized, type="torchvision", primary="model"):
    """A torchvision model (any ``torchvision.models`` builder) as a layer:
    ``weights`` a local state_dict file (or a torchvision weights name, which needs the
    network), ``num_classes`` replaces the classification head (the last Linear),
    ``freeze: backbone`` trains only that head."""

    model: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    weights: str | None = None
    num_classes: PosInt | None = None
    freeze: Literal["none", "backbone"] | list[str] = "none"
    ranks = (4,)
    rank_hint = "[N, 3, H, W]"
    helpers: ClassVar[tuple] = ("backbone",)
    examples: ClassVar[dict] = {"model": ["resnet18", "mobilenet_v3_small", "nosuchnet"],
                                "weights": [None], "freeze": ["none", "backbone"]}

    def _meta(self, x):
        def make():
            import torchvision

            if self.model not in torchvision.models.list_models():
                from ..errors import did_you_mean

                raise ShapeError(f"torchvision has no model `{self.model}`"
                                 + did_you_mean(self.model, torchvision.models.list_models()))
            return Call("backbone", (self.model,), {"num_classes": self.num_classes})()
        out = meta_forward(self.meta_key(), make, x)
        self._check_weights()
        return out

    def meta_key(self) -> tuple:
        return "tv", self.model, self.num_classes

    def _check_weights(self) -> None:
        """A weights file must be a readable regular file (relative paths from the working
        directory, as build reads them); a weights name must be one of this model's."""
        if self.weights is None:
            return
        if self.weights.endswith((".pt", ".pth")) or "/" in self.weights:
            from ..files import file_problem

            problem = file_problem(self.weights)
            if problem is not None:
                raise ShapeError(f"weights: {problem}" + (f" (relative to {os.getcwd()})"
                                                          if not os.path.isabs(self.weights) else ""))
            return
        import torchvision

        kind = torchvision.models.get_model_weights(self.model)
        names = [f"{kind.__name__}.{n}" for n in kind.__members__]  # with aliases such as DEFAULT
        if self.weights not in names:
            from ..errors import did_you_mean

            raise ShapeError(f"weights: `{self.weights}` is neither a .pt/.pth file nor a weights name of "
                             f"{self.model}" + (did_you_mean(self.weights, names) if names else
                                                " (torchvision has none for it)"))

    def frozen(self) -> bool:
        return self.freeze != "none"

    def ctor(self, x):
        kw = self.changed("weights", "num_classes", "freeze")
        return Call("backbone", (self.model,), kw)


class ModuleSpec(_MetaSized, type="module", primary="target"):
    """Your own ``nn.Module``: ``target`` is its import path (``pkg.mod.Class``) and the
    other keys are its constructor's keyword arguments. Only what a spec names is ever
    imported; ``specdl check`` imports it only with ``--allow-import``."""

    model_config = ConfigDict(extra="allow")
    target: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
    dtypes = ("float32", "int64")
    examples: ClassVar[dict] = {"target": ["torch.nn.Identity", "torch.nn.Tanh", "torch.nn.Softsign",
                                           "specdl.no_such_module.Thing"]}

    @model_validator(mode="after")
    def _argument_names(self):
        for k in self.model_extra or {}:
            if not is_ident(k) or k.startswith("_"):
                raise ValueError(f"{k!r} is not an argument name: `module:` arguments are keyword "
                                 "arguments of the target's constructor (letters, digits and _)")
        return self

    def kwargs(self) -> dict:
        return dict(self.model_extra or {})

    def export_issue(self) -> str | None:
        return (f"`{self.target}` is your code: whether it exports to ONNX is known only by trying "
                "(`specdl export` on a run); keep its forward to tensor operations")

    def target_class(self):
        """The imported class (only when imports are allowed), its arguments checked
        against its constructor's signature before it is called."""
        import inspect

        try:
            cls = resolve(self.target, target=True)
        except ImportRefused as e:
            raise ShapeError(str(e)) from None
        try:
            inspect.signature(cls).bind(**self.kwargs())
        except TypeError as e:
            raise ShapeError(f"`{self.target}` does not take these arguments: {e}") from None
        except ValueError:  # no signature to read (a builtin): the call itself will say
            pass
        return cls

    def _meta(self, x):
        if not ALLOW_IMPORT.get():  # before the cache
            raise ShapeError(f"sizing it imports your code `{self.target}`; specdl imports user code "
                             "only with --allow-import (allow_import=True in Python)")

        def make():
            self.target_class()
            try:
                return self.ctor(x)()
            except TypeError as e:
                raise ShapeError(f"`{self.target}` does not take these arguments: {e}") from None
        return meta_forward(self.meta_key(), make, x)

    def meta_key(self) -> tuple:
        return "module", self.target, repr(sorted(self.kwargs().items()))

    def ctor(self, x):
        return Call(self.target, kwargs=self.kwargs(), target=True)
