"""The benchmark suite: every ratio measured side by side in one run (alternating,
several repetitions, medians), on this machine.

    python bench/suite.py [--reps 3] [--json bench/results/latest.json]

Cases: Iris MLP, diabetes MLP, digits CNN, the CIFAR-style CNN on the generated image
folder, the ResNet-style spec on synthetic 32x32 data. For each it prints

* specdl build vs the same model and loop written by hand (bench/hand.py: in-memory
  slicing, validation each epoch, the same threads): training time ratio and both
  test metrics (ratio <= 1.05 means specdl costs under 5%);
* specdl build vs the article's loops as written (DataLoader over a TensorDataset,
  torch's default threads) for the article's three programs, on an idle machine and
  with the other core loaded by a busy process the suite starts itself;
* the generated script vs specdl build (whole-process wall time);
* startup: `specdl check` on digits and on a 1,000-layer spec, build_model of that
  spec, and specdl build's own time before and after training;
* the digits CNN step: specdl's choices vs the hand-written eager step (torch defaults);
* peak memory (max RSS) of specdl build vs the hand-written loop on digits;
* the measurements behind each setting specdl picks by itself (bench/choices.py):
  threads idle and loaded, convolution kernels, optimizer kernels, channels_last.
"""

from __future__ import annotations

import argparse
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

import choices  # noqa: E402
import torch  # noqa: E402
from article_loops import PROGRAMS  # noqa: E402
from hand import careful_loop  # noqa: E402

import specdl  # noqa: E402

CASES = {  # spec, epochs for the timing runs (Iris: its spec's own 500; its epochs take ~1 ms)
    "iris_mlp": 500, "diabetes_mlp": 100, "digits_cnn": 15, "cifar_cnn": 4, "resnet_small": 2}
DEFAULT_THREADS = torch.get_num_threads()


def median_of(fn, reps):
    vals = [fn() for _ in range(reps)]
    return statistics.median(v[0] for v in vals), vals[-1][1]


def specdl_run(spec, over):
    with tempfile.TemporaryDirectory() as d:
        r = specdl.train(spec, out=Path(d) / "r", overrides=over)
        rep = json.loads((r.run_dir / "report.json").read_text())
    return rep["train_time_s"], r.metrics, rep["threads"]


def vs_hand(reps):
    rows = []
    for case, epochs in CASES.items():
        spec, over = ROOT / "specs" / f"{case}.yaml", [f"train.epochs={epochs}"]
        s_times, h_times = [], []
        specdl_run(spec, over)  # one untimed run of each side first: allocator, caches, page faults
        careful_loop(spec, over, DEFAULT_THREADS)
        torch.set_num_threads(DEFAULT_THREADS)
        for _ in range(reps):  # alternate
            t, s_metrics, threads = specdl_run(spec, over)
            s_times.append(t)
            torch.set_num_threads(DEFAULT_THREADS)
            ht, h_metrics = careful_loop(spec, over, threads)
            h_times.append(ht)
            torch.set_num_threads(DEFAULT_THREADS)
        key = "accuracy" if "accuracy" in h_metrics else "r2"
        s, h = statistics.median(s_times), statistics.median(h_times)
        rows.append({"case": case, "epochs": epochs, "threads": threads, "specdl_s": round(s, 3),
                     "hand_s": round(h, 3), "ratio": round(s / h, 3), "specdl_test": round(s_metrics[key], 4),
                     "hand_test": round(h_metrics[key], 4), "metric": key})
    return rows


def vs_article(reps, loaded: bool):
    rows = []
    hog = choices.busy_core() if loaded else None
    try:
        for case in ("iris_mlp", "diabetes_mlp", "digits_cnn"):
            spec = ROOT / "specs" / f"{case}.yaml"
            epochs = CASES[case]
            a_times, s_times = [], []
            PROGRAMS[case](1)  # untimed warm-up of both sides
            specdl_run(spec, ["train.epochs=1"])
            for _ in range(reps):
                torch.set_num_threads(DEFAULT_THREADS)
                secs, _ = PROGRAMS[case](epochs)
                a_times.append(secs)
                s_times.append(specdl_run(spec, [f"train.epochs={epochs}"])[0])
                torch.set_num_threads(DEFAULT_THREADS)
            a, s = statistics.median(a_times), statistics.median(s_times)
            rows.append({"case": case, "loaded": loaded, "epochs": epochs, "article_s": round(a, 3),
                         "specdl_s": round(s, 3), "speedup": round(a / s, 2)})
    finally:
        if hog:
            hog.kill()
    return rows


def wall(cmd, cwd):
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    return time.perf_counter() - t


def script_vs_build(reps):
    rows = []
    for case in ("iris_mlp", "digits_cnn"):
        with tempfile.TemporaryDirectory() as d:
            over = [f"train.epochs={CASES[case]}"]
            subprocess.run([sys.executable, "-m", "specdl", "codegen", str(ROOT / "specs" / f"{case}.yaml"),
                            "--set", over[0], "--out", f"{d}/s.py"], check=True, capture_output=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
            b, g = [], []
            for _ in range(reps):
                b.append(wall([sys.executable, "-m", "specdl", "build", str(ROOT / "specs" / f"{case}.yaml"),
                               "-o", over[0], "--out", f"{d}/r", "--force", "-q"], d))
                g.append(wall([sys.executable, f"{d}/s.py"], d))
        rows.append({"case": case, "build_wall_s": round(statistics.median(b), 2),
                     "script_wall_s": round(statistics.median(g), 2),
                     "script_over_build": round(statistics.median(g) / statistics.median(b), 2)})
    return rows


def startup(reps):
    """specdl check's wall time against the interpreter alone and the interpreter with
    specdl's own imports (pydantic, PyYAML, rich): what is left is specdl's."""
    import compileall

    compileall.compile_dir(str(ROOT / "specdl"), quiet=1)  # as an install does (PYTHONDONTWRITEBYTECODE)
    bare = statistics.median(wall([sys.executable, "-c", "pass"], ROOT) for _ in range(reps))
    deps = statistics.median(wall([sys.executable, "-c", "import pydantic, yaml, rich.console, rich.table"], ROOT)
                             for _ in range(reps))
    big = {"name": "deep", "data": {"source": "synthetic", "shape": [16], "classes": 2},
           "model": {"layers": [{"linear": 16}, "relu"] * 499 + [{"linear": 16}, {"linear": 2}]}}
    with tempfile.TemporaryDirectory() as d:
        import yaml

        (Path(d) / "deep.yaml").write_text(yaml.safe_dump(big))
        check_digits = statistics.median(wall([sys.executable, "-m", "specdl", "check",
                                               str(ROOT / "specs" / "digits_cnn.yaml")], d)
                                         for _ in range(max(reps, 5)))
        check_deep = statistics.median(wall([sys.executable, "-m", "specdl", "check", "deep.yaml"], d)
                                       for _ in range(reps))
        t = time.perf_counter()
        a = specdl.check(Path(d) / "deep.yaml")
        t_check = time.perf_counter() - t
        t = time.perf_counter()
        specdl.build_model(a.spec)
        t_build = time.perf_counter() - t
        first = first_step(Path(d))
    return {"python_bare_wall_s": round(bare, 3), "python_with_deps_wall_s": round(deps, 3),
            "check_digits_wall_s": round(check_digits, 3), "check_1000_layers_wall_s": round(check_deep, 3),
            "check_1000_layers_in_process_s": round(t_check, 3), "build_model_1000_layers_s": round(t_build, 3),
            **first}


FIRST_STEP = """
import json, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
# What any program training on scikit-learn's data pays: importing scikit-learn, and
# torch.optim's first optimizer, which imports torch._dynamo.
import sklearn.datasets
torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
t2 = time.perf_counter()
import specdl
a = specdl.check("specs/digits_cnn.yaml", ["train.epochs=1"])
t3 = time.perf_counter()
r = specdl.train(a.spec, out=sys.argv[1])
total = time.perf_counter() - t3
rep = json.loads((r.run_dir / "report.json").read_text())
print(json.dumps({"torch_import_s": t1 - t0, "libraries_s": t2 - t1, "check_s": t3 - t2,
                  "setup_s": rep["setup_s"], "after_training_s": total - rep["setup_s"] - rep["train_time_s"]}))
"""


def first_step(d: Path) -> dict:
    """specdl build's own time before its first training step, in a fresh process as a
    user runs it (digits): check, then loading the data and building the model, with the
    imports any equivalent program pays (torch, scikit-learn, torch.optim's) timed apart.
    And its time after training (test pass, report, plots)."""
    r = subprocess.run([sys.executable, "-c", FIRST_STEP, str(d / "first")], cwd=ROOT, capture_output=True,
                       text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout.strip().splitlines()[-1])
    return {"fresh_process_torch_import_s": round(v["torch_import_s"], 3),
            "fresh_process_sklearn_and_optim_imports_s": round(v["libraries_s"], 3),
            "build_before_first_step_s": round(v["check_s"] + v["setup_s"], 3),
            "build_after_training_s": round(v["after_training_s"], 3)}


def digits_step(reps):
    """ms per training step (forward, backward, AdamW; batch 32) of the digits CNN: torch's
    defaults (as the hand-written loop runs) vs the settings specdl applies for this spec
    (threads, oneDNN and NNPACK, fused optimizer), alternating."""
    from specdl.front.plan import plan

    a = specdl.check(ROOT / "specs" / "digits_cnn.yaml")
    xb, yb = choices.batch(a)
    p = plan(a, "cpu")
    kernels = p.onednn
    ms = choices.compare({
        "eager_default": (choices.make_step(a, xb, yb, opt_kwargs={}), {"threads": DEFAULT_THREADS}),
        "specdl": (choices.make_step(a, xb, yb), {"threads": p.threads or DEFAULT_THREADS,
                                                  "onednn": kernels, "nnpack": kernels})}, max(reps, 5))
    e, s = ms["eager_default"], ms["specdl"]
    fused = a.spec.optimizer.ctor().kwargs.get("fused")
    return {"eager_default_ms": e, "specdl_ms": s, "speedup": round(e / s, 2),
            "specdl_choices": f"threads={p.threads}, oneDNN and NNPACK {'on' if kernels else 'off'}, "
                              f"{'fused' if fused else 'for-loop'} AdamW"}


def peak_memory():
    code_build = ("import specdl, tempfile; specdl.train('specs/digits_cnn.yaml', out=tempfile.mkdtemp() + '/r', "
                  "overrides=['train.epochs=5'])")
    code_hand = ("import sys; sys.path.insert(0, 'bench'); from hand import careful_loop; "
                 "careful_loop('specs/digits_cnn.yaml', ['train.epochs=5'], 1)")
    out = {}
    for name, code in (("specdl_build_mb", code_build), ("hand_loop_mb", code_hand)):
        r = subprocess.run([sys.executable, "-c",
                            code + "; import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
                           cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert r.returncode == 0, r.stderr
        out[name] = round(int(r.stdout.split()[-1]) / 1024, 1)
    out["ratio"] = round(out["specdl_build_mb"] / out["hand_loop_mb"], 2)
    return out


def compare(old, new, path="") -> list[str]:
    """One line per number that both results hold at the same place (rows matched by
    their case name) and that changed."""
    if isinstance(new, dict) and isinstance(old, dict):
        return [ln for k in new if k in old for ln in compare(old[k], new[k], f"{path}.{k}" if path else k)]
    if isinstance(new, list) and isinstance(old, list):
        by_case = {r.get("case"): r for r in old if isinstance(r, dict)}
        return [ln for r in new if isinstance(r, dict) and r.get("case") in by_case
                for ln in compare(by_case[r["case"]], r, f"{path}[{r['case']}]")]
    if isinstance(new, (int, float)) and isinstance(old, (int, float)) and not isinstance(new, bool) and old != new:
        return [f"{path}: {old} -> {new}"]
    return []


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    p.add_argument("--only", nargs="+", metavar="SECTION", help="run these sections only (names as printed)")
    p.add_argument("--compare", type=Path, metavar="OLD_JSON",
                   help="print each figure next to the one in an earlier results file (copy it first: "
                        "a full run overwrites --json)")
    args = p.parse_args(argv)
    old = json.loads(args.compare.read_text()) if args.compare else None
    os.chdir(ROOT)
    from conftest_data import ensure  # noqa: F401 - example data for the image case

    res = {"machine": {"cores": os.cpu_count(), "torch": torch.__version__, "default_threads": DEFAULT_THREADS},
           "reps": args.reps}
    steps = [("vs_hand", lambda: vs_hand(args.reps)), ("vs_article_idle", lambda: vs_article(args.reps, False)),
             ("vs_article_loaded", lambda: vs_article(args.reps, True)),
             ("script_vs_build", lambda: script_vs_build(args.reps)), ("startup", lambda: startup(args.reps)),
             ("digits_step", lambda: digits_step(args.reps)), ("peak_memory", peak_memory),
             ("choices", lambda: choices.run(args.reps))]
    for name, fn in steps:
        if args.only and name not in args.only:
            continue
        t = time.perf_counter()
        res[name] = fn()
        print(f"\n== {name} ({time.perf_counter() - t:.0f} s)", flush=True)
        for sub, rows in (res[name].items() if name == "choices" else [(None, res[name])]):
            if sub:
                print(f"  -- {sub}")
            for row in rows if isinstance(rows, list) else [rows]:
                print("  " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    if old is not None:
        print(f"\n== compared with {args.compare} (old -> new)")
        for line in compare(old, {k: v for k, v in res.items() if k not in ("machine", "reps")}):
            print("  " + line)
    if args.only:  # a partial run does not replace the results file
        return
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
