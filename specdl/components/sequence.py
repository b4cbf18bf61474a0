"""Embeddings, recurrent layers and attention. Sequences are batch-first, [N, T, F],
as a user of Keras expects (torch's own default is time-first)."""

from typing import ClassVar, Literal

from pydantic import Field, PrivateAttr, model_validator

from ..errors import ShapeError
from .base import Layer, NonNegInt, PosFloat, PosInt, Prob
from .call import Call, literal


class EmbeddingSpec(Layer, type="embedding", primary="embedding_dim"):
    """Looks up a learned vector per integer token (torch.nn.Embedding): [N, ...] int64
    -> [N, ..., embedding_dim]. ``num_embeddings`` may be left out where the input is a
    named input of ids, whose bound it takes (a text's vocabulary, categories + 1)."""

    num_embeddings: PosInt | None = None
    embedding_dim: PosInt
    padding_idx: int | None = None
    dtypes = ("int64",)
    rank_fix: ClassVar[str] = "feed it token ids (an int64 data source)"

    def rows(self, x) -> int | None:
        """The table's rows: as given, or the input's bound (spec 12.3; None: unknown)."""
        return self.num_embeddings if self.num_embeddings is not None else x.vocab

    def infer(self, x):
        rows = self.rows(x)
        if rows is None:
            raise ShapeError("num_embeddings is not given and the input's vocabulary is not known (a named input "
                             "of token ids has one); give num_embeddings")
        if self.padding_idx is not None and not -rows <= self.padding_idx < rows:
            raise ShapeError(f"padding_idx={self.padding_idx} is outside the vocabulary of {rows}")
        return type(x)((*x.shape, self.embedding_dim), "float32")

    def check_inputs(self, xs):
        for x in xs:
            if x.dtype != "int64":
                raise ShapeError(f"expects int64 token ids, got float32 {x}; an embedding looks up "
                                 "integers (use an int64 data source, or linear for float features)")

    def count_params(self, x):
        return self.rows(x) * self.embedding_dim

    def ctor(self, x):
        return Call("nn.Embedding", (self.rows(x), self.embedding_dim), self.changed("padding_idx"))


class SequencePoolSpec(Layer, type="sequence_pool", primary="mode"):
    """Pools a sequence [N, T, D] to [N, D] (Ludwig's ``reduce_output``): ``mean``, ``max``,
    ``sum`` or the ``last`` step. A second input of [N, T] int64 ids masks the padded steps
    (id 0): ``inputs: [embedding_0, review]``; a row all padding gives zeros."""

    mode: Literal["mean", "max", "sum", "last"] = "mean"
    max_inputs = 2
    ranks = (3,)
    rank_hint = "[N, T, D] (batch, steps, features)"
    helpers = ("SequencePool",)

    def check_inputs(self, xs):
        super().check_inputs(xs[:1])
        check_ids(xs)

    def infer(self, x, ids=None):
        return x.with_shape("N", x.shape[2])

    def ctor(self, x):
        return Call("SequencePool", (), self.changed("mode"))


BATCH_FIRST = {"batch_first": "sequences are always batch-first here ([N, T, F]); leave it out"}
_MASK = ("padding masks are not arguments: give the token ids as the layer's extra input "
         "(`inputs: [embedding_0, review]`: id 0, padding, is masked); masks of your own are outside the "
         "language: every token attends to every token, or, with `is_causal: true`, to itself and the "
         "tokens before it")
ATTENTION = {**BATCH_FIRST, "attn_mask": _MASK, "mask": _MASK, "key_padding_mask": _MASK,
             "src_mask": _MASK, "src_key_padding_mask": _MASK}


def causal_mask(x):
    """The causal mask over the steps of x [N, T, E] (torch's own: -inf above the diagonal)."""
    import torch

    return torch.nn.Transformer.generate_square_subsequent_mask(x.size(1), device=x.device)


class MaskError(ShapeError):
    """A mask input that is not the token ids of its sequence (its own fix: no embedding hint)."""


def check_ids(xs) -> None:
    """A layer's optional second input: the token ids [N, T] int64 of its sequence (the mask)."""
    if len(xs) == 2 and (xs[1].dtype != "int64" or xs[1].shape != xs[0].shape[:2]):
        raise MaskError(f"the mask input must be the token ids [N, {xs[0].shape[1]}] int64 of the sequence "
                        f"{xs[0]}, got {xs[1].dtype} {xs[1]}; give it the ids the sequence's embedding looked up")


def padding_mask(ids, causal=False):
    from ..runtime.layers import padding_mask

    return padding_mask(ids, causal)


def mask_code(ids: str, causal: bool) -> str:
    return f"padding_mask({ids}, causal=True)" if causal else f"padding_mask({ids})"


def causal_mask_code(x: str) -> str:
    return f"nn.Transformer.generate_square_subsequent_mask({x}.size(1), device={x}.device)"


class _Recurrent(Layer):
    refused = BATCH_FIRST
    hidden_size: PosInt
    num_layers: PosInt = 1
    bidirectional: bool = False
    dropout: Prob = 0.0
    bias: bool = True
    output: Literal["last", "sequence"] = "last"
    ranks = (3,)
    rank_hint = "[N, T, F] (batch, time, features)"
    rank_fix: ClassVar[str] = "add a reshape or unflatten to [T, F] per sample"
    custom_call: ClassVar[bool] = True
    torch_name: ClassVar[str] = ""
    gates: ClassVar[int] = 1
    max_inputs = 2  # the sequence, and its token ids [N, T]: `output: last` is each row's last token (spec 12.3)
    helpers = ("last_step",)

    def check_inputs(self, xs):
        super().check_inputs(xs[:1])
        check_ids(xs)
        if len(xs) == 2 and (self.bidirectional or self.output == "sequence"):
            raise ShapeError("token ids make `output: last` each row's last token; with bidirectional: true the "
                             "reverse direction would read the padding first, and `output: sequence` takes no ids: "
                             "drop the ids input (mask later, with sequence_pool)")

    def infer(self, x, ids=None):
        if self.dropout and self.num_layers == 1:
            raise ShapeError(f"dropout={self.dropout} acts between stacked layers and does nothing "
                             "with num_layers=1; set num_layers >= 2, or add a dropout layer after it")
        width = self.hidden_size * (2 if self.bidirectional else 1)
        if self.output == "sequence":
            return x.with_shape("N", x.shape[1], width)
        return x.with_shape("N", width)

    def count_params(self, x):
        dirs = 2 if self.bidirectional else 1
        total = 0
        for layer in range(self.num_layers):
            inp = x.shape[-1] if layer == 0 else self.hidden_size * dirs
            per = self.gates * self.hidden_size * (inp + self.hidden_size)
            per += 2 * self.gates * self.hidden_size if self.bias else 0
            total += per * dirs
        return total

    def macs(self, x, y):
        return self.count_params(x) * x.shape[1]

    def ctor(self, x):
        kw = {**self.changed("num_layers", "bias"), "batch_first": True,
              **self.changed("dropout", "bidirectional")}
        return Call(f"nn.{self.torch_name}", (x.shape[-1], self.hidden_size), kw)

    # what flows on: the output sequence, or the last step's hidden state of the top
    # layer (both directions concatenated when bidirectional)
    def call(self, module, x, ids=None):
        out, state = module(x)
        if ids is not None:
            from ..runtime.layers import last_step

            return last_step(out, ids)
        if self.output == "sequence":
            return out
        h = state[0] if isinstance(state, tuple) else state
        return h[-1] if not self.bidirectional else __import__("torch").cat((h[-2], h[-1]), dim=1)

    def call_code(self, attr, args, out):
        if len(args) == 2:
            return [f"{out}, _ = {attr}({args[0]})", f"{out} = last_step({out}, {args[1]})  # the last token's step"]
        if self.output == "sequence":
            return [f"{out}, _ = {attr}({args[0]})"]
        state = "(h, _)" if self.torch_name == "LSTM" else "h"
        last = "h[-1]" if not self.bidirectional else "torch.cat((h[-2], h[-1]), dim=1)"
        return [f"_, {state} = {attr}({args[0]})", f"{out} = {last}  # the top layer's last hidden state"]


class RNNSpec(_Recurrent, type="rnn", primary="hidden_size"):
    """Elman RNN over [N, T, F] (torch.nn.RNN, batch_first); ``output: last`` (default)
    passes on the top layer's last hidden state [N, H], ``output: sequence`` every
    step [N, T, H]."""

    nonlinearity: Literal["tanh", "relu"] = "tanh"
    torch_name: ClassVar[str] = "RNN"

    def ctor(self, x):
        c = super().ctor(x)
        return Call(c.fn, c.args, {**c.kwargs, **self.changed("nonlinearity")})


class LSTMSpec(_Recurrent, type="lstm", primary="hidden_size"):
    """LSTM over [N, T, F] (torch.nn.LSTM, batch_first); ``output: last`` (default)
    passes on the top layer's last hidden state [N, H] (both directions concatenated
    when bidirectional), ``output: sequence`` every step [N, T, H]."""

    torch_name: ClassVar[str] = "LSTM"
    gates: ClassVar[int] = 4


class GRUSpec(_Recurrent, type="gru", primary="hidden_size"):
    """GRU over [N, T, F] (torch.nn.GRU, batch_first); ``output`` as for lstm."""

    torch_name: ClassVar[str] = "GRU"
    gates: ClassVar[int] = 3


class MultiheadAttentionSpec(Layer, type="multihead_attention", primary="num_heads"):
    """Multi-head attention over [N, T, E] (torch.nn.MultiheadAttention, batch_first).
    One input: self-attention; two: query and key=value; three: query, key, value.
    A last input of [N, S] int64 token ids (S: the key's steps) is the key padding mask:
    ``inputs: [embedding_0, review]``; a row all padding attends to its first step.
    ``is_causal: true``: each query step attends only to the key steps up to its own.
    A key or value of another embedding size than the query's is projected from its own
    (torch's kdim and vdim, inferred): Perceiver's cross-attention from the inputs to the latents."""

    refused = ATTENTION

    num_heads: PosInt
    dropout: Prob = 0.0
    bias: bool = True
    is_causal: bool = False
    max_inputs = 4  # query, key, value, and the token ids of the key (spec 12.3)
    ranks = (3,)
    rank_hint = "[N, T, E]"
    examples: ClassVar[dict] = {"num_heads": [1, 2, 3, 4]}
    custom_call: ClassVar[bool] = True
    helpers = ("padding_mask",)
    _masked: bool = PrivateAttr(default=False)  # whether the last input is token ids (found by check_inputs)

    def check_inputs(self, xs):
        seqs = xs[:-1] if len(xs) > 1 and xs[-1].dtype == "int64" else xs
        self._masked = len(seqs) < len(xs)
        if len(seqs) > 3:
            raise ShapeError(f"takes a query, a key and a value, then optionally the key's token ids, got {len(xs)} "
                             "inputs of float32")
        if any(x.dtype == "int64" for x in seqs):
            raise ShapeError("token ids (the key padding mask) come last: `inputs: [query, key, value, ids]`, "
                             "the key and value optional")
        super().check_inputs(seqs)
        if len(seqs) < len(xs):
            key = seqs[1] if len(seqs) > 1 else seqs[0]
            check_ids([key, xs[-1]])

    def infer(self, *xs):
        xs = xs[:-1] if len(xs) > 1 and xs[-1].dtype == "int64" else xs
        q = xs[0]
        e = q.shape[-1]
        if e % self.num_heads:
            raise ShapeError(f"num_heads={self.num_heads} must divide the embedding size {e} of {q}")
        if len(xs) == 3 and xs[1].shape[1] != xs[2].shape[1]:
            raise ShapeError(f"key {xs[1]} and value {xs[2]} must have the same length")
        if self.is_causal and len(xs) > 1 and xs[1].shape[1] != q.shape[1]:
            raise ShapeError(f"is_causal masks the later steps of the query's own sequence: the key "
                             f"{xs[1]} must have the query's length {q.shape[1]}")
        return q

    @staticmethod
    def _sizes(xs):
        """The embedding sizes of the query, the key and the value (the mask left out)."""
        return tuple(x.shape[-1] for x in _qkv_types(xs))

    def macs_many(self, xs, y):
        """The four projections, each over its own steps and width, and the two products
        of T query steps with S key steps (a cross-attention's S is the key's)."""
        q, k, _ = _qkv_types(xs)
        e, kd, vd = self._sizes(xs)
        t, s = q.shape[1], k.shape[1]
        return 2 * t * e * e + s * e * (kd + vd) + 2 * t * s * e

    def params_many(self, xs):
        e, kd, vd = self._sizes(xs)
        return e * (2 * e + kd + vd) + (4 * e if self.bias else 0)

    def macs(self, x, y):
        return self.macs_many([x], y)

    def ctor_many(self, xs):
        e, kd, vd = self._sizes(xs)
        kw = {**self.changed("dropout", "bias"), "batch_first": True}
        if (kd, vd) != (e, e):
            kw.update(kdim=kd, vdim=vd)
        return Call("nn.MultiheadAttention", (e, self.num_heads), kw)

    def call(self, module, *xs):
        ids = xs[-1] if len(xs) > 1 and not xs[-1].is_floating_point() else None
        q, k, v = _qkv(xs[:-1] if ids is not None else xs)
        kw = {} if ids is None else {"key_padding_mask": padding_mask(ids, self.is_causal)}
        if self.is_causal:
            kw["attn_mask"] = causal_mask(q)
        return module(q, k, v, need_weights=False, **kw)[0]

    def call_code(self, attr, args, out):
        seqs = args[:-1] if self._masked else args
        q, k, v = _qkv(seqs)
        mask = f", key_padding_mask={mask_code(args[-1], self.is_causal)}" if len(seqs) < len(args) else ""
        mask += f", attn_mask={causal_mask_code(q)}" if self.is_causal else ""
        return [f"{out}, _ = {attr}({q}, {k}, {v}, need_weights=False{mask})"]


def _qkv(xs):
    """Query, key and value of attention's inputs: the key defaults to the query, the value to the key."""
    if not 1 <= len(xs) <= 3:
        raise ValueError(f"attention takes a query, a key and a value, got {len(xs)} sequences")
    q = xs[0]
    k = xs[1] if len(xs) > 1 else q
    return q, k, xs[2] if len(xs) > 2 else k


def _qkv_types(xs):
    """The query, key and value types of attention's inputs, the token ids of a mask left out."""
    return _qkv(xs[:-1] if len(xs) > 1 and xs[-1].dtype == "int64" else xs)


class TransformerEncoderLayerSpec(Layer, type="transformer_encoder_layer", primary="nhead"):
    """One transformer encoder layer over [N, T, E] (torch.nn.TransformerEncoderLayer,
    batch_first); d_model is inferred. ``norm_first: true`` is the pre-norm layer of ViT;
    ``is_causal: true`` lets each step attend only to itself and the steps before it (GPT)."""

    refused = ATTENTION

    nhead: PosInt
    dim_feedforward: PosInt = 2048
    dropout: Prob = 0.1
    activation: Literal["relu", "gelu"] = "relu"
    layer_norm_eps: PosFloat = 1e-5
    norm_first: bool = False
    bias: bool = True
    is_causal: bool = False
    ranks = (3,)
    rank_hint = "[N, T, E]"
    examples: ClassVar[dict] = {"nhead": [1, 2, 3, 4], "dim_feedforward": [8, 16]}
    custom_call: ClassVar[bool] = True
    max_inputs = 2  # the sequence, and its token ids [N, T] (the key padding mask: spec 12.3)
    helpers = ("padding_mask",)

    def check_inputs(self, xs):
        super().check_inputs(xs[:1])
        check_ids(xs)

    def infer(self, x, ids=None):
        if x.shape[-1] % self.nhead:
            raise ShapeError(f"nhead={self.nhead} must divide the embedding size {x.shape[-1]} of {x}")
        return x

    def count_params(self, x):
        e, f = x.shape[-1], self.dim_feedforward
        weights = 4 * e * e + 2 * e * f + 2 * e  # attention, feed-forward, two norms' weights
        return weights + (4 * e + f + e + 2 * e if self.bias else 0)

    def macs(self, x, y):
        t, e = x.shape[1], x.shape[-1]
        return 4 * t * e * e + 2 * t * t * e + 2 * t * e * self.dim_feedforward

    def ctor(self, x):
        kw = {**self.changed("dim_feedforward", "dropout", "activation", "layer_norm_eps"),
              "batch_first": True, **self.changed("norm_first", "bias")}
        return Call("nn.TransformerEncoderLayer", (x.shape[-1], self.nhead), kw)

    # ``is_causal``: each step attends to itself and the steps before it (a GPT's decoder
    # stack, which is an encoder stack with the causal mask)
    def call(self, module, x, ids=None):
        kw = {} if ids is None else {"src_key_padding_mask": padding_mask(ids, self.is_causal)}
        return module(x, causal_mask(x), is_causal=True, **kw) if self.is_causal else module(x, **kw)

    def call_code(self, attr, args, out):
        mask = f", src_key_padding_mask={mask_code(args[1], self.is_causal)}" if len(args) > 1 else ""
        if not self.is_causal:
            return [f"{out} = {attr}({args[0]}{mask})"]
        return [f"{out} = {attr}({args[0]}, {causal_mask_code(args[0])}, is_causal=True{mask})"]


class TransformerEncoderSpec(TransformerEncoderLayerSpec, type="transformer_encoder", primary="num_layers"):
    """A stack of num_layers transformer encoder layers (torch.nn.TransformerEncoder);
    ``final_norm: true`` adds the closing LayerNorm of pre-norm stacks (its ``norm``)."""

    num_layers: PosInt = 1
    final_norm: bool = False

    def count_params(self, x):
        e = x.shape[-1]
        norm = (e + (e if self.bias else 0)) if self.final_norm else 0
        return self.num_layers * super().count_params(x) + norm

    def macs(self, x, y):
        return self.num_layers * super().macs(x, y)

    def ctor(self, x):
        kw = {}
        if self.final_norm:
            kw["norm"] = Call("nn.LayerNorm", (x.shape[-1],),
                              {**self.changed("bias"), **({"eps": self.layer_norm_eps}
                                                         if self.layer_norm_eps != 1e-5 else {})})
        return Call("nn.TransformerEncoder", (super().ctor(x), self.num_layers),
                    {**kw, "enable_nested_tensor": False})


class BilinearSpec(Layer, type="bilinear", primary="out_features"):
    """x1^T A x2 + b over two inputs' last dimensions (torch.nn.Bilinear)."""

    out_features: PosInt
    bias: bool = True
    min_inputs = 2
    max_inputs = 2

    def infer(self, a, b):
        if a.shape[:-1] != b.shape[:-1]:
            raise ShapeError(f"inputs {a} and {b} must agree in all but the last dimension")
        return a.with_shape(*a.shape[:-1], self.out_features)

    def ctor_many(self, xs):
        return Call("nn.Bilinear", (xs[0].shape[-1], xs[1].shape[-1], self.out_features), self.changed("bias"))

    def params_many(self, xs):
        return xs[0].shape[-1] * xs[1].shape[-1] * self.out_features + (self.out_features if self.bias else 0)


class UpsampleSpec(Layer, type="upsample", primary="scale_factor"):
    """Upsamples [N, C, L], [N, C, H, W] or [N, C, D, H, W] (torch.nn.Upsample) by
    scale_factor, or to size."""

    scale_factor: PosInt | None = None
    size: list[PosInt] | None = None
    mode: Literal["nearest", "linear", "bilinear", "bicubic", "trilinear"] = "nearest"
    align_corners: bool | None = None
    ranks = (3, 4, 5)
    rank_hint = "[N, C, ...]"
    examples: ClassVar[dict] = {"scale_factor": [2, None, 3], "size": [None, [4, 6], [5], [2, 3, 4]],
                                "mode": ["nearest", "bilinear", "linear", "trilinear", "bicubic"],
                                "align_corners": [None, True, False]}

    @model_validator(mode="after")
    def _one_of(self):  # no input needed to see this: a schema error, not a shape error
        if (self.scale_factor is None) == (self.size is None):
            raise ValueError("give exactly one of scale_factor or size")
        if self.align_corners is not None and self.mode == "nearest":
            raise ValueError("align_corners applies to the interpolating modes (linear, bilinear, "
                             "bicubic, trilinear), not to mode nearest")
        return self

    def infer(self, x):
        want = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}.get(self.mode)
        if want and x.rank != want:
            raise ShapeError(f"mode {self.mode} needs a {want}-D input, got {x}")
        if self.size is not None:
            if len(self.size) != x.rank - 2:
                raise ShapeError(f"size {self.size} must give {x.rank - 2} sizes for {x}")
            return x.with_shape("N", x.shape[1], *self.size)
        return x.with_shape("N", x.shape[1], *(d * self.scale_factor for d in x.shape[2:]))

    def ctor(self, x):
        kw = self.changed("scale_factor")
        if self.size is not None:
            kw["size"] = tuple(self.size)
        kw.update(self.changed("mode", "align_corners"))
        return Call("nn.Upsample", kwargs=kw)


class PadSpec(Layer, type="pad", primary="pad"):
    """Pads the last dimensions (torch.nn.functional.pad): pad is (left, right[, top,
    bottom[, front, back]]), starting from the last dimension."""

    pad: list[NonNegInt] = Field(min_length=2, max_length=6)
    mode: Literal["constant", "reflect", "replicate", "circular"] = "constant"
    value: float = Field(0.0, allow_inf_nan=True)  # -inf pads before a max pool
    functional = True
    needs = ("import torch.nn.functional as F",)

    def infer(self, x):
        if len(self.pad) % 2:
            raise ShapeError(f"pad {self.pad} must have an even length (a pair per dimension)")
        k = len(self.pad) // 2
        if k > x.rank - 1:
            raise ShapeError(f"pad {self.pad} pads {k} dimensions; {x} has {x.rank - 1} besides the batch dimension")
        if self.mode != "constant":
            self.check_mode(x, k)
        shape = list(x.shape)
        for i in range(k):
            d = len(shape) - 1 - i
            lo, hi = self.pad[2 * i], self.pad[2 * i + 1]
            if self.mode == "reflect" and (lo >= shape[d] or hi >= shape[d]):
                raise ShapeError(f"reflect padding {lo, hi} must be smaller than the size {shape[d]}")
            if self.mode == "circular" and (lo > shape[d] or hi > shape[d]):
                raise ShapeError(f"circular padding {lo, hi} must not exceed the size {shape[d]}")
            shape[d] = shape[d] + lo + hi
        return x.with_shape(*shape)

    def check_mode(self, x, k: int) -> None:
        """torch's limits on the non-constant modes: no fill value; the padded dimensions
        are all those after the channels ([N, C, ...]) or after the batch ([N, ...])."""
        if self.value != 0:
            raise ShapeError(f"value={self.value} is the fill of mode constant; mode {self.mode} "
                             "takes no value")
        if x.rank > k + 2:  # (k < x.rank is checked before)
            raise ShapeError(f"mode {self.mode} pads every dimension after the channels (or after "
                             f"the batch): {x} needs {2 * (x.rank - 2)} pad values (or "
                             f"{2 * (x.rank - 1)}), got {len(self.pad)}")

    def _kw(self):
        return "".join(f", {k}={literal(v)}" for k, v in self.changed("mode", "value").items())

    def apply(self, x):
        import torch.nn.functional as F

        return F.pad(x, tuple(self.pad), **self.changed("mode", "value"))

    def expr(self, x):
        return f"F.pad({x}, {tuple(self.pad)}{self._kw()})"


