"""Load on `specdl serve` (issue 31's load figures; not CI): `wrk` POSTs one-row requests
from a Lua script, pinned by `taskset` to one core, at a server pinned to the other core
with one torch thread. Two servers per run, measured alternately: `specdl serve` (micro-
batching) and the baseline, the FastAPI idiom: an `async def` endpoint running one
forward at a time under `torch.inference_mode()` through `run_in_threadpool`, with the
same request model, reading and answer rows (same JSON schema, same thread count). Each
spec (default resnet_small and digits_cnn) is trained first with `-o train.epochs=1`.
127.0.0.1 only; bounded by --duration x --reps x concurrencies x 2.

    python bench/serve_load.py [--duration 20] [--reps 3] [--concurrency 1,16,64]
                               [--specs resnet_small,digits_cnn] [--out DIR]

Needs wrk and taskset (Debian: apt-get install wrk util-linux) and two cores. Prints, per
spec and concurrency, the median over the repetitions of requests/s, p50 and p99 (ms) of
each server and the ratios the issue sets targets for; writes bench/results/serve_load.json."""

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(%r, "rb"))
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"errors": %%d, "non2xx": %%d}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def baseline_app(run_dir):
    """The FastAPI idiom the issue compares with: one forward per request, one at a time
    (a lock), under torch.inference_mode(), through run_in_threadpool."""
    import threading

    import torch
    from fastapi import FastAPI
    from fastapi.concurrency import run_in_threadpool

    from specdl.runs.loaded import LoadedRun
    from specdl.runs.predict import prediction_rows
    from specdl.serving.requests import request_inputs
    from specdl.serving.schema import request_model

    run, lock = LoadedRun(run_dir), threading.Lock()
    Request = request_model(run)
    app = FastAPI()

    def forward(body):
        raw = request_inputs(run, body, None)
        with lock, torch.inference_mode():
            return prediction_rows(run.predictions(run.model_inputs(raw)), raw.files)

    @app.post("/predict")
    async def predict(body: Request) -> dict:  # type: ignore[valid-type]  (no `from __future__`: a local model)
        return {"rows": await run_in_threadpool(forward, body)}

    return app


def serve_baseline(run_dir, port: int) -> None:
    import torch
    import uvicorn

    torch.set_num_threads(1)
    uvicorn.run(baseline_app(run_dir), host="127.0.0.1", port=port, log_level="info")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv: list[str], core: int, log: Path):
    """A server process pinned to ``core`` with one thread per library; its URL once /docs
    (baseline: /openapi.json) answers."""
    import httpx

    port = free_port()
    argv = ["taskset", "-c", str(core), sys.executable, *[a.replace("PORT", str(port)) for a in argv]]
    proc = subprocess.Popen(argv, env={**os.environ, **ONE_THREAD, "PYTHONPATH": str(ROOT)},
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                return proc, url
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"serve_load: a server did not become ready in 120 s; see {log}")


def wrk(url: str, lua: Path, concurrency: int, seconds: float, core: int) -> dict:
    """One wrk run: requests/s, p50 and p99 in ms."""
    argv = ["taskset", "-c", str(core), "wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "30s",
            "-s", str(lua), f"{url}/predict"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"serve_load: wrk printed no result:\n{out}")
    r = json.loads(line[len("RESULT "):])
    if r["errors"] or r["non2xx"]:
        raise SystemExit(f"serve_load: {r['errors']} failed and {r['non2xx']} non-2xx answers at {url}: {r}")
    return {"rps": r["requests"] / (r["duration_us"] / 1e6), "p50_ms": r["p50_us"] / 1000,
            "p99_ms": r["p99_us"] / 1000}


def prepared(name: str, out: Path) -> tuple[Path, Path]:
    """A tiny run of specs/NAME.yaml (one epoch) and a Lua script POSTing one sample."""
    import numpy as np

    import specdl

    spec = specdl.load(ROOT / "specs" / f"{name}.yaml", ["train.epochs=1", "train.device=cpu"])
    run = specdl.train(spec, out=out / f"{name}-run", force=True).run_dir
    x = np.asarray(spec.data.load(spec.seed).x[:1], dtype=np.float64)
    body = out / f"{name}.json"
    body.write_text(json.dumps({"instances": x.tolist()}))
    lua = out / f"{name}.lua"
    lua.write_text(LUA % str(body))
    return run, lua


def measure(name: str, args, out: Path) -> dict:
    """Both servers on one spec's run: reps x concurrencies, the two alternating."""
    run, lua = prepared(name, out)
    one_thread = "import torch; torch.set_num_threads(1); import sys; from specdl.cli import main; sys.exit(main())"
    servers = {}
    figures = {arm: {c: [] for c in args.concurrency} for arm in ("specdl", "baseline")}
    try:
        servers["specdl"] = start(["-c", one_thread, "serve", str(run), "--port", "PORT"], args.server_core,
                                  out / f"{name}-specdl.log")
        servers["baseline"] = start([__file__, "--serve-baseline", str(run), "--port", "PORT"], args.server_core,
                                    out / f"{name}-baseline.log")
        for _, url in servers.values():  # warm both (the first forwards, the allocator)
            wrk(url, lua, max(args.concurrency), min(3.0, args.duration), args.load_core)
        for rep in range(args.reps):
            for c in args.concurrency:
                for arm in (list(servers) if rep % 2 == 0 else list(servers)[::-1]):
                    r = wrk(servers[arm][1], lua, c, args.duration, args.load_core)
                    figures[arm][c].append(r)
                    print(f"  {name} rep {rep + 1} c={c:>3} {arm:<8} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                          f"p99 {r['p99_ms']:7.2f} ms", flush=True)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(60)
    return {arm: {c: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for c, rs in by_c.items()}
            for arm, by_c in figures.items()}


def report(results: dict) -> None:
    """The medians side by side, with the issue's targets."""
    print("\nspec          conc   specdl req/s  p50 ms  p99 ms | baseline req/s  p50 ms  p99 ms | req/s x  p99 x")
    for name, arms in results.items():
        for c, s in arms["specdl"].items():
            b = arms["baseline"][c]
            print(f"{name:<13} {c:>4} {s['rps']:14.1f} {s['p50_ms']:7.2f} {s['p99_ms']:7.2f} | {b['rps']:14.1f} "
                  f"{b['p50_ms']:7.2f} {b['p99_ms']:7.2f} | {s['rps'] / b['rps']:7.2f} {s['p99_ms'] / b['p99_ms']:6.2f}")
    print("targets: resnet_small at 64: req/s x >= 1.5 with p99 x <= 1; digits_cnn: req/s x >= 0.95 at every "
          "concurrency; concurrency 1: p50 within 1.1x of the baseline's or +0.3 ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of each wrk run (default 20)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--concurrency", default="1,16,64", type=lambda s: [int(c) for c in s.split(",")])
    ap.add_argument("--specs", default="resnet_small,digits_cnn", type=lambda s: s.split(","))
    ap.add_argument("--server-core", type=int, default=1)
    ap.add_argument("--load-core", type=int, default=0)
    ap.add_argument("--out", type=Path, help="where the runs and logs go (default: a temporary folder)")
    ap.add_argument("--serve-baseline", metavar="RUN", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_baseline:
        return serve_baseline(args.serve_baseline, args.port)
    for sig in (signal.SIGTERM, signal.SIGINT):  # stopped: the servers are stopped too (`finally`)
        signal.signal(sig, lambda number, frame: sys.exit(128 + number))
    missing = [t for t in ("wrk", "taskset") if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"serve_load: needs {' and '.join(missing)} on PATH (Debian: apt-get install wrk util-linux)")
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("serve_load: needs two cores (one for wrk, one for the server)")
    out = args.out or Path(tempfile.mkdtemp(prefix="serve-load-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"serve_load: {args.reps} x {args.duration:g} s at concurrency {args.concurrency}; wrk on core "
          f"{args.load_core}, servers on core {args.server_core} with 1 torch thread; runs in {out}", flush=True)
    results = {name: measure(name, args, out) for name in args.specs}
    report(results)
    (ROOT / "bench" / "results" / "serve_load.json").write_text(json.dumps(
        {"args": {k: v for k, v in vars(args).items() if k not in ("out", "serve_baseline", "port")},
         "results": results}, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
