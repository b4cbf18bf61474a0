"""`specdl serve`: a finished run as an HTTP service (FastAPI on uvicorn, the optional
`serve` extra). schema.py generates the request and answer models from the run's saved
preprocessing, requests.py reads a request as `specdl predict` reads its inputs,
backend.py holds the run and the torch forward (onnx_backend.py the onnxruntime one),
batcher.py combines requests into one forward, guards.py the body limit, the API key and the
422 line, app.py the routes, server.py runs it under uvicorn. Nothing here is imported
by `import specdl` or `specdl check`."""


def without_extra(error: ImportError):
    """The one line when FastAPI or uvicorn is missing (the `serve` extra)."""
    from ..errors import RunError

    return RunError(f"specdl serve needs FastAPI and uvicorn ({error}): pip install 'specdl[serve]'")


def no_backend(name: str):
    """The one line for a backend specdl does not serve with."""
    from ..errors import RunError

    return RunError(f"--backend {name}: not a backend; serve with --backend torch, or --backend onnx (the run's "
                    "model.raw.onnx, from `specdl export RUN --with-preprocessing`)")
