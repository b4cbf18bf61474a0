"""`specdl serve`'s ASGI app (FastAPI): POST /predict, GET /health, /ready, /info, and
/openapi.json and /docs describing the run's generated request and answer models. The
model loads at start (run by uvicorn) or on first use (mounted in another app, which gets
no lifespan events); each prediction runs in a worker thread within --timeout."""

import asyncio
import logging
import os
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic_core import to_json
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import RunError
from .backend import ModelFailure, Served
from .guards import BodyLimit, JSONRoute, key_check, refused
from .requests import request_rows
from .schema import answer_columns, answer_model, request_model, run_info

log = logging.getLogger("specdl.serve")
ASSETS = "/docs-assets"  # Swagger UI's files, from the fastapi-offline package


def serve_app(run_dir, checkpoint=None, *, backend: str = "torch", allow_import: bool = False, files=None,
              timeout: float = 30.0, max_body: int = 10_000_000, protect_docs: bool = False,
              max_batch: int = 32, max_wait_ms: float = 5.0, version: str = "") -> FastAPI:
    """The app serving the finished run ``run_dir`` (its spec and preprocessing read now;
    its model at start or on first use). SPECDL_API_KEY, where set, is the key /predict
    and /info need (and /docs, /openapi.json with ``protect_docs``). Requests are
    combined up to ``max_batch`` rows, waiting at most ``max_wait_ms`` (batcher.py)."""
    if not 0 < timeout < float("inf"):
        raise RunError(f"--timeout {timeout:g}: give a number of seconds above 0")
    served = Served(run_dir, checkpoint, backend, allow_import, files, max_batch, max_wait_ms / 1000)
    secret = os.environ.get("SPECDL_API_KEY") or None
    needs = [Depends(key_check(secret))] if secret else []  # no key: nothing to resolve per request

    @asynccontextmanager
    async def lifespan(app):
        await _load(served)
        yield

    docs = needs if protect_docs else []
    app = FastAPI(title=f"specdl serve: {served.saved.spec.name}", version=version, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None if protect_docs else "/openapi.json")
    app.add_middleware(BodyLimit, limit=max_body)
    app.add_exception_handler(RequestValidationError, refused)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _failed)
    app.include_router(_routes(served, needs, timeout, version))
    _docs(app, docs, protect_docs)
    app.state.served = served
    return app


def _routes(served: Served, needs: list, timeout: float, version: str) -> APIRouter:
    class Route(JSONRoute):  # a request counts as coming to the batcher from its arrival
        around = staticmethod(served.batcher.handling)

    router = APIRouter(route_class=Route)
    PredictRequest, Answer = request_model(served.saved), answer_model(answer_columns(served.saved))

    @router.post("/predict", dependencies=needs, response_model=None,
                 responses={200: {"model": Answer}, 413: {}, 422: {}, 500: {}, 504: {}})
    async def predict(body: PredictRequest) -> JSONResponse:  # type: ignore[valid-type]
        """Predictions for the request's rows, as `specdl predict --format json` gives them."""
        try:
            rows = await _batched(served, body, timeout)
            if isinstance(rows, Exception):
                raise rows
        except asyncio.TimeoutError:
            return _line(504, f"the prediction took over the server's --timeout ({timeout:g} s)")
        except RunError as e:
            return _line(422, str(e))
        except ModelFailure as e:
            log.error("%s", e)
            return _line(500, str(e))
        except Exception as e:  # noqa: BLE001 - unforeseen: one line, never a traceback
            return await _failed(None, e)
        return Response(to_json({"rows": rows}), media_type="application/json")  # finite (backend.py)

    @router.get("/health")
    async def health() -> dict:
        """Alive: the server answers."""
        return {"status": "ok"}

    @router.get("/ready")
    async def ready() -> JSONResponse:
        """Ready: the model is loaded (loaded now, on first use, where the app is mounted)."""
        failed = await _load(served)
        return _line(503, failed) if failed else JSONResponse({"ready": True})

    @router.get("/info", dependencies=needs)
    async def info() -> dict:
        """The run served: spec name and fingerprint, specdl version, inputs, outputs, classes."""
        return run_info(served.saved, served.backend_name, version)
    return router


async def _batched(served: Served, body, timeout: float):
    """A request's answer from the batcher's next batch: its rows, or its error. At the
    timeout (asyncio.TimeoutError) it is cancelled: not yet started, it leaves its batch."""
    future = asyncio.wrap_future(served.batcher.submit(body, request_rows(body)))
    late = []

    def expire():
        late.append(True)
        future.cancel()  # and the batcher's future with it

    timer = asyncio.get_running_loop().call_later(timeout, expire)  # no task of its own, unlike wait_for
    try:
        return await future
    except asyncio.CancelledError:
        if late:
            raise asyncio.TimeoutError from None
        raise  # the request itself was cancelled (the client left, the server stops)
    finally:
        timer.cancel()


async def _load(served: Served) -> str | None:
    """Load the model (once); a failure is its one line (also logged)."""
    if served.ready:
        return None
    try:
        await run_in_threadpool(served.backend)
    except ModelFailure as e:
        log.error("%s", e)
        return str(e)
    return None


def _line(status: int, text: str) -> JSONResponse:
    """An error's answer: its one line, as ``detail`` and as ``error`` (the key every error
    answer has; a refused request's ``detail`` lists pydantic's errors, guards.py)."""
    return JSONResponse({"detail": text, "error": text}, status_code=status)


async def _http_error(request, exc: StarletteHTTPException) -> JSONResponse:
    """401, 404, 405, a body that does not parse (400): the one-line answer."""
    text = str(exc.detail)
    if exc.status_code == 400 and "error parsing the body" in text:  # what json.loads gave up on
        text = "the body is not JSON that can be read (not UTF-8, nested too deeply, or a number too long)"
    response = _line(exc.status_code, text)
    response.headers.update(exc.headers or {})
    return response


async def _failed(request, exc: Exception) -> JSONResponse:
    """Anything unforeseen: a 500 with one line (logged), never a traceback in the answer."""
    from ..errors import one_line

    what = f"{request.method} {request.url.path}" if request is not None else "POST /predict"
    log.error("%s failed: %s", what, one_line(f"{type(exc).__name__}: {exc}"))
    return _line(500, f"the server failed on this request ({type(exc).__name__}); the server's log has the cause")


def _docs(app: FastAPI, needs, protect_docs: bool) -> None:
    """/docs: Swagger UI from the assets the fastapi-offline package ships (served under
    /docs-assets, no CDN); with --protect-docs, /docs and /openapi.json behind the key."""
    from pathlib import Path

    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount(ASSETS, StaticFiles(directory=Path(fastapi_offline.__file__).parent / "static"), name="docs-assets")
    if protect_docs:
        @app.get("/openapi.json", include_in_schema=False, dependencies=needs)
        async def openapi() -> dict:
            return app.openapi()

    @app.get("/docs", include_in_schema=False, dependencies=needs)
    async def docs(request: Request):
        root = request.scope.get("root_path", "")  # mounted under a path of another app
        return get_swagger_ui_html(openapi_url=f"{root}/openapi.json", title=app.title,
                                   swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{root}{ASSETS}/favicon.png")
