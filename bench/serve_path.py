"""The cost of one `specdl serve` request's own path, without HTTP: the ASGI app of
`specdl.serve_app(RUN)` and the baseline of bench/serve_load.py (the FastAPI idiom),
each called in-process with the same one-sample POST /predict, alternating, one torch
thread. What the load bench's concurrency 1 measures, less uvicorn and the socket: a
quick side-by-side check of a change to the request path (not CI).

    python bench/serve_path.py [--spec digits_cnn] [--requests 2000] [--reps 5]

Trains a one-epoch run of specs/SPEC.yaml first; prints microseconds per request of each
app (median over the repetitions) and their ratio."""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import baseline_app, prepared  # noqa: E402  (the same run, body and baseline)


async def call(app, body: bytes) -> bytes:
    """One POST /predict through the ASGI app; its answer's body (a 200)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/predict", "raw_path": b"/predict", "query_string": b"", "root_path": "", "state": {},
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 5), "server": ("127.0.0.1", 8000)}
    messages, sent = [], False

    async def receive():
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # the client stays; nothing more comes
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        messages.append(message)

    await app(scope, receive, send)
    if messages[0]["status"] != 200:
        raise SystemExit(f"serve_path: {messages[0]['status']}: {messages[1]['body'][:300]!r}")
    return messages[1]["body"]


async def measure(apps: dict, body: bytes, requests: int, reps: int) -> dict:
    for app in apps.values():  # warm: the model loads, the first forwards
        for _ in range(300):
            await call(app, body)
    times = {name: [] for name in apps}
    for rep in range(reps):
        for name in (list(apps) if rep % 2 == 0 else list(apps)[::-1]):
            start = time.perf_counter()
            for _ in range(requests):
                await call(apps[name], body)
            times[name].append((time.perf_counter() - start) / requests * 1e6)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default="digits_cnn")
    ap.add_argument("--requests", type=int, default=2000, help="requests per measurement (default 2000)")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    import torch

    import specdl

    torch.set_num_threads(1)
    out = Path(tempfile.mkdtemp(prefix="serve-path-"))
    run, lua = prepared(args.spec, out)
    body = lua.with_suffix(".json").read_bytes()
    apps = {"specdl": specdl.serve_app(run), "baseline": baseline_app(run)}
    times = asyncio.run(measure(apps, body, args.requests, args.reps))
    for name, ts in times.items():
        print(f"{name:<9} {statistics.median(ts):7.1f} us/request  (each: {', '.join(f'{t:.1f}' for t in ts)})")
    print(f"specdl / baseline time per request: {statistics.median(times['specdl']) / statistics.median(times['baseline']):.3f} "
          f"({torch.get_num_threads()} torch thread, {args.reps} x {args.requests} requests, {args.spec})")


if __name__ == "__main__":
    main()
