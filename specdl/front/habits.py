"""Other frameworks' spellings (Keras, Lightning, Ludwig, torchvision) that a new user
writes in a spec, and what to write here instead. The schema's unknown-key message
reads these before guessing a misspelling (docs/spec.md, "Other frameworks' spellings");
nothing here is accepted as a spec: each is an error that says the fix."""

from __future__ import annotations

import re

# another framework's argument or key name -> the names it stands for here (the first
# that the component or section takes is meant)
ARGUMENTS = {
    "units": ("out_features", "hidden_size"), "output_dim": ("embedding_dim", "out_features"),
    "output_size": ("out_features", "hidden_size"), "out_dim": ("out_features",),
    "hidden_dim": ("hidden_size", "out_features"), "hidden_units": ("out_features", "hidden_size"),
    "num_units": ("out_features", "hidden_size"), "filters": ("out_channels",),
    "num_filters": ("out_channels",), "channels": ("out_channels",), "pool_size": ("kernel_size",),
    "strides": ("stride",), "rate": ("p",), "dropout_rate": ("p", "dropout"), "drop_rate": ("p", "dropout"),
    "use_bias": ("bias",), "axis": ("dim",), "epsilon": ("eps",), "alpha": ("negative_slope",),
    "input_dim": ("num_embeddings",), "vocab_size": ("num_embeddings",), "target_shape": ("shape",),
    "num_heads": ("nhead",), "n_heads": ("nhead", "num_heads"), "heads": ("nhead", "num_heads"),
    "learning_rate": ("lr",), "decay": ("weight_decay",), "beta_1": ("betas",), "beta_2": ("betas",),
    "label": ("target", "y"), "labels": ("target", "y"), "label_column": ("target",),
    "target_column": ("target",), "y_col": ("target",), "x_col": ("features",),
    "gradient_clip_val": ("grad_clip",), "clipnorm": ("grad_clip",), "clip_grad_norm": ("grad_clip",),
    "accumulate_grad_batches": ("accumulate",), "max_epochs": ("epochs",), "num_epochs": ("epochs",),
    "accelerator": ("device",), "gpus": ("device",), "devices": ("device",),
    "input_shape": ("input",), "sequential": ("layers",),
    "input_features": ("data",), "output_features": ("data",), "trainer": ("train",),
    "samples": ("size",), "n_samples": ("size",), "num_samples": ("size",),  # scikit-learn's make_classification
}

_SHAPE = ("the input shape is given once, as `model.input` (per sample, without the batch), "
          "or left out and taken from the data; the layer's input width is inferred")
_ACT = "a layer takes no activation here: write `- {v}` as its own layer after this one"
_REG = "regularise with the optimizer's `weight_decay` (optimizer: {adamw: {weight_decay: 0.01}})"
_INIT = "weights start as torch initialises each layer; there is no initializer argument"
_CALLBACKS = ("early stopping and checkpoints are `train.early_stopping: {monitor, patience}` "
              "and `train.checkpoint: {monitor}`")

# an argument with no counterpart here -> what to write instead (``{v}``: its value)
STANDALONE = {
    "activation": _ACT, "input_shape": _SHAPE, "batch_input_shape": _SHAPE,
    "kernel_regularizer": _REG, "bias_regularizer": _REG, "activity_regularizer": _REG,
    "kernel_initializer": _INIT, "bias_initializer": _INIT,
}

_TOP = "it belongs at the top level of the spec, beside `train`: write `{k}: {v}` there"
_TRAIN = "it belongs in `train`: write `train: {{{k}: {v}}}`"
_OPT = "the learning rate is the optimizer's: write `optimizer: {{adam: {{lr: {v}}}}}`"
_VAL = "the held-out fractions are `data.split`: write `split: {{val: {v}}}` under `data`"

# (section, key) -> where the key belongs (``{k}``: the key, ``{v}``: its value)
MISPLACED = {
    **{("train", k): _TOP for k in ("optimizer", "loss", "metrics", "scheduler", "seed")},
    **{("model", k): _TOP for k in ("optimizer", "loss", "metrics", "scheduler")},
    **{("", k): _TRAIN for k in ("epochs", "batch_size", "device", "precision", "early_stopping",
                                 "checkpoint", "grad_clip", "threads", "compile", "accumulate")},
    ("", "max_epochs"): "it belongs in `train`, as `epochs`: write `train: {{epochs: {v}}}`",
    ("", "lr"): _OPT, ("", "learning_rate"): _OPT, ("train", "lr"): _OPT, ("train", "learning_rate"): _OPT,
    ("data", "batch_size"): "it belongs in `train`: write `train: {{batch_size: {v}}}`",
    ("data", "num_workers"): "it belongs in `train`: write `train: {{num_workers: {v}}}`",
    ("train", "patience"): "it is early stopping's: write `early_stopping: {{patience: {v}}}` under `train`",
    ("train", "monitor"): "it is the checkpoint's or early stopping's: write `checkpoint: {{monitor: {v}}}` under `train`",
    ("train", "callbacks"): _CALLBACKS, ("", "callbacks"): _CALLBACKS,
    ("train", "validation_split"): _VAL, ("data", "validation_split"): _VAL, ("", "validation_split"): _VAL,
    ("data", "val_split"): _VAL, ("data", "val"): _VAL,
    ("", "input_features"): ("it is Ludwig's: each feature is a named input under `data.inputs`, its type the "
                             "kind and its name the column (`review: {{text: review}}`, `genre: {{categorical: genre}}`, "
                             "`stats: {{numeric: [a, b]}}`); one input of columns is a csv's `features`; the network "
                             "is `model.layers`, each input's encoder a layer on it (docs/spec.md, Inputs)"),
    ("", "output_features"): ("it is Ludwig's: the target is `data.target` (a csv's column, or a list of "
                              "columns for several numbers); its task is inferred from the values, or set `data.task`"),
    ("", "trainer"): "it is Ludwig's and Lightning's name: write the training options under `train`",
    ("", "input_shape"): "it is written `input` under `model` (per sample, without the batch), or left out",
}


def _value(value) -> str:
    """A value as a spec writes it (YAML flow style), short."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    elif isinstance(value, list):
        text = "[" + ", ".join(_value(v) for v in value) + "]"
    else:
        text = "null" if value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def meant(key, fields) -> str | None:
    """The field an unknown ``key`` stands for in another framework's spelling, if the
    mapping takes it (``fields``)."""
    return next((f for f in ARGUMENTS.get(str(key), ()) if f in fields), None)


def unknown(section: str, key, value, fields) -> str | None:
    """What to say about an unknown ``key`` of the mapping at ``section`` (a dotted path,
    ``""`` for the top level) whose valid keys are ``fields``, when it is another
    framework's spelling; None when it is not one."""
    v = _value(value)
    if (section, str(key)) in MISPLACED:
        return MISPLACED[section, str(key)].format(k=key, v=v)
    if (field := meant(key, fields)) is not None:
        return f"that is another framework's name; here write `{field}: {v}`"
    if str(key) == "return_sequences" and "output" in fields:
        return f"that is Keras's; here write `output: {'sequence' if value is True else 'last'}`"
    if str(key) in STANDALONE and str(key) not in fields:
        return STANDALONE[str(key)].format(v=v)
    return None


# Keras' names of losses and metrics -> the registered ones (read by the unknown-name message)
_KERAS = {"sparse_categorical_crossentropy": "cross_entropy", "categorical_crossentropy": "cross_entropy",
          "mean_squared_error": "mse", "mean_absolute_error": "l1"}
ALIASES = {"loss": {**_KERAS, "binary_crossentropy": "bce_with_logits", "mae": "l1"},
           "metric": {"mean_squared_error": "mse", "mean_absolute_error": "mae",
                      "root_mean_squared_error": "rmse", "r2_score": "r2"}}


# Keras' metrics with no one name here -> what to write instead (read by the unknown-name
# message; keyed by the name as ``_squash`` reads it)
_AUC = ("that is Keras' name: write `roc_auc` (the ROC curve's area) or `pr_auc` (average precision); "
        "Keras' AUC approximates the area with 200 thresholds, so it gives another number")
_TOP_K = ("that is Keras' name: write `{top_k_accuracy: {k: 5}}` (the true class among the k most "
          "probable)")
KERAS_METRICS = {"auc": _AUC, "topkcategoricalaccuracy": _TOP_K, "sparsetopkcategoricalaccuracy": _TOP_K}


def keras_metric(name) -> str | None:
    """What to write for a Keras metric name that has no one name here (``auc``, ``AUC``,
    ``top_k_categorical_accuracy``), as the end of the unknown-metric message."""
    return f"; {KERAS_METRICS[_squash(name)]}" if isinstance(name, str) and _squash(name) in KERAS_METRICS else None


_CALL = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(?:\((.*)\)|:(\S.*)|\s+(\S.*?))\s*$")
_PREFIXES = ("torch.nn.", "nn.", "torch.optim.lr_scheduler.", "torch.optim.", "optim.", "tf.keras.layers.",
             "keras.layers.", "layers.")
_WORDS = (("normalization", "norm"), ("pooling", "pool"), ("transpose", "transpose"), ("lronplateau", "onplateau"))


def _squash(name: str) -> str:
    """A name with case, underscores, a module prefix and a class suffix (``Loss``, ``LR``)
    taken away: ``nn.BatchNorm2d``, ``batch_norm2d`` and ``BatchNormalization`` read alike."""
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
    s = name.lower().replace("_", "")
    for long, short in _WORDS:
        s = s.replace(long, short)
    for suffix in ("loss", "lr"):
        if s.endswith(suffix) and len(s) > len(suffix) + 1:
            s = s[: -len(suffix)]
    return s


def spelled(name, reg, aliases=None) -> str | None:
    """What to write for a component name ``reg`` does not hold, when it is a registered
    name written another way: a torch or Keras class name (``ReLU``, ``nn.Conv2d``,
    ``MaxPooling2D``), or with its argument in the name (``linear 20``, ``linear:20``,
    ``linear(20)``); ``aliases``: other names -> registered ones."""
    if not isinstance(name, str):
        return None
    found = {_squash(r): r for r in reg}
    found.update({_squash(k): v for k, v in (aliases or {}).items() if v in reg})
    if (m := _CALL.match(name)) and (head := found.get(_squash(m[1]))):
        arg = next(a for a in m.groups()[1:] if a is not None).strip()
        if "," in arg or "=" in arg:
            return f"; write `{head}: {{argument: value, ...}}`, each argument by its name"
        return f"; write `{head}: {arg}` (the name, a colon and a space, then its argument)" if arg else \
            f"; write `{head}`"
    if head := found.get(_squash(name)):
        return f"; it is written `{head}` here"
    return None


def wrong_type(loc: tuple, value) -> str:
    """What to add to "must be a list/mapping" where the fix is a known layout: a
    mapping of layers (``- `` left out), or ``model`` written as the list of layers."""
    if loc and loc[-1] == "layers" and isinstance(value, dict):
        return "; each layer is an item of a list, starting with `- ` (`- linear: 20`, then `- relu`)"
    if loc == ("model",) and isinstance(value, list):
        return "; the layers go under `layers`: `model: {layers: [...]}`"
    return ""


# (argument, another framework's value) -> how it is written here
VALUES = {
    ("padding", "causal"): "causal padding is a `pad: [d (k - 1), 0]` layer before the convolution "
                           "(d its dilation, k its kernel size; WaveNet, TCN)",
}


def value_hint(loc: tuple, value) -> str:
    """What to add to a bad value's message where it is another framework's value for
    that argument (Keras' ``padding: causal``)."""
    hint = VALUES.get((loc[-1], value)) if loc and isinstance(value, str) else None
    return f"; {hint}" if hint else ""
