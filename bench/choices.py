"""The measurements behind the torch settings specdl picks by itself (docs/performance.md):
one training step (forward, backward, optimizer; the spec's batch size) of the bundled
specs under each alternative, alternating, median of the repetitions.

    python bench/choices.py [--reps 5] [--compile]

* threads: 1 vs 2 intra-op threads, idle and with the other core busy, per spec, next
  to the step's multiply-adds (the policy: 1 thread under front/plan.py's SMALL_STEP_MACS);
* convolution kernels on the CPU: oneDNN, NNPACK (oneDNN off), or torch's plain
  im2col + matmul kernels (both off), at the thread count the policy picks;
* optimizer kernels: fused vs foreach vs the for-loop default (digits, AdamW);
* channels_last memory format (with oneDNN, which is what it would feed);
* torch.compile (with --compile; tens of seconds of compilation per model).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import torch  # noqa: E402

import specdl  # noqa: E402
from specdl.build.data import prepare  # noqa: E402
from specdl.build.device import torch_flags  # noqa: E402
from specdl.components.trust import resolve  # noqa: E402
from specdl.front.plan import plan  # noqa: E402

CASES = ("iris_mlp", "diabetes_mlp", "digits_cnn", "cifar_cnn", "resnet_small")


def batch(a):
    """One real training batch of the spec's data."""
    arrays, bs = prepare(a.spec, a), a.spec.train.batch_size
    if a.spec.data.file_backed:
        from torch.utils.data import DataLoader

        return next(iter(DataLoader(arrays.x["train"], batch_size=bs)))
    ydt = torch.int64 if a.task == "classification" else torch.float32
    return (torch.as_tensor(arrays.x["train"][:bs], dtype=torch.float32),
            torch.as_tensor(arrays.y["train"][:bs], dtype=ydt))


def make_step(a, xb, yb, opt_kwargs=None, channels_last=False, compiled=False):
    torch.manual_seed(0)
    model = specdl.build_model(a.spec)
    if channels_last:  # the weights; the activations follow (as specdl does it)
        model = model.to(memory_format=torch.channels_last)
    ctor = a.spec.optimizer.ctor()
    kwargs = dict(ctor.kwargs)
    if opt_kwargs is not None:  # another kernel choice instead of specdl's
        kwargs = {k: v for k, v in kwargs.items() if k not in ("fused", "foreach")} | opt_kwargs
    opt = resolve(ctor.fn)(model.parameters(), **kwargs)
    loss_fn = a.loss.ctor()()
    run = torch.compile(model) if compiled else model

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(run(xb), yb).backward()
        opt.step()
    return step


def ms_per_step(step, seconds=0.25) -> float:
    """Warm up, then time as many steps as fit in about ``seconds``."""
    for _ in range(3):
        step()
    t = time.perf_counter()
    step()
    one = max(time.perf_counter() - t, 1e-5)
    n = max(3, int(seconds / one))
    t = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t) / n * 1e3


def compare(variants: dict, reps: int) -> dict:
    """{name: (step, settings kwargs)} -> {name: median ms}, alternating."""
    times = {k: [] for k in variants}
    for _ in range(reps):
        for k, (step, kw) in variants.items():
            with torch_flags(**kw):
                times[k].append(ms_per_step(step))
    return {k: round(statistics.median(v), 3) for k, v in times.items()}


def busy_core():
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def threads_rows(reps):
    rows = []
    for case in CASES:
        a = specdl.check(ROOT / "specs" / f"{case}.yaml")
        xb, yb = batch(a)
        step = make_step(a, xb, yb)
        macs = sum(n.macs() for n in a.graph.nodes) * a.spec.train.batch_size
        row = {"case": case, "step_macs_M": round(macs / 1e6, 1), "policy": plan(a, "cpu").threads or torch.get_num_threads()}
        for loaded in (False, True):
            hog = busy_core() if loaded else None
            try:
                ms = compare({t: (step, {"threads": t}) for t in (1, 2)}, reps)
            finally:
                if hog:
                    hog.kill()
            tag = "loaded" if loaded else "idle"
            row |= {f"1t_{tag}_ms": ms[1], f"2t_{tag}_ms": ms[2]}
        rows.append(row)
    return rows


def conv_rows(reps):
    rows = []
    for case in ("digits_cnn", "cifar_cnn", "resnet_small"):
        a = specdl.check(ROOT / "specs" / f"{case}.yaml")
        xb, yb = batch(a)
        step = make_step(a, xb, yb)
        p = plan(a, "cpu")
        t = p.threads or torch.get_num_threads()
        ms = compare({"onednn": (step, {"threads": t}),
                      "nnpack": (step, {"threads": t, "onednn": False}),
                      "plain": (step, {"threads": t, "onednn": False, "nnpack": False})}, reps)
        rows.append({"case": case, "threads": t, **{f"{k}_ms": v for k, v in ms.items()},
                     "specdl_uses": "onednn" if p.onednn else "plain"})
    return rows


def optimizer_row(reps):
    a = specdl.check(ROOT / "specs" / "digits_cnn.yaml")
    xb, yb = batch(a)
    kw = {"threads": 1, "onednn": False, "nnpack": False}
    ms = compare({"fused": (make_step(a, xb, yb, {"fused": True}), kw),
                  "foreach": (make_step(a, xb, yb, {"foreach": True}), kw),
                  "for_loop": (make_step(a, xb, yb, {"foreach": False}), kw)}, reps)
    return {"case": "digits_cnn (AdamW)", **{f"{k}_ms": v for k, v in ms.items()}}


def channels_last_rows(reps):
    rows = []
    for case in ("digits_cnn", "cifar_cnn", "resnet_small", "unet_small"):
        a = specdl.check(ROOT / "specs" / f"{case}.yaml", ["train.channels_last=false"])
        xb, yb = batch(a)
        p = plan(a, "cpu")
        kw = {"threads": p.threads or torch.get_num_threads(), "onednn": p.onednn, "nnpack": p.onednn}
        ms = compare({"nchw": (make_step(a, xb, yb), kw),
                      "nhwc": (make_step(a, xb, yb, channels_last=True), kw)}, reps)
        rows.append({"case": case, "kernels": "onednn" if p.onednn else "plain",
                     **{f"{k}_ms": v for k, v in ms.items()},
                     "specdl_uses": "nhwc" if plan(specdl.check(ROOT / "specs" / f"{case}.yaml"), "cpu").channels_last
                     else "nchw"})
    return rows


def compile_row(reps):
    a = specdl.check(ROOT / "specs" / "digits_cnn.yaml")
    xb, yb = batch(a)
    compiled = make_step(a, xb, yb, compiled=True)
    t = time.perf_counter()
    with torch_flags(threads=1):
        compiled()
        compiled()
    compile_s = time.perf_counter() - t
    ms = compare({"eager": (make_step(a, xb, yb), {"threads": 1, "onednn": False, "nnpack": False}),
                  "compiled": (compiled, {"threads": 1})}, reps)
    return {"case": "digits_cnn", "compile_s": round(compile_s, 1), **{f"{k}_ms": v for k, v in ms.items()}}


def run(reps: int, with_compile: bool = False) -> dict:
    from conftest_data import ensure

    ensure()
    out = {"threads": threads_rows(reps), "conv_kernels": conv_rows(reps), "optimizer": [optimizer_row(reps)],
           "channels_last": channels_last_rows(reps)}
    if with_compile:
        out["compile"] = [compile_row(reps)]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--compile", action="store_true", help="also time torch.compile (slow)")
    args = p.parse_args(argv)
    for name, rows in run(args.reps, args.compile).items():
        print(f"\n== {name}")
        for row in rows:
            print("  " + "  ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
