"""`specdl serve RUN`: the run's app (specdl/serving/app.py) under uvicorn, the model
loaded before the port opens (a run that does not load is one line, exit 2); SIGTERM and
Ctrl-C stop taking connections and let in-flight requests finish (uvicorn's graceful
shutdown)."""

from __future__ import annotations

import logging
import signal
import sys

from ..errors import RunError
from .app import serve_app
from .backend import ModelFailure
from .guards import parse_size


def serve(run_dir, host: str = "127.0.0.1", port: int = 8000, *, version: str = "", log_level: str = "info",
          **options) -> None:
    """Serve ``run_dir`` until stopped (``options``: serve_app's; ``max_body`` may be a
    size text such as 10MB)."""
    import uvicorn

    if isinstance(options.get("max_body"), str):
        options["max_body"] = parse_size(options["max_body"])
    app = serve_app(run_dir, version=version, **options)
    try:
        app.state.served.backend()  # loaded before the port opens
    except ModelFailure as e:
        raise RunError(str(e)) from None
    logging.basicConfig(level=logging.INFO, format="specdl serve: %(message)s", stream=sys.stderr)
    print(f"specdl serve: {run_dir} on http://{host}:{port} (backend {options.get('backend', 'torch')})",
          file=sys.stderr, flush=True)
    stopped = []
    for sig in (signal.SIGTERM, signal.SIGINT):  # uvicorn raises the signal again once it has shut down
        signal.signal(sig, lambda number, frame: stopped.append(signal.Signals(number).name))
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=options.get("timeout"))
    except SystemExit as e:  # uvicorn could not start (its ERROR line says why: a port in use, ...)
        if e.code:
            raise RunError(f"the server did not start on {host}:{port} (uvicorn's ERROR line says why); choose "
                           "another --port or --host", exit_code=1) from None
    if stopped:
        print(f"specdl serve: stopped ({stopped[0]}); the requests in flight were answered", file=sys.stderr)
