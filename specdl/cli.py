"""The command line: thin verbs over the API. User errors exit 2 with one located
line each and no traceback; runtime failures exit 1 with one line saying what to do."""

from __future__ import annotations

import argparse
import os
import sys

from .errors import RunError, SpecError

EXAMPLES = {
    "check": """examples:
  $ specdl check specs/digits_cnn.yaml
  $ specdl check specs/iris_mlp.yaml -o model.layers.0.out_features=32 --print""",
    "build": """examples:
  $ specdl build specs/iris_mlp.yaml
  $ specdl build specs/digits_cnn.yaml -o train.epochs=3 --out runs/quick
  $ specdl build --resume runs/digits-cnn/20261127-120000""",
    "codegen": """examples:
  $ specdl codegen specs/iris_mlp.yaml -o generated/iris_mlp.py
  $ python generated/iris_mlp.py""",
    "summary": """examples:
  $ specdl summary specs/digits_cnn.yaml""",
    "example-data": """examples:
  $ specdl example-data            # writes data/shapes/ and data/checkpoints/resnet18.pth
  $ specdl build specs/cifar_cnn.yaml""",
    "export": """examples:
  $ specdl export runs/iris-mlp/20261127-120000            # its best.pt -> model.onnx, verified
  $ specdl export specs/iris_mlp.yaml --checkpoint best.pt -o iris.onnx""",
    "predict": """examples:
  $ specdl predict runs/iris-mlp/20261127-120000 --input new_rows.csv -o predictions.csv
  $ specdl predict runs/cifar-cnn/20261127-120000 --input photos/ -o predictions.json""",
    "schema": """examples:
  $ specdl schema -o specdl.schema.json
  # then, first line of a spec:  # yaml-language-server: $schema=./specdl.schema.json""",
    "init": """examples:
  $ specdl init --template cnn -o my_cnn.yaml
  $ specdl check my_cnn.yaml""",
    "layers": """examples:
  $ specdl layers
  $ specdl layers conv2d""",
}


class _Parser(argparse.ArgumentParser):
    """Bad arguments are one line, like every other error (no usage block)."""

    def error(self, message):
        verb = self.prog.split()[1:]
        where = f"{verb[0]}: " if verb else ""
        self.exit(2, f"specdl: error: {where}{message} (see `{self.prog} --help`)\n")


def _count(text: str) -> int:
    """A positive whole number (a batch size, a process count)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="specdl", description="Declarative model specs for PyTorch: "
                                "check, build (train) and codegen.")
    p.add_argument("--version", action="version", version=f"specdl {_version()}")
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name, help_):
        return sub.add_parser(name, help=help_, description=help_, epilog=EXAMPLES[name],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    c = verb("check", "Validate a spec and print its shape table (never imports torch).")
    c.add_argument("spec")
    c.add_argument("-o", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value by dotted path (repeatable)")
    c.add_argument("--print", dest="show", action="store_true", help="also print the canonical spec")
    c.add_argument("--export", choices=["onnx"], help="also run the export preflight (as export: {onnx: true})")
    c.add_argument("--allow-import", action="store_true",
                   help="import the user modules that `module:` layers name, to size them")
    b = verb("build", "Train a spec, evaluate it on the test split, and write a run directory.")
    b.add_argument("spec", nargs="?")
    b.add_argument("-o", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value by dotted path (repeatable)")
    b.add_argument("--out", help="write the run directory exactly here (default runs/<name>/<time>)")
    b.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its last.pt")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    b.add_argument("--nproc", type=_count, default=None, metavar="K",
                   help="train data-parallel on K processes (launches torchrun; train.batch_size is global)")
    g = verb("codegen", "Write a standalone PyTorch script for a spec.")
    g.add_argument("spec")
    g.add_argument("-o", "--output", help="the script's path (default: standard output)")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    g.add_argument("--distributed", action="store_true",
                   help="a script that also trains data-parallel under torchrun")
    s = verb("summary", "Per-layer shapes, parameters, multiply-adds and activation memory.")
    s.add_argument("spec")
    s.add_argument("-o", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument("--batch", type=_count, default=1, help="batch size for the memory column (default 1)")
    e = verb("export", "Export a run's best model (or a spec with a checkpoint) to ONNX, verified with "
             "onnxruntime on real inputs.")
    e.add_argument("target", metavar="RUN_DIR|SPEC")
    e.add_argument("--checkpoint", help="weights to export (default: the run's best.pt)")
    e.add_argument("--format", default="onnx", choices=["onnx"])
    e.add_argument("-o", "--output", help="the .onnx file (default: RUN_DIR/model.onnx, or <name>.onnx)")
    pr = verb("predict", "Predict with a finished run, applying its fitted preprocessing.")
    pr.add_argument("run_dir", metavar="RUN_DIR")
    pr.add_argument("--input", required=True, help="a .csv (with a header), .npy, .npz, an image or a folder")
    pr.add_argument("-o", "--output", help="a .csv or .json file (default: CSV on standard output)")
    pr.add_argument("--checkpoint", help="weights to use (default: the run's best.pt)")
    sc = verb("schema", "Write the JSON Schema of specs (for editors and linters).")
    sc.add_argument("-o", "--output", help="the file (default: standard output)")
    it = verb("init", "Write a commented starting spec that checks and trains.")
    it.add_argument("--template", default="mlp", choices=["mlp", "cnn", "resnet", "transfer"])
    it.add_argument("-o", "--output", help="the file (default: standard output)")
    it.add_argument("--force", action="store_true", help="overwrite an existing file")
    ex = verb("example-data", "Write the example image folder and local resnet18 weights the bundled "
              "image specs use.")
    ex.add_argument("--out", default="data", help="folder to write into (default: data)")
    ly = verb("layers", "List the layer catalogue with each layer's arguments.")
    ly.add_argument("name", nargs="?")
    ly.add_argument("--markdown", action="store_true", help="the whole registry as docs/layers.md")
    return p


def _version() -> str:
    from . import __version__

    return __version__


def main(argv=None) -> int:
    code = _main(argv)
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
    args = _parser().parse_args(argv)
    try:
        return VERBS[args.verb](args)
    except SpecError as e:
        for issue in e.issues:
            print(issue.render(), file=sys.stderr)
        n = sum(i.severity == "error" for i in e.issues)
        print(f"{n} error{'s' if n != 1 else ''}", file=sys.stderr)
        return 2
    except RunError as e:
        print(f"specdl: error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 2)
    except KeyboardInterrupt:
        print("specdl: interrupted", file=sys.stderr)
        return 130


def _warn(analysis):
    for w in analysis.warnings:
        print(w.render(), file=sys.stderr)


def cmd_check(args) -> int:
    from .api import check
    from .distributed import world_size
    from .summary import shape_table

    a = check(args.spec, args.overrides, allow_import=args.allow_import, export_preflight=bool(args.export))
    _check_world(a, world_size())
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
    from .api import _analysis as check
    from .summary import shape_table

    a = check(args.spec, args.overrides)
    _warn(a)
    shape_table(a, verbose=True, batch=args.batch)
    return 0


def cmd_build(args) -> int:
    from .api import _analysis as check

    if args.nproc and args.nproc > 1:
        from .distributed import launch, world_size

        if world_size() <= 1:
            argv = [a for a in sys.argv[1:]]
            i = argv.index("--nproc")
            del argv[i:i + 2]
            a = check(args.spec or f"{args.resume}/spec.yaml", args.overrides)
            _check_world(a, args.nproc)
            return launch(args.nproc, argv)
    from .trainer import fit

    if args.resume:
        from pathlib import Path

        a = check(Path(args.resume) / "spec.yaml", args.overrides)
    elif args.spec:
        a = check(args.spec, args.overrides)
    else:
        raise RunError("give a spec to build, or --resume RUN_DIR")
    _warn(a)
    from .distributed import world_size

    _check_world(a, world_size())
    result = fit(a, out=args.out, resume=args.resume, progress=False if args.quiet else None)
    if result.run_dir is None:
        return 0  # another rank than 0: rank 0 reports
    test = result.metrics
    parts = [f"{k} {v:.4f}" for k, v in test.items() if k != "loss"] + [f"loss {test['loss']:.4g}"]
    print(f"test: {'  '.join(parts)}  (best epoch {result.best_epoch})")
    print(f"run directory: {result.run_dir}")
    return 0


def _check_world(a, world: int) -> None:
    """The global batch must split evenly over the ranks."""
    if world > 1 and a.spec.train.batch_size % world:
        from .errors import SpecError

        raise SpecError([a.spec._source.issue(("train", "batch_size"), f"the global batch of "
                         f"{a.spec.train.batch_size} does not split over {world} processes; use a multiple of {world}")])


def cmd_codegen(args) -> int:
    from .api import _analysis as check
    from .generate import render

    code = render(check(args.spec, args.overrides), distributed=args.distributed)
    if args.output:
        from pathlib import Path

        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(code)
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(code)
    return 0


def cmd_layers(args) -> int:
    from .summary import layer_catalogue

    return layer_catalogue(args.name, markdown=args.markdown)


def cmd_export(args) -> int:
    from .api import export

    r = export(args.target, args.output, args.checkpoint)
    print(f"wrote {r['path']}: onnx.checker passed; onnxruntime vs torch on {r['verified_batch']} real "
          f"inputs (traced with batch {r['example_batch']}): max |difference| {r['max_abs_diff']:.3g} "
          f"(tolerance {r['tolerance']:g})")
    return 0


def cmd_predict(args) -> int:
    from .runs import LoadedRun, read_inputs, write_predictions

    run = LoadedRun(args.run_dir, args.checkpoint)
    pred = run.predict(read_inputs(run, args.input))
    text = write_predictions(pred, args.output, getattr(run, "files", None))
    if args.output:
        print(f"wrote {len(pred['prediction'])} predictions to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_schema(args) -> int:
    import json

    from .editor_schema import spec_json_schema

    text = json.dumps(spec_json_schema(), indent=1) + "\n"
    return _write(text, args.output)


def cmd_init(args) -> int:
    from .generate import templates_dir

    text = (templates_dir() / "init" / f"{args.template}.yaml").read_text()
    if args.output and not args.force:
        from pathlib import Path

        if Path(args.output).exists():
            raise RunError(f"{args.output} exists; pass --force to overwrite it")
    return _write(text, args.output)


def _write(text: str, output) -> int:
    if output:
        from pathlib import Path

        Path(output).write_text(text)
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_example_data(args) -> int:
    from pathlib import Path

    from .examples import write_all

    for p in write_all(Path(args.out)):
        print(f"wrote {p}")
    return 0


VERBS = {"schema": cmd_schema, "init": cmd_init, "export": cmd_export, "predict": cmd_predict, "example-data": cmd_example_data, "check": cmd_check, "build": cmd_build, "codegen": cmd_codegen, "summary": cmd_summary,
         "layers": cmd_layers}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
