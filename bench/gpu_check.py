"""GPU check (issue 14, "Verifying"): on a CUDA machine that has torch but not the rest
of specdl's dependencies, install what is missing from wheels carried beside the
checkout, run `pytest -m gpu`, the default suite and the GPU benchmarks, and print
every figure, with the GPU's name, in a few minutes.

    python bench/gpu_check.py --download .whl        # here (with network): the wheels a bare
                                                     # CUDA machine lacks, into .whl (git-ignored)
    python bench/gpu_check.py --wheels .whl          # there: install, test, benchmark
    python bench/gpu_check.py --device cpu --quick --no-tests   # the script itself, on the CPU

Benchmarks: the hand-written eager loop (bench/hand.py: data on the device, the loss
summed there) against specdl build in fp32, bf16, with `cuda_graphs` auto and true,
and bf16 with graphs, on digits_cnn (batch 64), resnet_small (30k synthetic 32x32
images, batch 256 and 1024) and transformer_classifier (40k sequences, batch 256).
Throughput is training samples per second in the steady state: the training set over
the median epoch after the first (which pays for warm-up and capture; an epoch's time
includes its validation pass in both loops). Ratios are against the hand loop.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

# import name -> distribution: what specdl imports at run time and its tests need
NEEDED = {"torch": "torch", "torchvision": "torchvision", "numpy": "numpy", "sklearn": "scikit-learn",
          "pydantic": "pydantic", "yaml": "PyYAML", "jinja2": "Jinja2", "rich": "rich",
          "matplotlib": "matplotlib", "onnx": "onnx", "onnxscript": "onnxscript", "onnxruntime": "onnxruntime",
          "optuna": "optuna", "pytest": "pytest", "xdist": "pytest-xdist", "hypothesis": "hypothesis",
          "jsonschema": "jsonschema", "ruff": "ruff", "hatchling": "hatchling"}
# What the bare CUDA image lacks (docs/performance.md, "GPU"): these and their own
# requirements, pinned to the versions installed where --download runs.
CARRIED = ["pydantic", "pydantic-core", "annotated-types", "typing-inspection", "typing-extensions",
           "optuna", "alembic", "sqlalchemy", "colorlog", "mako", "jsonschema", "jsonschema-specifications",
           "referencing", "rpds-py", "ruff", "hatchling", "trove-classifiers", "tomlkit"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64"]
SITE = Path(tempfile.gettempdir()) / "specdl-site"


def download(folder: Path, python: str) -> None:
    """Fill ``folder`` with wheels of CARRIED for CPython ``python`` on x86-64 Linux."""
    from importlib.metadata import version

    pins = [f"{name}=={version(name)}" for name in CARRIED]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", python,
           "--implementation", "cp", *[a for p in PLATFORMS for a in ("--platform", p)], "-d", str(folder), *pins]
    subprocess.run(cmd, check=True)
    print(f"{len(list(folder.glob('*.whl')))} wheels in {folder}")


def install(folder: Path | None) -> None:
    """If anything is missing, install the wheels in ``folder`` (no index, no resolving:
    the folder holds what is missing) into this Python's environment, so that every
    process sees them (the wheel test runs Python isolated); into SITE, on PYTHONPATH,
    where that environment is read-only."""
    missing = [dist for mod, dist in NEEDED.items() if importlib.util.find_spec(mod) is None]
    if missing and folder is not None:
        print(f"installing from {folder}: {', '.join(missing)} missing", flush=True)
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--upgrade"]
        wheels = [str(w) for w in sorted(folder.glob("*.whl"))]
        if subprocess.run([*pip, *wheels]).returncode != 0:
            subprocess.run([*pip, "--target", str(SITE), *wheels], check=True)
            sys.path.insert(0, str(SITE))
        importlib.invalidate_caches()
        missing = [dist for mod, dist in NEEDED.items() if importlib.util.find_spec(mod) is None]
    if missing:
        sys.exit(f"gpu_check: error: missing {', '.join(missing)}; carry their wheels (--download, then --wheels)")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([str(SITE)] if SITE.exists() else [])])


def pytest_run(label: str, args: list[str], timeout: int) -> dict:
    started = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=ROOT,
                           capture_output=True, text=True, timeout=timeout)
        out, code = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired as e:  # what it printed so far
        out, code = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout or "", 124
    lines = [ln for ln in out.splitlines() if ln.strip()]
    failed = [ln for ln in lines if ln.startswith(("FAILED", "ERROR"))]
    print(f"\n== {label}: exit {code}, {time.perf_counter() - started:.0f} s: {lines[-1] if lines else '(no output)'}")
    for ln in failed[:40]:
        print("  " + ln[:300])
    return {"suite": label, "exit": code, "summary": lines[-1] if lines else "", "failed": failed}


# ----------------------------------------------------------------- benchmarks
CASES = {  # name: spec, overrides, epochs (full, quick), quick size
    "digits_cnn b64": ("digits_cnn", ["train.batch_size=64"], (10, 2), None),
    "resnet_small 30k b256": ("resnet_small", ["data.size=30000", "train.batch_size=256"], (4, 2), 600),
    "resnet_small 30k b1024": ("resnet_small", ["data.size=30000", "train.batch_size=1024"], (4, 2), 600),
    "transformer 40k b256": ("transformer_classifier", ["data.size=40000", "train.batch_size=256"], (4, 2), 800),
}
SETUPS = {  # name: overrides (None: the hand-written loop)
    "hand fp32": None,
    "specdl fp32": ["train.cuda_graphs=false"],
    "specdl bf16": ["train.cuda_graphs=false", "train.precision=bf16"],
    "graphs auto": ["train.cuda_graphs=auto"],
    "graphs true": ["train.cuda_graphs=true"],
    "graphs bf16": ["train.cuda_graphs=true", "train.precision=bf16"],
}


def case_overrides(case: tuple, device: str, quick: bool) -> list[str]:
    _, over, epochs, small = case
    over = [f"train.device={device}", f"train.epochs={epochs[quick]}", "train.checkpoint.interval=1000", *over]
    return over + ([f"data.size={small}"] if quick and small else [])


def steady(times: list[float]) -> float:
    return statistics.median(times[1:]) if len(times) > 1 else times[0]


def run_setup(spec: Path, over: list[str], extra: list[str] | None, device: str) -> dict:
    import specdl

    if extra is None:
        from hand import careful_loop

        times: list[float] = []
        _, score = careful_loop(spec, over, threads=os.cpu_count() or 1, device=device, epoch_times=times)
        n = specdl.check(spec, over)
        from specdl.build.data import prepare

        return {"train": len(prepare(n.spec, n).y["train"]), "epoch_s": steady(times), "first_s": times[0],
                "accuracy": score.get("accuracy"), "graphs": False}
    with tempfile.TemporaryDirectory() as d:
        r = specdl.train(spec, out=Path(d) / "r", overrides=[*over, *extra])
        rep = json.loads((r.run_dir / "report.json").read_text())
        rows = [json.loads(x) for x in (r.run_dir / "metrics.jsonl").read_text().splitlines()]
    times = [row["time_s"] for row in rows]
    return {"train": rep["samples"]["train"], "epoch_s": steady(times), "first_s": times[0],
            "accuracy": r.metrics.get("accuracy"), "graphs": rep["cuda_graphs"]}


def benchmarks(device: str, quick: bool, only: list[str] | None = None) -> list[dict]:
    import torch

    rows = []
    print(f"\n== benchmarks on {device}" + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else ""))
    print(f"{'case':24} {'setup':12} {'samples/s':>10} {'x hand':>7} {'first epoch':>11} {'accuracy':>8} graphs")
    for case_name, case in CASES.items():
        if only and not case_name.startswith(tuple(only)):
            continue
        spec, over, base = ROOT / "specs" / f"{case[0]}.yaml", case_overrides(case, device, quick), None
        for setup, extra in SETUPS.items():
            if device != "cuda" and extra is not None and "train.cuda_graphs=true" in extra:
                print(f"{case_name:24} {setup:12} {'(needs CUDA)':>10}")
                continue
            res = run_setup(spec, over, extra, device)
            sps = res["train"] / res["epoch_s"]
            base = base or sps
            row = {"case": case_name, "setup": setup, "samples_per_s": round(sps), "x_hand": round(sps / base, 2),
                   "first_epoch_s": round(res["first_s"], 3), "accuracy": res["accuracy"], "graphs": res["graphs"]}
            rows.append(row)
            acc = "-" if res["accuracy"] is None else f"{res['accuracy']:.4f}"
            print(f"{case_name:24} {setup:12} {sps:10.0f} {sps / base:7.2f} {res['first_s']:10.2f}s {acc:>8} "
                  f"{res['graphs']}", flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--wheels", type=Path, help="install what is missing from the wheels in this folder")
    p.add_argument("--download", type=Path, help="fill this folder with the wheels to carry, then stop")
    p.add_argument("--python", default="3.12", help="the CUDA machine's Python version (for --download)")
    p.add_argument("--quick", action="store_true", help="tiny sizes and 2 epochs (to test this script)")
    p.add_argument("--no-tests", action="store_true", help="skip the test suites")
    p.add_argument("--no-bench", action="store_true", help="skip the benchmarks")
    p.add_argument("--workers", default="12", help="pytest-xdist workers for the default suite")
    p.add_argument("--cases", nargs="*", help="only the cases whose name starts with one of these")
    p.add_argument("--json", type=Path, help="also write every figure here")
    args = p.parse_args(argv)
    if args.download:
        args.download.mkdir(parents=True, exist_ok=True)
        return download(args.download, args.python)
    install(args.wheels)
    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, GPU: {gpu}, {os.cpu_count()} cores", flush=True)
    out = {"gpu": gpu, "torch": torch.__version__, "tests": [], "bench": []}
    if not args.no_tests:
        out["tests"].append(pytest_run("pytest -m gpu", ["-m", "gpu", "-n", "4"], timeout=360))
        out["tests"].append(pytest_run("default suite", ["-m", "not fuzz and not slow and not gpu", "-n", args.workers],
                                       timeout=540))
    if not args.no_bench:
        from conftest_data import ensure

        ensure()
        out["bench"] = benchmarks(args.device, args.quick, args.cases)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
