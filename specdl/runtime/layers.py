"""The modules and the function specdl's own layers build: a class token, a masked
sequence pool, position embeddings, stochastic depth, layer scale, and a torchvision backbone. Build constructs
them from here; a generated script holds each as its source (copied from this file by
specdl/script/runtime_source.py, checked by tests/test_runtime.py)."""

import torch
from torch import nn


class ClassToken(nn.Module):
    """Prepends one learned vector to a sequence: [N, L, D] -> [N, L + 1, D]."""

    def __init__(self, dim):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x):
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)


class SequencePool(nn.Module):
    """Pools a sequence [N, T, D] to [N, D] over the steps whose id (an [N, T] int64 input,
    padding 0) is not padding, or over every step without ids: mean, max, sum or the last
    kept step. A row all padding gives zeros, never NaN (spec 12.3)."""

    def __init__(self, mode="mean"):
        super().__init__()
        self.mode = mode

    def forward(self, x, ids=None):
        if x.dim() != 3:
            raise ValueError(f"expects a sequence [N, T, D], got {list(x.shape)}")
        if ids is not None and (ids.dtype != torch.int64 or ids.shape != x.shape[:2]):
            raise ValueError(f"ids must be int64 [N, T] matching x {list(x.shape)}, got {ids.dtype} {list(ids.shape)}")
        keep = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if ids is None else ids != 0
        weight = keep.unsqueeze(-1).to(x.dtype)
        if self.mode == "sum":
            return (x * weight).sum(1)
        if self.mode == "mean":
            return (x * weight).sum(1) / weight.sum(1).clamp(min=1)
        if self.mode == "max":
            out = x.masked_fill(~keep.unsqueeze(-1), float("-inf")).amax(1)
            return torch.where(keep.any(1, keepdim=True), out, torch.zeros_like(out))
        steps = torch.arange(1, x.shape[1] + 1, device=x.device)
        last = (keep * steps).argmax(1)  # each row's last kept step (0 for a row all padding)
        out = x[torch.arange(x.shape[0], device=x.device), last]
        return torch.where(keep.any(1, keepdim=True), out, torch.zeros_like(out))


def padding_mask(ids, causal=False):
    """Attention's key padding mask of token ids [N, T] int64: True where the id is padding
    (0). A row all padding keeps its position 0 (torch gives NaN for a row whose every key
    is masked; sequence_pool then pools that row to zeros). Beside a causal mask, whose first
    query sees the first key alone, every row keeps it, and the mask is a float one like
    the causal mask (-inf where masked: torch deprecates masks of two types)."""
    if ids.dtype != torch.int64 or ids.dim() != 2:
        raise ValueError(f"a padding mask is made of int64 token ids [N, T], got {ids.dtype} {list(ids.shape)}")
    mask = ids == 0
    if not causal:
        mask[:, 0] &= ~mask.all(1)
        return mask
    mask[:, 0] = False
    return torch.zeros(mask.shape, device=ids.device).masked_fill(mask, float("-inf"))


def last_step(out, ids):
    """Each row's output [N, T, H] at its last step whose token id [N, T] is not padding (0),
    gathered by index (no packed sequences: they export neither to ONNX nor through
    dynamo); a row all padding gives its first step's."""
    if ids.dtype != torch.int64 or ids.shape != out.shape[:2]:
        raise ValueError(f"ids must be int64 [N, T] matching {list(out.shape)}, got {ids.dtype} {list(ids.shape)}")
    steps = torch.arange(1, out.shape[1] + 1, device=out.device)
    return out[torch.arange(out.shape[0], device=out.device), ((ids != 0) * steps).argmax(1)]


class PositionEmbedding(nn.Module):
    """Adds a learned [1, L, D] tensor to a sequence, initialised N(0, init_std)."""

    def __init__(self, length, dim, init_std=0.02):
        super().__init__()
        self.embedding = nn.Parameter(torch.empty(1, length, dim).normal_(std=init_std))

    def forward(self, x):
        return x + self.embedding


class SinusoidalPosition(nn.Module):
    """Adds the fixed sine and cosine positions of Vaswani et al. (2017) to [N, L, D]:
    sin(p / base ** (2i / D)) in the even features, cos in the odd ones (not learned)."""

    def __init__(self, length, dim, base=10000.0):
        super().__init__()
        position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
        freq = base ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)
        table = torch.zeros(1, length, dim)
        table[0, :, 0::2] = torch.sin(position * freq)
        table[0, :, 1::2] = torch.cos(position * freq[: dim // 2])
        self.register_buffer("table", table, persistent=False)

    def forward(self, x):
        return x + self.table


class StochasticDepth(nn.Module):
    """Drops the whole input per sample ("row") or per batch ("batch") with probability
    p while training, scaling what is kept by 1 / (1 - p); the identity otherwise."""

    def __init__(self, p, mode="row"):
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        shape = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        keep = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1.0 - self.p)
        return x * keep.div_(1.0 - self.p)

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode}"


class LayerScale(nn.Module):
    """Multiplies by a learned per-channel vector, initialised to init_value; shape is
    the scale's shape, broadcast against x (channels last, or [C, 1, 1])."""

    def __init__(self, shape, init_value=1e-06):
        super().__init__()
        self.scale = nn.Parameter(torch.full(shape, float(init_value)))

    def forward(self, x):
        return x * self.scale


def backbone(name, weights=None, num_classes=None, freeze="none"):
    """A torchvision model: local weights loaded, classification head replaced, frozen."""
    import torchvision

    model = torchvision.models.get_model(name)
    if weights is not None and (weights.endswith((".pt", ".pth")) or "/" in weights):
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    elif weights is not None:  # a torchvision weights name: downloads (needs the network)
        model.load_state_dict(torchvision.models.get_weight(weights).get_state_dict(progress=False))
    head = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1][0]
    if num_classes is not None:
        parent = model.get_submodule(head.rpartition(".")[0]) if "." in head else model
        old = parent.get_submodule(head.rpartition(".")[2])
        setattr(parent, head.rpartition(".")[2], nn.Linear(old.in_features, num_classes))
    prefixes = [] if freeze == "none" else freeze if isinstance(freeze, list) else [""]
    for n, p in model.named_parameters():
        if any(n.startswith(f) for f in prefixes) and not (freeze == "backbone" and n.startswith(head + ".")):
            p.requires_grad_(False)
    return model
