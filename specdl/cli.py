"""The command line: thin verbs over the API. User errors exit 2 with one located
line each and no traceback; runtime failures exit 1 with one line saying what to do."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import RunError, SpecError, one_line


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose error line quotes the command line's words safely (a
    newline or a terminal escape in an argument stays escaped, on the one line) and says
    what another tool's verb or flag is here (cli_habits.py)."""

    verbs: dict = {}  # verb -> its parser (set on the top parser by _parser)
    argv: list = []  # the command line being parsed (set by parse_args), for the hints

    def error(self, message):
        m = re.match(r"argument VERB: invalid choice: '?(.*?)'? \(choose from", message)
        if m and self.verbs:
            from .cli_habits import verb_hint

            message = f"unknown verb `{m[1]}`{verb_hint(m[1], self.verbs)}"
        elif message == "the following arguments are required: --input":
            from .cli_habits import missing_input_hint

            message += missing_input_hint(_Parser.argv)
        super().error(one_line(message))

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but each word it did not take is its own error line, with the
        option or override it stands for."""
        argv = list(sys.argv[1:] if args is None else args)
        _Parser.argv = [str(a) for a in argv]
        ns, extras = self.parse_known_args(argv, namespace)
        if extras:
            from .cli_habits import unrecognized

            verb = getattr(ns, "verb", None)
            options = list(self.verbs.get(verb, self)._option_string_actions)
            self.print_usage(sys.stderr)
            for line in unrecognized(extras, [str(a) for a in argv], verb, options, _optimizer(ns)):
                print(f"{self.prog}: error: {one_line(line)}", file=sys.stderr)
            self.exit(2)
        return ns


def _optimizer(ns) -> str | None:
    """The optimizer's name in the spec on the command line, for a `--lr` hint (None when
    there is no spec, or it does not load)."""
    try:
        from .front import load

        return load(getattr(ns, "spec", None) or ns.target).optimizer.type_name
    except Exception:  # noqa: BLE001 - only a hint: any failure leaves the placeholder
        return None


@dataclass(frozen=True)
class Verb:
    """One verb of the command line, a row of ``VERBS``: its name, its help (one line, also
    its --help description), its examples (the --help epilog), ``arguments`` (adds the
    verb's own arguments to its parser, `-o KEY=VALUE` overrides among them where it takes
    them), ``run`` (argument handling, printing and one call into a stage module; returns
    the exit code), and whether it reads a spec (then it takes ``--allow-import``, last).
    A verb with an --out and no overrides refuses `-o` with a line naming --out."""

    name: str
    help: str
    examples: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    spec: bool = False


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="specdl", description="Declarative model specs for PyTorch: "
                                "check, build (train) and codegen.")
    p.add_argument("--version", action="version", version=f"specdl {_version()}")
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    p.verbs = sub.choices
    for verb in VERBS:
        v = sub.add_parser(verb.name, help=verb.help, description=verb.help, epilog=verb.examples,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        verb.arguments(v)
        if "--out" in v._option_string_actions and "-o" not in v._option_string_actions:
            _no_overrides(v)
        if verb.spec:  # nothing is imported without it
            v.add_argument("--allow-import", action="store_true",
                           help="import the user code that `module:` layers name (never done otherwise)")
    return p


def _check_arguments(c) -> None:
    c.add_argument("spec")
    _overrides(c)
    c.add_argument("--print", dest="show", action="store_true", help="also print the canonical spec")
    c.add_argument("--export", choices=["onnx"], help="also run the export preflight (as export: {onnx: true})")


def _build_arguments(b) -> None:
    b.add_argument("spec", nargs="?")
    _overrides(b)
    _output(b, "write the run directory exactly here (default runs/<name>/<time>)")
    b.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its last.pt")
    b.add_argument("--force", action="store_true",
                   help="--out an existing run directory: replace its run files (others stay)")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    b.add_argument("--nproc", type=int, default=None, metavar="K",
                   help="train data-parallel on K processes (launches torchrun; train.batch_size is global)")


def _tune_arguments(t) -> None:
    """tune: a study over the spec's search section (docs/tune.md)."""
    t.add_argument("spec")
    _overrides(t)
    t.add_argument("--trials", type=_positive, help="trials in the study in all (default: search.trials)")
    t.add_argument("--jobs", type=_positive, default=1, help="trials at once, each in its own process "
                   "with a share of the cores (default 1)")
    t.add_argument("--storage", metavar="URL", help="an Optuna database URL shared by processes and machines "
                   "(default: sqlite:///TUNE_DIR/study.db)")
    t.add_argument("--study", metavar="NAME", help="the study's name in the storage (default: <name>-<fp8>, the "
                   "spec's fingerprint; a study of another spec is refused)")
    _output(t, "the tune directory (default: the newest runs/<name>/tune-* of this spec, or a new one)")
    t.add_argument("-q", "--quiet", action="store_true", help="no line per trial")


def _codegen_arguments(g) -> None:
    g.add_argument("spec")
    _overrides(g)
    _output(g, "the script's path (default: standard output)")
    g.add_argument("--distributed", action="store_true",
                   help="a script that also trains data-parallel under torchrun")


def _summary_arguments(s) -> None:
    s.add_argument("spec")
    _overrides(s)
    s.add_argument("--batch", type=_positive, default=1, help="batch size for the memory column (default 1)")


def _export_arguments(e) -> None:
    e.add_argument("target", metavar="RUN_DIR|SPEC")
    e.add_argument("--checkpoint", help="weights to export (default: the run's best.pt)")
    e.add_argument("--format", default="onnx", choices=["onnx"])
    e.add_argument("--with-preprocessing", action="store_true",
                   help="(a run) the graph takes raw rows or uint8 images and does the fitted preprocessing")
    _overrides(e, "(a spec only)")
    _output(e, "the .onnx file (default: RUN_DIR/model.onnx; with --with-preprocessing RUN_DIR/model.raw.onnx; "
            "a spec: <name>.onnx)")


def _predict_arguments(pr) -> None:
    _run_source(pr)
    pr.add_argument("--input", required=True, help="a .csv (with a header), .npy, .npz, an image or a folder")
    _output(pr, "the predictions' file (default: CSV on standard output)")
    pr.add_argument("--format", choices=["csv", "json", "npy", "npz"],
                    help="csv, json (a list of rows), npy (probabilities or values; needs --out) or npz (several "
                    "outputs: one such array per target; needs --out); default: by --out's suffix, else csv")
    pr.add_argument("--keep", action="append", default=[], metavar="COLUMN",
                    help="carry this column of a CSV input through to the output (repeatable), e.g. an id")


def _serve_arguments(sv) -> None:
    """serve: spec-language.md 12.8's options (docs/serving.md)."""
    sv.add_argument("run_dir", metavar="RUN_DIR")
    sv.add_argument("--backend", choices=["torch", "onnx"], default="torch", help="what runs the model "
                    "(default torch; onnx: RUN/model.raw.onnx through onnxruntime, from export --with-preprocessing)")
    sv.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    sv.add_argument("--port", type=int, default=8000, help="the port (default 8000)")
    sv.add_argument("--checkpoint", metavar="FILE", help="weights to serve (default: the run's best.pt)")
    sv.add_argument("--files", metavar="DIR", help="the folder image paths in requests are taken under "
                    "(default: none; images come as base64)")
    sv.add_argument("--max-batch", type=_positive, default=32, metavar="ROWS", help="rows combined into one forward "
                    "(default 32); a larger request runs alone, in chunks of ROWS")
    sv.add_argument("--max-wait-ms", type=float, default=5.0, metavar="MS", help="how long a batch waits for more rows "
                    "while other requests are coming (default 5; never when none are)")
    sv.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="seconds a request may take; then 504 (default 30)")
    sv.add_argument("--max-body", default="10MB", metavar="SIZE", help="the largest request body (default 10MB); over it 413")
    sv.add_argument("--protect-docs", action="store_true", help="/docs and /openapi.json need the "
                    "SPECDL_API_KEY too")


def _evaluate_arguments(ev) -> None:
    _run_source(ev)
    ev.add_argument("--input", required=True, help="a .csv with the target column, an .npz (x and y), or an "
                    "image folder (one sub-folder per class)")
    ev.add_argument("--target", metavar="NAME", help="a CSV's target column, for runs not trained on a CSV "
                    "(default: target); a run of several outputs: the one target to score (default: all)")
    _output(ev, "also write the evaluation as JSON (report.json's layout)")


def _run_source(p) -> None:
    """A run directory, or a spec with a generated script's checkpoint and preprocessing."""
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?", help="the run directory (or give --spec, --checkpoint "
                   "and --preprocess)")
    p.add_argument("--checkpoint", help="weights to use (default: the run's best.pt; with --spec, a generated "
                   "script's <name>.best.pt)")
    p.add_argument("--spec", metavar="SPEC", help="instead of a run directory: the spec a script was generated from")
    p.add_argument("--preprocess", metavar="P", help="with --spec: the script's <name>.preprocess.json")


def _schema_arguments(sc) -> None:
    _output(sc, "the file (default: standard output)")


def _init_arguments(it) -> None:
    it.add_argument("--template", default="mlp", choices=["mlp", "cnn", "resnet", "transfer", "text"])
    _output(it, "the file (default: standard output)")
    it.add_argument("--force", action="store_true", help="overwrite an existing file")


def _example_data_arguments(ex) -> None:
    _output(ex, "folder to write into (default: data)", default="data")


def _layers_arguments(ly) -> None:
    ly.add_argument("name", nargs="?")
    ly.add_argument("--markdown", action="store_true", help="the whole registry as docs/layers.md")


OVERRIDE = re.compile(r"[A-Za-z_][\w-]*(\.[\w-]+)*=.*", re.S)  # train.epochs=3, model.layers.0.linear=64


def _override(text: str) -> str:
    """`-o KEY=VALUE` is an override on every verb; a path given to it is refused."""
    if not OVERRIDE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an override (KEY=VALUE, e.g. train.epochs=3); "
                                         "write an output file with --out PATH")
    return text


def _output_path(text: str) -> str:
    """`--out PATH`: a value that reads as an override is refused, not written as a file;
    an empty one is refused, not read as "the default" or as the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give the output's path")
    if OVERRIDE.fullmatch(text) and "/" not in text.partition("=")[0]:
        raise argparse.ArgumentTypeError(f"{text!r} looks like an override; give it with -o {text} "
                                         "(--out takes the output's path)")
    return text


def _overrides(verb, note: str = "") -> None:
    verb.add_argument("-o", "--set", dest="overrides", action="append", default=[], type=_override,
                      metavar="KEY=VALUE", help=f"override a value by dotted path (repeatable) {note}".strip())


def _no_overrides(verb) -> None:
    """Verbs that take no overrides: `-o` is an error that names --out (not argparse's
    "unrecognized arguments")."""
    verb.add_argument("-o", dest="misplaced_o", metavar="-", type=_no_spec, help=argparse.SUPPRESS)


def _no_spec(text: str) -> str:
    path = text if text.strip() else "PATH"
    raise argparse.ArgumentTypeError(f"this verb reads no spec, so it takes no overrides; "
                                     f"write the output with --out {path}")


def _output(verb, help_: str, default=None) -> None:
    verb.add_argument("--out", dest="output", type=_output_path, default=default, metavar="PATH", help=help_)


def _positive(text: str) -> int:
    """A whole number of 1 or more (argparse reports anything else in one line, exit 2)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"give 1 or more (got {n})")
    return n


def _version() -> str:
    from . import __version__

    return __version__


def _closed_streams() -> bool:
    """Reopen a standard stream the caller closed (`specdl ... >&-`: Python sees None) on
    os.devnull, so nothing crashes on it; True when stdout was closed."""
    closed = sys.stdout is None
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))
    return closed


def main(argv=None) -> int:
    if _closed_streams():
        print("specdl: error: standard output is closed; redirect it (> FILE or > /dev/null)",
              file=sys.stderr)
        return 2
    try:
        code = _main(argv)
    except BrokenPipeError:  # `specdl build s.yaml | head -1`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush there
        code = 141  # as a program killed by SIGPIPE
    if argv is None and "torch" not in sys.modules:
        # A quick command run as a program (check, codegen, layers, ...): its output is
        # written and no torch threads or workers are left, so skip the interpreter's
        # teardown of every module (~35 ms of a 0.3 s `specdl check`).
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe (`specdl check s.yaml | head -1`)
                pass
        os._exit(code)
    return code


def _main(argv) -> int:
    from .components.trust import ALLOW_IMPORT

    args = _parser().parse_args(argv)
    ALLOW_IMPORT.set(bool(getattr(args, "allow_import", False)))
    try:
        _check_environment()
        from .notes import third_party_notes

        with third_party_notes():  # sklearn's, PIL's and torch's warnings about the user's data: notes
            return next(v for v in VERBS if v.name == args.verb).run(args)
    except SpecError as e:
        for issue in e.issues:
            print(issue.render(), file=sys.stderr)
        n = sum(i.severity == "error" for i in e.issues)
        print(f"{n} error{'s' if n != 1 else ''}", file=sys.stderr)
        return 2
    except RunError as e:
        print(f"specdl: error: {one_line(e)}", file=sys.stderr)
        return getattr(e, "exit_code", 2)
    except (MemoryError, RuntimeError, ImportError, AttributeError) as e:  # e.g. can't allocate memory
        from .build.versions import mismatch
        from .front.memory import out_of_memory

        if mismatch(e) is not None:  # a torchvision built for another torch
            print(f"specdl: error: {one_line(mismatch(e))}", file=sys.stderr)
            return 2
        if isinstance(e, (ImportError, AttributeError)) or out_of_memory(e) is None:
            raise
        print(f"specdl: error: {out_of_memory(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("specdl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise  # main's: the reader of our output has gone
    except OSError as e:  # a path the checks let through (a symlink loop, EIO): one line, never a traceback
        where = e.filename if e.filename is not None else "a file"
        print(f"specdl: error: cannot use {one_line(where)}: {e.strerror or e}", file=sys.stderr)
        return 2


def _check_environment() -> None:
    """Environment variables specdl reads hold what they should, and the current directory
    still exists (torch's libraries fail to load without one), before any work."""
    from .build.distributed import environment_problem

    try:
        os.getcwd()
    except OSError:
        raise RunError("the current directory no longer exists (deleted?); cd to one that does") from None
    why = environment_problem()
    if why:
        raise RunError(why)


def _warn(analysis, batch=None):
    from .front.memory import memory_warnings

    for w in [*analysis.warnings, *memory_warnings(analysis, batch)]:
        print(w.render(), file=sys.stderr)


def cmd_check(args) -> int:
    from .build.distributed import world_size
    from .build.start import check_world
    from .front import check
    from .front.summary import shape_table

    a = check(args.spec, args.overrides, export_preflight=bool(args.export))
    check_world(a, world_size())
    _warn(a)
    if args.export or a.spec.export.onnx:
        doubtful = sum("ONNX export" in w.message for w in a.warnings)
        print(f"export preflight (onnx): {len(a.graph.nodes) - doubtful} of {len(a.graph.nodes)} layers "
              f"export{'; see the warnings' if doubtful else ''}")
    if args.show:
        print(a.spec.to_yaml())
    shape_table(a, verbose=False)
    return 0


def cmd_summary(args) -> int:
    from .front import analysis_of as check
    from .front.summary import shape_table

    a = check(args.spec, args.overrides)
    _warn(a, args.batch)
    shape_table(a, verbose=True, batch=args.batch)
    return 0


def cmd_build(args) -> int:
    from .build.start import build_analysis, launch_processes

    code = launch_processes(args.spec, args.overrides, args.resume, args.nproc, sys.argv[1:])
    if code is not None:
        return code
    a = build_analysis(args.spec, args.overrides, args.resume, args.output, args.force, warn=_warn)
    from .build.run import fit  # torch: after the spec checks (a mistake is told in ~0.3 s)

    result = fit(a, out=args.output, resume=args.resume, progress=False if args.quiet else None, force=args.force)
    if result.run_dir is None:
        return 0  # another rank than 0: rank 0 reports
    test = result.metrics
    parts = [f"{k} {v:.4f}" for k, v in test.items() if k != "loss"] + [f"loss {test['loss']:.4g}"]
    print(f"test: {'  '.join(parts)}  (best epoch {result.best_epoch})")
    print(f"run directory: {result.run_dir}")
    return 0


def cmd_tune(args) -> int:
    from .tuning.run import tune

    tune(args.spec, trials=args.trials, jobs=args.jobs, storage=args.storage, study=args.study, out=args.output,
         overrides=args.overrides, progress=False if args.quiet else None, table=True)
    return 0


def cmd_codegen(args) -> int:
    from .files import spec_inputs
    from .front import analysis_of as check
    from .script.render import render

    a = check(args.spec, args.overrides)
    return _write(render(a, distributed=args.distributed), args.output, "the script", spec_inputs(a.spec))


def cmd_layers(args) -> int:
    from .front.summary import layer_catalogue

    return layer_catalogue(args.name, markdown=args.markdown)


def cmd_export(args) -> int:
    from .api import export

    r = export(args.target, args.output, args.checkpoint, overrides=args.overrides,
               with_preprocessing=args.with_preprocessing)
    against = "specdl predict on" if args.with_preprocessing else "torch on"
    print(f"wrote {one_line(r['path'])}: onnx.checker passed; onnxruntime vs {against} {r['verified_batch']} real "
          f"{'raw ' if args.with_preprocessing else ''}inputs (traced with batch {r['example_batch']}): "
          f"max |difference| {r['max_abs_diff']:.3g} (tolerance {r['tolerance']:.3g})")
    if args.with_preprocessing:
        print(f"takes {r['inputs']}")
    else:
        raw = "raw images" if " images " in r["expects"] else "raw rows"
        hint = f"; pass --with-preprocessing for {raw}" if Path(args.target).is_dir() and "(image `" not in \
            r["expects"] else ""  # a run only, not one with an image input (refused)
        print(f"the model {r['expects']}{hint}")
    return 0


def cmd_predict(args) -> int:
    from .runs.predict import predict_file

    n, text = predict_file(args.input, args.output, args.format, args.keep, run_dir=args.run_dir,
                           checkpoint=args.checkpoint, spec=args.spec, preprocess=args.preprocess)
    if args.output:
        print(f"wrote {n} predictions to {one_line(args.output)}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_serve(args) -> int:
    from .serving import without_extra

    try:
        from .serving.server import serve
    except ImportError as e:
        raise without_extra(e) from None
    serve(args.run_dir, args.host, args.port, version=_version(), checkpoint=args.checkpoint,
          backend=args.backend, allow_import=args.allow_import, files=args.files, timeout=args.timeout,
          max_body=args.max_body, protect_docs=args.protect_docs, max_batch=args.max_batch,
          max_wait_ms=args.max_wait_ms)
    return 0


def cmd_evaluate(args) -> int:
    from .runs.evaluate import evaluate_file, show

    report = evaluate_file(args.input, args.target, args.output, run_dir=args.run_dir, checkpoint=args.checkpoint,
                           spec=args.spec, preprocess=args.preprocess)
    show(report)
    if args.output:
        print(f"wrote {one_line(args.output)}", file=sys.stderr)
    return 0


def cmd_schema(args) -> int:
    import json

    from .front.editor_schema import spec_json_schema

    text = json.dumps(spec_json_schema(), indent=1) + "\n"
    return _write(text, args.output)


def cmd_init(args) -> int:
    from .files import templates_dir

    text = (templates_dir() / "init" / f"{args.template}.yaml").read_text()
    if args.output and not args.force:
        if Path(args.output).exists():
            raise RunError(f"{args.output} exists; pass --force to overwrite it")
    return _write(text, args.output)


def _write(text: str, output, what: str = "the output", inputs=()) -> int:
    if output:
        from .files import write_output

        write_output(output, text, what, inputs)
        print(f"wrote {one_line(output)}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_example_data(args) -> int:
    from .build.examples import write_all
    from .files import writable_folder

    writable_folder(args.output, "the example data")
    for p in write_all(Path(args.output)):
        print(f"wrote {one_line(p)}")
    return 0


# The verbs, in the order `specdl --help` lists them: adding a verb is adding a row.
VERBS = (
    Verb("check", "Validate a spec and print its shape table (never imports torch).", """examples:
  $ specdl check specs/digits_cnn.yaml
  $ specdl check specs/iris_mlp.yaml -o model.layers.0.out_features=32 --print""", _check_arguments, cmd_check,
         spec=True),
    Verb("build", "Train a spec, evaluate it on the test split, and write a run directory.", """examples:
  $ specdl build specs/iris_mlp.yaml
  $ specdl build specs/digits_cnn.yaml -o train.epochs=3 --out runs/quick
  $ specdl build --resume runs/digits-cnn/20261127-120000""", _build_arguments, cmd_build, spec=True),
    Verb("tune", "Search the spec's `search` space with Optuna: each trial a run, bad ones pruned; "
         "writes trials.csv, best.yaml and plots.", """examples:
  $ specdl tune specs/diabetes_mlp.yaml --trials 30          # the spec's search section
  $ specdl tune specs/diabetes_mlp.yaml --trials 30 --jobs 2  # the same command continues the study
  $ specdl build runs/diabetes-mlp/tune-20261128-100000/best.yaml""", _tune_arguments, cmd_tune, spec=True),
    Verb("codegen", "Write a standalone PyTorch script for a spec.", """examples:
  $ specdl codegen specs/iris_mlp.yaml --out generated/iris_mlp.py
  $ specdl codegen specs/iris_mlp.yaml -o train.epochs=3 --out quick.py
  $ python generated/iris_mlp.py""", _codegen_arguments, cmd_codegen, spec=True),
    Verb("summary", "Per-layer shapes, parameters, multiply-adds and activation memory.", """examples:
  $ specdl summary specs/digits_cnn.yaml""", _summary_arguments, cmd_summary, spec=True),
    Verb("export", "Export a run's best model (or a spec with a checkpoint) to ONNX, verified with "
         "onnxruntime on real inputs.", """examples:
  $ specdl export runs/iris-mlp/20261127-120000            # its best.pt -> model.onnx, verified
  $ specdl export specs/iris_mlp.yaml --checkpoint best.pt --out iris.onnx
  $ specdl export runs/churn/20261127-120000 --with-preprocessing --out churn.onnx   # raw rows in""",
         _export_arguments, cmd_export, spec=True),
    Verb("predict", "Predict with a finished run (or a generated script's outputs), applying its fitted "
         "preprocessing.", """examples:
  $ specdl predict runs/iris-mlp/20261127-120000 --input new_rows.csv --out predictions.csv
  $ specdl predict runs/cifar-cnn/20261127-120000 --input photos/ --out predictions.json
  $ specdl predict runs/churn/20261127-120000 --input new.csv --keep customer_id --format json""",
         _predict_arguments, cmd_predict, spec=True),
    Verb("evaluate", "Score a finished run on a new labelled file (CSV with the target column, .npz, "
         "or an image folder of class sub-folders), with its fitted preprocessing.", """examples:
  $ specdl evaluate runs/iris-mlp/20261127-120000 --input labelled.csv --target species
  $ specdl evaluate runs/cifar-cnn/20261127-120000 --input photos/ --out evaluation.json""",
         _evaluate_arguments, cmd_evaluate, spec=True),
    Verb("serve", "Serve a finished run over HTTP (FastAPI on uvicorn): POST /predict answers as "
         "`specdl predict --format json` does.", """examples:
  $ specdl serve runs/iris-mlp/20261127-120000                       # http://127.0.0.1:8000/docs
  $ SPECDL_API_KEY=secret specdl serve runs/churn/20261127-120000 --host 0.0.0.0 --port 8080
  $ specdl serve runs/cifar-cnn/20261127-120000 --files /srv/uploads --timeout 10""",
         _serve_arguments, cmd_serve, spec=True),
    Verb("schema", "Write the JSON Schema of specs (for editors and linters).", """examples:
  $ specdl schema --out specdl.schema.json
  # then, first line of a spec:  # yaml-language-server: $schema=./specdl.schema.json""",
         _schema_arguments, cmd_schema),
    Verb("init", "Write a commented starting spec that checks and trains.", """examples:
  $ specdl init --template cnn --out my_cnn.yaml
  $ specdl check my_cnn.yaml""", _init_arguments, cmd_init),
    Verb("example-data", "Write the example image folder and local resnet18 weights the bundled "
         "image specs use.", """examples:
  $ specdl example-data            # writes data/shapes/ and data/checkpoints/resnet18.pth
  $ specdl build specs/cifar_cnn.yaml""", _example_data_arguments, cmd_example_data),
    Verb("layers", "List the layer catalogue with each layer's arguments.", """examples:
  $ specdl layers
  $ specdl layers conv2d""", _layers_arguments, cmd_layers),
)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
