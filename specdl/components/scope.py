"""Names a spec may reach for that are not registered layers: other frameworks' and
papers' names for layers that are here under another name, and constructs that are
outside the language, each with the reason (docs/layers.md, "Networks from papers").
The unknown-layer message reads these before guessing a misspelling."""

# name -> the registered layer that does it
ALIASES = {
    "drop_path": "stochastic_depth", "droppath": "stochastic_depth",
    "lrn": "local_response_norm", "localresponsenorm": "local_response_norm",
    "channelshuffle": "channel_shuffle", "pixelshuffle": "pixel_shuffle",
    "swish": "silu", "layerscale": "layer_scale", "subtract": "sub", "multiply": "mul",
    "concatenate": "concat", "cat": "concat", "global_avg_pool": "adaptive_avgpool2d",
    "global_average_pooling": "adaptive_avgpool2d", "dense": "linear", "batchnorm": "batchnorm2d",
    "zeropad2d": "pad", "zero_pad2d": "pad", "reflection_pad2d": "pad",
    "repeat_vector": "expand", "repeatvector": "expand", "repeat_interleave": "expand",
    "chunk": "narrow", "slice": "narrow", "split": "narrow", "channel_split": "narrow",
    "hard_swish": "hardswish", "h_swish": "hardswish", "hswish": "hardswish",
    "hard_sigmoid": "hardsigmoid", "h_sigmoid": "hardsigmoid", "hsigmoid": "hardsigmoid",
    "positional_encoding": "sinusoidal_position", "position_encoding": "sinusoidal_position",
    "sinusoidal_position_embedding": "sinusoidal_position",
    "global_max_pool": "adaptive_maxpool2d", "global_max_pooling": "adaptive_maxpool2d",
    "global_average_pooling2d": "adaptive_avgpool2d", "global_average_pooling1d": "adaptive_avgpool1d",
    "global_max_pooling2d": "adaptive_maxpool2d", "global_max_pooling1d": "adaptive_maxpool1d",
    "conv2d_transpose": "conv_transpose2d", "conv1d_transpose": "conv_transpose1d",
    "conv3d_transpose": "conv_transpose3d", "deconv2d": "conv_transpose2d", "deconv1d": "conv_transpose1d",
    "upsampling1d": "upsample", "upsampling2d": "upsample", "upsampling3d": "upsample",
    "zero_padding1d": "pad", "zero_padding2d": "pad", "spatial_dropout2d": "dropout2d",
    "sine": "sin", "cosine": "cos",
}

_DECODER = ("sequence-to-sequence decoding (a decoder fed the targets, or its own outputs) is "
            "outside the language: a spec trains one network on (x, y) pairs; an encoder with "
            "`transformer_encoder` and a linear head is in")
_CELL = ("a recurrent cell stepped by hand is outside the language: `rnn`, `lstm` and `gru` "
         "run the whole sequence (`output: last` or `sequence`)")
_UNPOOL = ("max-unpooling needs the pool's indices, which no layer passes on: outside the "
           "language; upsample with `upsample` or `conv_transpose2d` instead")

_MASKED = ("a masked convolution (PixelCNN) is written as shifted convolutions, its kept taps "
           "the parameters: `pad: [1, 1, 1, 0]`, a [1, 3] `conv2d` and `narrow` off the last row "
           "(the rows above); `pad: [1, 0, 0, 0]` and a [1, 2] `conv2d` (the pixel to the left "
           "and itself; mask A: [1, 1], then `narrow` off the last column); `add` the two")
_RELATIVE = ("a relative position bias inside attention (CoAtNet, Swin, T5) is outside the "
             "language: `multihead_attention` takes no bias of its own; learned absolute "
             "positions are `position_embedding` before it")
_OWN = ("add it as a `module:` layer (an importable torch module of your own) or with "
        "`register_layer`")
_WINDOWS = ("windowed attention (Swin's window partition and shifted-window masks) is outside "
            "the language: `multihead_attention` attends over all tokens; a whole Swin network is "
            "`torchvision: {model: swin_t}`, a block of your own a `module:` layer")
_SEPARABLE = ("a depthwise convolution is `conv2d` (or `conv1d`) with `groups` equal to its input "
              "channels; a separable one is that, then a 1x1 convolution")
_SE = ("squeeze-and-excitation is written out: `adaptive_avgpool2d: 1`, two 1x1 `conv2d`, "
       "`sigmoid`, `mul: {inputs: [features, <the sigmoid>]}` (docs/layers.md, Networks from papers)")

# name -> why it is outside the language, or how it is written here
OUT_OF_SCOPE = {
    "window_attention": _WINDOWS, "shifted_window_attention": _WINDOWS, "swin_block": _WINDOWS,
    "swin_transformer_block": _WINDOWS, "window_partition": _WINDOWS,
    "separable_conv1d": _SEPARABLE, "separable_conv2d": _SEPARABLE, "depthwise_conv1d": _SEPARABLE,
    "depthwise_conv2d": _SEPARABLE, "squeeze_excite": _SE, "squeeze_excitation": _SE, "se_block": _SE,
    "grn": f"ConvNeXt-V2's global response normalisation is not a layer here: {_OWN}",
    "global_response_norm": f"ConvNeXt-V2's global response normalisation is not a layer here: {_OWN}",
    "lambda": f"arbitrary code is not a layer: {_OWN}",
    "einsum": f"einsum is not a layer: contractions are `mul`, `sum` and `permute`, or {_OWN}",
    "bidirectional": "`lstm`, `gru` and `rnn` take `bidirectional: true`",
    "transformer_decoder": _DECODER, "transformer_decoder_layer": _DECODER, "transformer": _DECODER,
    "lstm_cell": _CELL, "gru_cell": _CELL, "rnn_cell": _CELL,
    "max_unpool1d": _UNPOOL, "max_unpool2d": _UNPOOL, "max_unpool3d": _UNPOOL,
    "masked_conv2d": _MASKED, "masked_convolution": _MASKED, "pixelcnn_conv": _MASKED,
    "relative_attention": _RELATIVE, "relative_position_bias": _RELATIVE,
    "relative_multihead_attention": _RELATIVE,
    "sparsemax": f"sparsemax (TabNet's attentive masks) is not a layer here: `softmax` is; {_OWN}",
    "entmax": f"entmax is not a layer here: `softmax` is; {_OWN}",
    "reparameterize": ("sampling (a VAE's reparameterisation) and its KL term are outside the "
                       "language: a spec's model is deterministic and its loss one of `specdl "
                       "layers`; the encoder head (mean and log-variance, concatenated) is in"),
}


SHARED = ("a layer cannot be applied twice (its weights are not shared with another layer); "
          "to share a tower's weights (Siamese), stack the items on a leading dimension: linear "
          "and layernorm act on the last one, conv3d with kernel depth 1 on [N, C, items, H, W]")


def unknown_layer(name: str, names=()) -> str | None:
    """What to say about a layer type that is not registered, when these tables know it
    (``names``: the layer names written before it in its list)."""
    key = _KEYS.get(str(name).lower().replace("_", ""), str(name).lower())
    if name in names:
        return f": `{name}` is the name of an earlier layer, not a layer type; {SHARED}"
    if key in ALIASES:
        return f"; it is called `{ALIASES[key]}` here"
    if key in OUT_OF_SCOPE:
        return f": {OUT_OF_SCOPE[key]}"
    return None


# a name read without case or underscores (``GlobalAveragePooling2D``, ``SeparableConv2D``)
_KEYS = {k.replace("_", ""): k for k in (*ALIASES, *OUT_OF_SCOPE)}
