"""The shape table of ``check``, the cost table of ``summary``, and ``layers``."""

from __future__ import annotations

from ..components.base import REGISTRY
from .memory import DTYPE_BYTES, human, input_bytes


def _console():
    import sys

    from rich.console import Console

    # markup off: user text (class labels, paths, docstrings' `[h, w]`) is never rich markup
    return Console(highlight=False, markup=False, width=None if sys.stdout.isatty() else 160)


def shape_table(a, verbose: bool = False, batch: int = 1) -> None:
    """Print the per-layer table (name, type, output shape, params [, MACs, memory])."""
    from rich import box
    from rich.table import Table

    g = a.graph
    given = ("inputs " + ", ".join(f"{k} {t}" for k, t in g.sources.items())) if g.named else f"input {g.input}"
    title = f"{a.spec.name}: {len(g.nodes)} layers, {f'{len(a.heads)} outputs' if a.heads else a.task}, {given}"
    cols = ["layer", "type", "output", "params"] + (["MACs", "activations"] if verbose else [])
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for c in cols:
        t.add_column(c, justify="right" if c in ("params", "MACs", "activations") else "left")
    chain = _is_chain(g)
    inputs = input_bytes(a, batch)  # a batch of each named input
    for name, tt in g.sources.items():  # `input`, or each named input
        t.add_row(name, "input" if g.named else "", str(tt), "",
                  *(["", human(inputs[name], "B") if g.named else ""] if verbose else []))
    total_p = total_m = total_a = 0
    for n in g.nodes:
        p, m = n.params(), n.macs() * batch
        act = n.out.numel() * DTYPE_BYTES[n.out.dtype] * batch
        total_p, total_m, total_a = total_p + p, total_m + m, total_a + act
        name = n.name if chain else f"{n.name} <- {', '.join(n.inputs)}"
        t.add_row(name, n.type, str(n.out), f"{p:,}", *([human(m), human(act, "B")] if verbose else []))
    t.add_section()
    t.add_row("total", "", "", f"{total_p:,}",
              *([human(total_m), human(total_a, "B")] if verbose else []))
    con = _console()
    input_table(a, con)
    con.print(title, markup=False)
    con.print(t)
    for line in output_lines(a):
        con.print(line, markup=False)
    if verbose:
        con.print(f"parameters: {total_p:,} ({human(total_p * 4, 'B')} as float32); "
                  f"multiply-adds per batch of {batch}: {human(total_m)}; "
                  f"activations per batch of {batch}: {human(total_a, 'B')}"
                  + (f"; inputs per batch of {batch}: {human(sum(inputs.values()), 'B')}" if inputs else ""))
        if _has_attention(a.graph):
            con.print("note: these multiply-adds include attention; torch's FlopCounterMode counts "
                      "scaled_dot_product_attention as zero on the CPU unless its math backend is used, "
                      "so compare with that backend (docs/cli.md)", markup=False)


def output_lines(a) -> list[str]:
    """What the model's output predicts and its loss; with several outputs (spec 12.7), a
    line per head: its target, layer and loss weight."""
    if a.heads:
        weights = a.spec.loss_weights or {}
        return [f"{line.replace('output', f'output {t} = {h.graph.head}', 1)} (weight {weights.get(t, 1.0):g})"
                for t, h in a.heads.items() for line in output_lines(h)]
    target = (f"{a.data.classes} classes" if a.task == "classification" else
              f"{a.data.classes} labels" if a.task == "multilabel" else
              "target [" + ", ".join(map(str, a.data.outputs)) + "]")
    return [f"output {a.graph.output.out} -> {target}, loss {a.loss.type_name}"]


def input_table(a, con) -> None:
    """A CSV's named inputs (spec 12.4): kind, column(s), shape, dtype, and check's note
    (vocabulary, the `auto` length and the train texts it truncates; categories). Printed
    only where some input has a kind (arrays' inputs show in the layer table)."""
    from rich import box
    from rich.table import Table

    rows = [i for i in a.data.inputs if i.kind]
    if not rows:
        return
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for c in ("input", "kind", "column", "shape", "dtype", "notes"):
        t.add_column(c)
    for i in rows:
        t.add_row(i.name, i.kind, i.column, str(["N", *i.feat]).replace("'", ""), i.dtype, i.note)
    con.print(t)


ATTENTION = ("multihead_attention", "transformer_encoder_layer", "transformer_encoder")


def _has_attention(g) -> bool:
    return any(n.type in ATTENTION or (getattr(n.layer, "type_name", "") in ATTENTION)
               or any(_has_attention(sub) for sub in n.subgraphs) for n in g.nodes)


def _is_chain(g) -> bool:
    prev = "input"
    for n in g.nodes:
        if n.inputs != [prev]:
            return False
        prev = n.name
    return True


def type_text(ann, metadata=()) -> str:
    """A readable type: ``int >= 1 | list[int >= 1]``, ``'none' | 'tanh'``."""
    import types
    import typing

    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        return type_text(args[0], tuple(metadata) + tuple(args[1:]))
    bounds = []
    for m in metadata:
        for attr, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            v = getattr(m, attr, None)
            if v is not None:
                bounds.append(f"{op} {v}")
        for m2 in getattr(m, "metadata", []) or []:
            for attr, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                v = getattr(m2, attr, None)
                if v is not None:
                    bounds.append(f"{op} {v}")
    suffix = (" " + " ".join(bounds)) if bounds else ""
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if ann is type(None):
        return "null"
    if origin in (list, tuple):
        inner = ", ".join(type_text(a) for a in args if a is not Ellipsis)
        return f"list[{inner}]{suffix}"
    name = getattr(ann, "__name__", str(ann))
    return f"{name}{suffix}"


def describe_args(cls) -> list[tuple[str, str, str]]:
    """(argument, type, default) for a registered component, from its pydantic fields."""
    rows = []
    for name, f in cls.model_fields.items():
        if name in ("type", "name", "inputs"):
            continue
        default = "required" if f.is_required() else repr(f.default)
        rows.append((name, type_text(f.annotation, f.metadata), default))
    return rows


CATALOGUE = {"layer": "layer", "image_transform": "image transform"}  # what `specdl layers` lists


def layer_catalogue(name: str | None = None, markdown: bool = False) -> int:
    if markdown:
        print(catalogue_markdown())
        return 0
    con = _console()
    if name:
        return _describe(con, name)
    for kind, what in CATALOGUE.items():
        con.print(_catalogue_table(kind, what))
    return 0


BLOCK_CALL = ("A block of `model.blocks` is used like a layer, by its name, with its `$` parameters and "
              "`repeat` (1 to 1000): `residual: {c: 32, repeat: 2}` (docs/spec.md, Model).")


def _listed(kind: str) -> list:
    """The entries a spec may write, by name: the registry less its structural ones (a block
    call is written with the block's name, never as `call`)."""
    return [(n, c) for n, c in sorted(REGISTRY[kind].items()) if not getattr(c, "structural", False)]


def _describe(con, name: str) -> int:
    """One component of the catalogue: its text and arguments."""
    found = [c for k in CATALOGUE for n, c in _listed(k) if n == name]
    if not found:
        from ..errors import RunError, did_you_mean

        known = [n for k in CATALOGUE for n, _ in _listed(k)]
        raise RunError(f"unknown layer or image transform `{name}`" + did_you_mean(name, known))
    cls = found[0]
    kind = "" if cls.kind == "layer" else f" ({CATALOGUE[cls.kind]}: data.transforms / data.augment)"
    con.print(f"{name}{kind}: {(cls.__doc__ or '').strip()}", markup=False)
    con.print(f"primary argument: {cls.primary or '-'}", markup=False)
    for arg, typ, default in describe_args(cls):
        con.print(f"  {arg}: {typ} = {default}", markup=False)
    return 0


def _catalogue_table(kind: str, what: str):
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for c in (what, "primary", "arguments", "what it does"):
        t.add_column(c)
    for n, cls in _listed(kind):
        args = ", ".join(a for a, _, _ in describe_args(cls))
        t.add_row(n, cls.primary or "", args, (cls.__doc__ or "").strip().split("\n")[0])
    return t


PAPERS_SECTION = """## Networks from papers

How the constructs of published networks are written; each row's network is a tested
spec in `tests/papers/` (tiny widths; `tests/test_papers.py` checks its shapes and
parameters against torch, trains it, runs its generated script and exports it). Full-size
specs of SqueezeNet 1.1, GoogLeNet, ResNeXt-50 32x4d, RegNetX-400MF, ShuffleNetV2 1.0x,
MobileNetV3-Small, EfficientNet-B0 and EfficientNetV2-S there are torchvision's networks: the same
parameters and, with torchvision's weights copied in, the same outputs.

| construct | networks | written as |
| --- | --- | --- |
| parallel branches, concatenated | GoogLeNet, SqueezeNet's fire | each branch starts with `inputs: [input]`; `concat: {inputs: [b1, b2, ...]}` |
| depthwise separable convolution | Xception, MobileNet | `conv2d` with `groups` = its channels, then a 1x1 `conv2d` |
| grouped convolution, channel shuffle | ShuffleNet | `conv2d: {groups: g}`, `channel_shuffle: g` |
| squeeze-and-excitation | SENet, EfficientNet | `adaptive_avgpool2d: 1`, two 1x1 convs, `sigmoid`, `mul` with the features |
| stochastic depth (drop path) | EfficientNet, ConvNeXt | `stochastic_depth: p` on the residual branch, before the `add` |
| LayerNorm over the channels | ConvNeXt | `permute: [0, 2, 3, 1]`, `layernorm`, `permute: [0, 3, 1, 2]` |
| layer scale | ConvNeXt, CaiT | `layer_scale: {init_value: 1.0e-6, dim: 1}` (`dim: -1` channels last) |
| local response normalisation | AlexNet | `local_response_norm: {size: 5, alpha: 1.0e-4, beta: 0.75, k: 2.0}` |
| global average pooling | NiN, ResNet | `adaptive_avgpool2d: 1` then `flatten`; over tokens, `mean: 1` |
| dense connectivity | DenseNet | a block ending `concat: {inputs: [input, new]}`, called with `repeat: k`: each copy sees every earlier map |
| pre-activation residual | PreAct-ResNet, WideResNet | `batchnorm2d`, `relu`, conv, twice; `add: {inputs: [input, <last conv>]}` |
| highway gate | Highway networks | y = x + T (H - x): `sub: {inputs: [h, input]}`, `mul`, `add` |
| gated linear unit | GLU, gated CNNs | `glu` (halves the last dimension) |
| causal dilated convolution | WaveNet, TCN | `pad: [d, 0]` (kernel 2; in general d (k - 1)) then `conv1d: {dilation: d}` |
| gated activation | WaveNet, PixelCNN | `tanh` and `sigmoid` branches, `mul` |
| token mixing | MLP-Mixer | `permute: [0, 2, 1]`, `linear`, `permute: [0, 2, 1]` |
| class token, learned positions | BERT, ViT | `class_token`, `position_embedding`, ..., `select: {dim: 1, index: 0}` |
| fixed sinusoidal positions | Transformer (Vaswani et al.) | `embedding`, `rescale: 4.0` (sqrt(d)), `sinusoidal_position` |
| sub-pixel convolution | ESPCN | `pixel_shuffle: r` (and `pixel_unshuffle`); `upsample: {mode: bilinear, align_corners: true}` |
| channel and spatial attention | CBAM | `mean: {dim: [2, 3], keepdim: true}`, `max: {dim: 1, keepdim: true}`, `concat`, `sigmoid`, `mul` |
| attention pooling | HAN, attention BiLSTMs | scores `linear`, `tanh`, `linear: {out_features: 1}`, `softmax: 1`; `mul` with the steps; `sum: 1` |
| 3-D convolutions | C3D, 3-D U-Net | `conv3d`, `batchnorm3d`, `maxpool3d`, `avgpool3d`, `adaptive_avgpool3d`, `conv_transpose3d` |
| residual scaling | Inception-ResNet | `rescale: 0.1` before the `add` |
| shared weights (Siamese) | Siamese networks | the items on a leading dimension: `linear`/`layernorm` act on the last one ([N, 2, D]), `conv3d` with kernel depth 1 on [N, C, 2, H, W]; then `select` each item |
| repeated code | LSTM autoencoders (Keras' RepeatVector) | `lstm` (last state), `unflatten: {dim: 1, sizes: [1, h]}`, `expand: {dim: 1, size: t}`, `lstm: {output: sequence}` |
| encoder / decoder | autoencoders, DCGAN's generator | `conv2d` down, `conv_transpose2d` up; `unflatten` a vector to [C, 1, 1] first |
| grouped convolution (cardinality) | ResNeXt, RegNet | `conv2d: {groups: 32}` as a bottleneck's 3x3 conv |
| channel split | ShuffleNetV2, Res2Net, GhostNet | `narrow: {start: 0, length: c}`, `narrow: {start: c, length: c, inputs: [input]}`; `concat` joins the parts |
| hard activations | MobileNetV3 | `hardswish`; squeeze-and-excitation ending in `hardsigmoid` |
| causal self-attention | GPT, nanoGPT | `multihead_attention: {num_heads: h, is_causal: true}` in pre-norm blocks (or `transformer_encoder` with it); `select: {dim: 1, index: -1}`: the last step |
| pooling as the token mixer | PoolFormer | `avgpool2d: {kernel_size: 3, stride: 1, padding: 1, count_include_pad: false}`, `sub` its input; `groupnorm: 1` |
| training-time branches | RepVGG | 3x3 conv-BN, 1x1 conv-BN, `batchnorm2d: {inputs: [input]}`, an `add` of the three |
| atrous and pyramid pooling | DeepLab's ASPP, PSPNet | `conv2d: {dilation: d, padding: d}` branches; `adaptive_avgpool2d: b`, 1x1 conv, `upsample: {size: [h, w], mode: bilinear}`; `concat` |
| top-down pathway | FPN | `upsample: 2` of the coarser level, `add` a 1x1 lateral `conv2d` |
| attention gate | Attention U-Net | 1x1 `conv2d` of the skip and of the gating signal, `add`, `relu`, a 1x1 conv to one channel, `sigmoid`, `mul` with the skip |
| shared per-point MLP | PointNet | `conv1d: {kernel_size: 1}` layers, then `adaptive_maxpool1d: 1` |
| per-feature tokens | FT-Transformer | `unflatten` [F] to [F, 1], `conv1d: {kernel_size: 1, groups: F}` to F x d channels, `reshape: [F, d]`, `class_token` |
| wide and deep parts | Wide & Deep | a `linear` on the input and an MLP on the input, `add` of their logits |
| convolution module | Conformer | `permute: [0, 2, 1]`, 1x1 `conv1d`, `glu: 1`, depthwise `conv1d`, `batchnorm1d`, `silu`; `rescale: 0.5` on the half-step feed-forwards |
| spatial gating | gMLP | `narrow` the channels in halves, `layernorm`, `permute`, a `linear` over the tokens, `mul` |
| patch embedding, depthwise mixing | ConvMixer | `conv2d: {kernel_size: p, stride: p}`, a residual depthwise `conv2d: {padding: same}` |
| sine activations, positional encoding | SIREN, NeRF | `rescale: 30.0` then `sin`; `rescale: 2^k pi`, `sin` and `cos` branches, `concat` with the input; the skip: `concat` the encoding back in |
| asymmetric kernels | Inception-v3 | `conv2d: {kernel_size: [1, 7], padding: [0, 3]}` then `kernel_size: [7, 1], padding: [3, 0]` |
| average-pool shortcut | ResNet-D | `avgpool2d: {kernel_size: 2, stride: 2, ceil_mode: true, count_include_pad: false, inputs: [input]}`, a 1x1 `conv2d` |
| time-channel separable convolution | QuartzNet, Jasper | `conv1d: {groups: c, padding: same}` then a 1x1 `conv1d` |
| cross layers | Deep & Cross Network | `identity: {name: x0}`; per layer `linear` to the width, `mul` with `x0`, `add` the layer's input (written out: a block has one input) |
| softmax gating | mixture of experts | each expert ends `unflatten: {dim: 1, sizes: [1, d]}`, `concat` to [N, E, d]; gate `linear: E`, `softmax: 1`, `unflatten` to [N, E, 1]; `mul`, `sum: 1` |
| fused expansion convolution | EfficientNetV2 | a 3x3 `conv2d` to the expanded width, a 1x1 projection, `stochastic_depth`, `add` |
| transition with compression | DenseNet-BC | `batchnorm2d`, `relu`, 1x1 `conv2d` to half the channels, `avgpool2d: 2` |
| low-rank key/value projection | Linformer | `permute: [0, 2, 1]`, `linear: k` over the steps, `permute` back; `multihead_attention: {inputs: [q, kv]}` |
| factorisation machine | DeepFM | `embedding` of the field ids, `sum: 1`, `mul` with itself, `sub` the summed squares, `rescale: 0.5`; `add` the first-order and deep logits |
| parallel resolutions, fused | HRNet | a stride-2 branch from the stem; `upsample: {scale_factor: 2, mode: bilinear}` up and a stride-2 conv down, `add` to the other branch |
| squeeze-and-excitation in 1-D | ECAPA-TDNN, audio CNNs | `adaptive_avgpool1d: 1`, two 1x1 `conv1d`, `sigmoid`, `mul` with the features |
| transposed convolutions to odd sizes | convolutional autoencoders | `conv_transpose2d: {stride: 2, padding: 1, output_padding: 1}` where the size going down was even |
| distillation token | DeiT | `class_token` twice (the last prepended first); a head on each (`select` index 1 and 0), `add`, `rescale: 0.5` |
| learned latent array, cross-attention | Perceiver | one input step, `rescale: 0.0`, `pad` to the latents' width, `expand` to M steps, `position_embedding`; `multihead_attention: {inputs: [latents, input]}` (a key and value of their own width are projected from it) |
| masked convolution | PixelCNN | shifted convolutions: `pad: [1, 1, 1, 0]`, a [1, 3] `conv2d`, `narrow` off the last row (the rows above); `pad: [1, 0, 0, 0]`, a [1, 2] `conv2d` (mask A: [1, 1], `narrow`); `add` |
| patch merging | Swin | `pixel_unshuffle: 2`, `permute: [0, 2, 3, 1]`, `layernorm`, `linear` to 2C without bias, `permute` back |
| GLU feature transformer | TabNet | a `linear` without bias to twice the width, `batchnorm1d`, `glu`; the later ones `add` their input and `rescale: 0.7071`; `narrow` the decision and attention parts; `softmax` for sparsemax |
| several filter widths, max over time | Kim's text CNN | `embedding` of a text input, `permute: [0, 2, 1]`; per width a block of `conv1d`, `relu`, `adaptive_maxpool1d: 1`, `flatten`; `concat` |
| wide strided 1-D convolutions | Wav2Letter | `conv1d: {kernel_size: 48, stride: 2, padding: 23}`, seven kernel-7 ones, a kernel-32 one, 1x1 ones; `mean: 2` over the frames (CTC is not a loss here) |
| two towers, dot product | two-tower recommenders | named inputs: an `embedding` per id input, `concat` with its numbers, a tower block each; `mul`, `sum: {dim: 1, keepdim: true}` |
| a gate and a tower per task | MMoE | shared experts `concat` to [N, E, d]; per task a softmax gate, `mul`, `sum: 1`, a tower; `model.outputs` names each task's head |
| grouped SE bottleneck, 3x3 projection shortcut | SENet-154 | a block: 1x1 `conv2d` to 2p, 3x3 `conv2d: {groups: g}` to 4p, 1x1, squeeze-and-excitation's `mul`; the shortcut a strided 3x3 `conv2d` and `batchnorm2d` on `inputs: [input]`; `add`, `relu` |
| bidirectional encoder, additive attention | RNNsearch (Bahdanau) | `gru: {bidirectional: true, output: sequence}`; `select` step 0, `narrow` its backward half: the initial state; its `linear` `unflatten` to [N, 1, d], `add` a `linear` of the steps, `tanh`, `linear: {out_features: 1}`, `softmax: 1`, `mul`, `sum: 1` |
| convolution then attention, downsampling by pooling | CoAtNet | Proj(Pool(x)): `maxpool2d: 2`, 1x1 `conv2d`; beside it the pre-norm branch (`batchnorm2d` and an MBConv; or `layernorm`, `maxpool2d: 2`, tokens, `multihead_attention`, a `linear` to the wider width); `add` |

**Outside the language.** A spec describes one deterministic network trained by one
of the losses above on (x, y) pairs. What falls outside, and what `check` says:

* **A layer applied twice** (shared weights by calling one layer on two tensors, a
  language model's head tied to its embedding): writing an earlier layer's name as a
  layer type is an error saying so; write the stacked form of the table instead, or an
  untied head.
* **Blocks with several inputs**: a block has one input, its `input`; giving it two is an
  error saying so. A construct of two tensors (an attention gate of a skip and a gating
  signal) is written out where it is used, or the tensors are concatenated before the
  call and parted with `narrow` inside.
* **Sequence-to-sequence decoders** (`transformer_decoder`, an attention decoder fed the
  targets): an error naming the construct. Encoders with a head are in.
* **Masks of your own**: `attn_mask`, `key_padding_mask` and the like are errors saying so;
  every token attends to every token, or, with `is_causal: true` (`multihead_attention`,
  the transformer encoder layers), to itself and the earlier ones. A padding mask is the
  token ids given as the layer's last input (`inputs: [embedding_0, review]`: id 0 is padding).
* **Max-unpooling** (SegNet): `return_indices` and `max_unpool2d` are errors saying why;
  upsample with `upsample` or `conv_transpose2d`.
* **Recurrent cells stepped by hand** (`lstm_cell`): an error; `rnn`, `lstm` and `gru`
  run whole sequences. `batch_first` is refused: sequences are always batch-first.
* **VAEs and GANs**: the networks are in (an encoder head giving the mean and
  log-variance, a generator), the sampling, the KL term and adversarial training are
  not: they need their own loss and loop. A `module:` layer or `register_layer` adds a
  layer; a loss of your own is not part of a spec.
* **Auxiliary heads with their own losses** (GoogLeNet's): the heads are `model.outputs`,
  one per target of `data.targets`.
* **An embedding per CSV column** (TabTransformer): a CSV's `categorical` columns are
  one-hot encoded into the float features; ids beside numbers are named inputs
  (`data.inputs`), an `embedding` on each id input (the two-tower row above).
* **Windowed attention** (Swin's window partition and shifted-window masks) and
  **relative position biases** (CoAtNet, Swin, T5): errors saying so;
  `multihead_attention` attends over all tokens, and a whole Swin network is
  `torchvision: {model: swin_t}`.
* **Operations with no layer** (ConvNeXt-V2's global response normalisation, `einsum`,
  Keras' `Lambda`): an error saying so; a `module:` layer or `register_layer` adds them.
* **A loss of one's own per head** (CenterNet's focal loss): several heads, each with
  its target and one of the losses above, are in (`data.targets`, `model.outputs`; the
  MMoE row above); a loss outside that list is not. CTC (Wav2Letter) is not a loss here.
* **Masked convolutions and sparsemax** (PixelCNN, TabNet): errors saying how to write
  the first (shifted convolutions, the row above) and that the second is not a layer.

Names from other libraries and papers for layers that are here under another name
(`drop_path`, `lrn`, `swish`, `dense`, Keras' `GlobalAveragePooling2D`, `Conv2DTranspose`,
`UpSampling2D`, `ZeroPadding2D`, ...) are errors that name the layer to use; those written
out here (`SeparableConv2D`, squeeze-and-excitation, `Bidirectional`) say how. Keras'
losses and metrics (`sparse_categorical_crossentropy`, `mean_absolute_error`) name theirs."""


def catalogue_markdown() -> str:
    """docs/layers.md: every registered component, from the registry."""
    out = ["# Component reference", "",
           "Generated from the registry by `specdl layers --markdown > docs/layers.md`; a test keeps",
           "it current. Every component is written in any of the three forms of docs/spec.md",
           "(`relu`, `linear: 50`, `{type: linear, out_features: 50}`); the primary argument is",
           "the one the short form `name: value` sets. Arguments torch derives from the input",
           "(in_features, in_channels, num_features, ...) are inferred and never written.", ""]
    titles = {"layer": "Layers", "loss": "Losses", "optimizer": "Optimizers",
              "scheduler": "Schedulers", "metric": "Metrics", "transform": "Data transforms",
              "image_transform": "Image transforms and augmentations"}
    for kind, title in titles.items():
        out += [f"## {title}", ""] + ([BLOCK_CALL, ""] if kind == "layer" else [])
        for name, cls in _listed(kind):
            doc = " ".join((cls.__doc__ or "").split())
            out.append(f"### `{name}`")
            out.append("")
            out.append(doc)
            out.append("")
            args = describe_args(cls)
            if cls.primary:
                out.append(f"Primary argument: `{cls.primary}`.")
                out.append("")
            if args:
                out += ["| argument | type | default |", "| --- | --- | --- |"]
                out += [f"| `{a}` | {t.replace('|', chr(92) + '|')} | `{d}` |" for a, t, d in args]
                out.append("")
    return "\n".join(out + [PAPERS_SECTION])


def inputs_markdown() -> str:
    """docs/spec.md's tables of a CSV's input kinds (section Inputs), from their classes
    (sources/csv_inputs.py): a table per kind, its key first (it names the column)."""
    from typing import get_args

    from ..sources.csv_inputs import REBUILT, CsvInput

    out = []
    for member in get_args(get_args(CsvInput)[0]):
        cls, tag = get_args(member)[:2]
        out += [f"#### `{tag.tag}`", "", " ".join(cls.__doc__.split()), "",
                "| key | type | default |", "| --- | --- | --- |"]
        for key, typ, default in describe_args(cls):
            # a list of components (its type is each spec's union once a spec is read: REBUILT)
            typ = "list of data transforms (docs/layers.md)" if key in REBUILT.get(cls, {}) else typ
            default = "required: the column" + ("(s)" if "list" in typ else "") if key == tag.tag else f"`{default}`"
            out.append(f"| `{key}` | {typ.replace('|', chr(92) + '|')} | {default} |")
        out.append("")
    return "\n".join(out).rstrip("\n")
