"""Other tools' command-line habits and what to type here instead: their verbs (`train`,
`fit`, `test`, `generate`), their training flags (`--epochs 3`, `--lr 0.01`), and a
misspelt option. The command line's parser (cli.py) reads these when argparse refuses a
word, so the one error line it prints names the fix."""

from __future__ import annotations

from .errors import closest

# another tool's verb -> the verb that does it here
VERBS = {
    **dict.fromkeys(("train", "fit", "run", "learn", "start"), "build"),
    **dict.fromkeys(("test", "eval", "score", "validate-model", "benchmark"), "evaluate"),
    **dict.fromkeys(("generate", "gen", "script", "compile", "emit", "code"), "codegen"),
    **dict.fromkeys(("infer", "inference", "predictions", "serve"), "predict"),
    **dict.fromkeys(("validate", "lint", "verify"), "check"),
    **dict.fromkeys(("search", "sweep", "hpo", "optimize", "optimise", "hparams"), "tune"),
    **dict.fromkeys(("new", "create", "template", "scaffold"), "init"),
    **dict.fromkeys(("download", "data", "examples", "datasets"), "example-data"),
    **dict.fromkeys(("describe", "info", "inspect", "show", "shapes", "params"), "summary"),
    **dict.fromkeys(("list", "catalogue", "catalog", "components"), "layers"),
    **dict.fromkeys(("convert", "onnx", "save"), "export"),
}

# another tool's flag (without dashes, `_` read as `-`) -> the spec key it sets here
FLAGS = {
    **dict.fromkeys(("epochs", "epoch", "max-epochs", "num-epochs", "n-epochs", "nepochs"), "train.epochs"),
    **dict.fromkeys(("batch-size", "batch", "bs", "batchsize"), "train.batch_size"),
    **dict.fromkeys(("device", "gpu", "gpus", "accelerator", "devices", "cuda"), "train.device"),
    **dict.fromkeys(("nproc", "num-gpus", "nproc-per-node", "world-size"), "--nproc"),
    "strategy": "train.distributed.strategy",
    **dict.fromkeys(("lr", "learning-rate", "learningrate"), "optimizer.{optimizer}.lr"),
    **dict.fromkeys(("weight-decay", "wd"), "optimizer.{optimizer}.weight_decay"),
    **dict.fromkeys(("seed", "random-seed"), "seed"),
    **dict.fromkeys(("precision", "amp", "fp16", "bf16"), "train.precision"),
    **dict.fromkeys(("patience", "early-stopping"), "train.early_stopping.patience"),
    **dict.fromkeys(("threads", "num-threads"), "train.threads"),
    **dict.fromkeys(("workers", "num-workers"), "train.num_workers"),
    **dict.fromkeys(("grad-clip", "clip-grad", "gradient-clip-val", "clip"), "train.grad_clip"),
    **dict.fromkeys(("accumulate", "accumulate-grad-batches", "grad-accum"), "train.accumulate"),
    **dict.fromkeys(("compile", "torch-compile"), "train.compile"),
    **dict.fromkeys(("name", "run-name", "experiment"), "name"),
}
EXAMPLE = {"train.epochs": "3", "train.batch_size": "32", "train.device": "cuda", "seed": "1",
           "train.precision": "bf16", "train.early_stopping.patience": "5", "train.threads": "4",
           "train.num_workers": "4", "train.grad_clip": "1.0", "train.accumulate": "2", "train.compile": "true",
           "name": "my-run", "train.distributed.strategy": "ddp"}
# another tool's name for an option of ours (predict's and evaluate's data, evaluate's labels)
OPTIONS = {**dict.fromkeys(("data", "input-file", "inputs", "in", "i", "x", "test-data", "csv", "images", "path"),
                           "--input"),
           **dict.fromkeys(("label", "labels", "label-column", "target-column", "y", "target-col"), "--target")}
OUTPUT = ("output", "output-dir", "out-dir", "outdir", "save-dir", "save", "dir", "log-dir", "logdir")
SPEC = ("config", "spec", "cfg", "c", "config-file", "file", "f")


def verb_hint(word: str, verbs) -> str:
    """What to add to argparse's "invalid choice" for an unknown verb."""
    w = str(word).lower()
    if w in VERBS and VERBS[w] in verbs:
        meant = VERBS[w]
        return f"; did you mean `specdl {meant}`? (`{word}` is another tool's verb: {meant} does it here)"
    close = closest(w, verbs)
    return f"; did you mean `specdl {close}`?" if close else f" (the verbs: {', '.join(verbs)})"


def unrecognized(words: list[str], argv: list[str], verb: str, options, optimizer: str | None) -> list[str]:
    """One message per option argparse did not take (``words``: its leftovers, ``argv``:
    the command line; ``options``: the verb's option strings): the override another tool's
    training flag stands for, --out for an output folder, the spec as the first argument, a
    misspelt option. An unknown option's value is the word after it on the command line
    (argparse may have taken it as the spec, leaving the spec over: that is not reported)."""
    flags = [w for w in words if w.startswith("-") and w not in ("-", "--")]
    values = {w: _value_after(w, argv) for w in flags}
    swallowed = any(v and v not in words for v in values.values())
    out = [f"unrecognized argument {w!r}" + _word_hint(w, options) for w in words
           if w not in flags and w not in values.values() and not swallowed]
    for word in flags:
        name, _, value = word.partition("=")
        value = value or values[word]
        given = f"{name} {value}" if value else name
        out.append(f"unrecognized option {given}" + _flag_hint(name, value, verb, options, optimizer))
    return out


def _word_hint(word: str, options) -> str:
    """A bare `train.epochs=3` is an override without its -o."""
    key, eq, _ = word.partition("=")
    if eq and key and "--set" in options and all(part.isidentifier() or part.isdigit() for part in key.split(".")):
        return f"; did you mean `-o {word}`? (spec values are set with -o KEY=VALUE)"
    return ""


def missing_input_hint(argv: list[str]) -> str:
    """What to add to argparse's "required: --input" (predict, evaluate): the option the
    input was given with under another name (`--data rows.csv`), or the file given as a
    second bare argument (`predict RUN rows.csv`)."""
    words = [str(w) for w in argv[1:]]
    for i, w in enumerate(words[:-1]):
        if w.startswith("-") and OPTIONS.get(w.lstrip("-").lower().replace("_", "-")) == "--input":
            return f"; did you mean `--input {words[i + 1]}`?"
    bare = [w for i, w in enumerate(words) if not w.startswith("-") and (i == 0 or not words[i - 1].startswith("-"))]
    return f"; did you mean `--input {bare[-1]}`? (the run directory comes first)" if len(bare) >= 2 else ""


def _device_hint(key: str, value: str, options) -> str | None:
    """Lightning's `--gpus 2`, `--devices 2`, `--accelerator gpu`: the device override, or
    --nproc for several processes; None where the value says nothing."""
    v = value.lower()
    if v.isdigit() and int(v) > 1 and key in ("gpus", "devices", "gpu", "cuda"):
        if "--nproc" in options:
            return f"; did you mean `--nproc {v}` (one process per GPU; docs/distributed.md)?"
        v = "1"  # a verb that trains on one process: the GPU is the device
    device = {"gpu": "cuda", "cuda": "cuda", "1": "cuda", "auto": "auto", "cpu": "cpu", "0": "cpu", "mps": "mps"}.get(v)
    if device is None and v.startswith("cuda:"):
        device = v
    return None if device is None else (f"; did you mean `-o train.device={device}`? "
                                         "(spec values are set with -o KEY=VALUE)")


def _value_after(word: str, argv: list[str]) -> str:
    """The word after option ``word`` on the command line, unless it is an option too."""
    if "=" in word or word not in argv:
        return ""
    i = argv.index(word)
    return argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("-") else ""


def _flag_hint(name: str, value: str, verb: str, options, optimizer: str | None) -> str:
    key = name.lstrip("-").lower().replace("_", "-")
    if key in FLAGS and "--set" not in options:
        return f"; `specdl {verb}` reads a finished run or no spec, so it takes no spec values"
    if FLAGS.get(key) == "train.device" and (hint := _device_hint(key, value, options)):
        return hint
    if FLAGS.get(key) == "--nproc" and "--nproc" in options:
        return f"; did you mean `--nproc {value or 'K'}` (data-parallel on K processes; docs/distributed.md)?"
    if key in OPTIONS and OPTIONS[key] in options:
        return f"; did you mean `{OPTIONS[key]} {value}`?" if value else f"; did you mean `{OPTIONS[key]}`?"
    if key in FLAGS:
        path = FLAGS[key].format(optimizer=optimizer or "adam")
        v = value or EXAMPLE.get(FLAGS[key], "VALUE")
        if key in ("fp16", "bf16"):
            v = key
        note = "" if optimizer or "{optimizer}" not in FLAGS[key] else " (your spec's optimizer in place of adam)"
        return f"; did you mean `-o {path}={v}`{note}? (spec values are set with -o KEY=VALUE)"
    if key in OUTPUT and "--out" in options:
        return f"; did you mean `--out {value or 'PATH'}`?"
    if key in SPEC:
        return f"; the spec is the verb's first argument: `specdl {verb} SPEC.yaml`"
    close = closest(name, [o for o in options if o.startswith("--")])
    return f"; did you mean `{close}`?" if close else ""
