"""What stands before `specdl serve`'s routes: the JSON body's parser, the body limit
(413 over --max-body), the API key (401 where SPECDL_API_KEY is set and X-API-Key does
not match, compared in constant time), and the one-line 422 that names the row and the
field of a request the generated model refused."""

from __future__ import annotations

import contextlib
import re
import secrets

from fastapi import HTTPException, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader

from ..errors import RunError, did_you_mean, one_line
from ..front.messages import _TYPES as TYPE_WORDS
from ..front.messages import short

SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*", re.IGNORECASE)
UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "ki": 2**10, "mi": 2**20, "gi": 2**30}


def parse_size(text: str) -> int:
    """--max-body: bytes, or with a unit (10MB, 512KB, 1MiB; KB and MB are 1000s)."""
    m = SIZE.fullmatch(str(text))
    unit = (m[2] or "").lower().removesuffix("b") if m else ""
    if not m or unit not in UNITS or float(m[1]) * UNITS[unit] < 1:
        raise RunError(f"--max-body {text}: give a size such as 10MB, 512KB or 1048576 (bytes)")
    return int(float(m[1]) * UNITS[unit])


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is a 413, by its
    Content-Length or, sent in chunks (no Content-Length), once what arrived passes the
    limit. A body within its Content-Length passes untouched (the server reads no more
    than that length: HTTP/1.1's framing), unless Transfer-Encoding is also sent (which
    then frames the body: h11 reads it chunked)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        if length.isdigit() and int(length) > self.limit:
            return await self._refuse(scope, receive, send)
        if length.isdigit() and not any(k == b"transfer-encoding" for k, _ in scope["headers"]):
            return await self.app(scope, receive, send)  # that long (HTTP/1.1's framing, which the server keeps)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay(message, receive), send)
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                return await self._refuse(scope, receive, send)
        await self.app(scope, _replay({"type": "http.request", "body": body}, receive), send)

    async def _refuse(self, scope, receive, send):
        text = f"the request body is over the server's --max-body ({self.limit} bytes); send fewer rows at once"
        await JSONResponse({"detail": text, "error": text}, status_code=413)(scope, receive, send)


class JSONBody(Request):
    """A request whose JSON body is parsed by pydantic-core's parser (about 7x faster than
    the json module on a body of numbers); a body it refuses (bad JSON, too deep, a lone
    surrogate) goes to the json module, so every error is FastAPI's usual one."""

    async def json(self):
        if not hasattr(self, "_json"):
            import json

            from pydantic_core import from_json

            body = await self.body()
            try:
                self._json = from_json(body, allow_inf_nan=True)  # NaN: a missing value, as json.loads reads it
            except ValueError:
                self._json = json.loads(body)
        return self._json


class JSONRoute(APIRoute):
    """A route whose requests are ``JSONBody`` (FastAPI's custom request class recipe),
    handled within ``around()`` (a context from a request's arrival to its answer)."""

    around = staticmethod(contextlib.nullcontext)

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request):
            with self.around():
                return await handler(JSONBody(request.scope, request.receive))
        return route


def _replay(first: dict, receive):
    """A receive that gives ``first`` once, then the client's own messages."""
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return first
    return replay


def key_check(key: str | None):
    """A dependency: with ``key`` set, X-API-Key must match it (compared in constant time)."""
    header = APIKeyHeader(name="X-API-Key", auto_error=False,
                          description="the server's SPECDL_API_KEY (needed where it is set)")

    async def check(given: str | None = Security(header)) -> None:  # async: no worker thread per request
        # the header's own bytes (ASGI servers decode them as latin-1) against the key's UTF-8: a key
        # of other than ASCII matches when sent as UTF-8
        if key and not secrets.compare_digest((given or "").encode("latin-1"), key.encode()):
            raise HTTPException(401, "a matching X-API-Key header is needed (the server's SPECDL_API_KEY)",
                                headers={"WWW-Authenticate": "APIKey"})
    return check


TYPE_TAGS = {"float", "int", "str", "bool"}  # pydantic's names of a union's members in a location


def where(loc) -> str:
    """A pydantic error's location as the request's row and field (`row 3, `class``, in
    the inputs form `row 1, input `stats` at [0]`) or instance and position (`instance 2
    at [1, 0]`, `instance 0, `path``)."""
    parts = [p for p in loc if p != "body" and p not in TYPE_TAGS and "[" not in str(p)]
    if len(parts) >= 3 and parts[0] == "inputs" and isinstance(parts[2], int):  # inputs.<name>.<row>...
        parts = ["rows", parts[2], f"input `{parts[1]}`", *parts[3:]]
    if len(parts) >= 2 and parts[0] in ("rows", "instances") and isinstance(parts[1], int):
        head = f"{'row' if parts[0] == 'rows' else 'instance'} {parts[1]}"
        at = [str(p) for p in parts[2:] if isinstance(p, int)]
        names = [p if p.startswith("input `") else f"`{p}`" for p in parts[2:] if isinstance(p, str)]
        return head + (f", {names[-1]}" if names else "") + (f" at [{', '.join(at)}]" if at else "")
    return f"`{'.'.join(map(str, parts))}`" if parts else "the body"


def said(err: dict, columns=()) -> str:
    """One pydantic error in check's words (front/messages.py's: `must be a number, got
    '1.5'`), an unknown column with the nearest of ``columns``."""
    typ, name = err["type"], (err["loc"][-1] if err["loc"] else "")
    in_row = len(err["loc"]) >= 4 and err["loc"][1] == "rows"
    if typ == "missing":
        return "missing: give every column the run reads (null for a missing value)" if in_row else "missing"
    if typ == "extra_forbidden":
        return ("not a column the run reads" if in_row else "unknown key") + did_you_mean(str(name), columns)
    if typ in ("too_short", "too_long"):
        ctx = err.get("ctx") or {}
        return f"needs {'at least' if typ == 'too_short' else 'at most'} " \
               f"{ctx.get('min_length', ctx.get('max_length'))} item(s), got {len(err.get('input') or [])}"
    if TYPE_WORDS.get(typ):
        return f"must be {TYPE_WORDS[typ]}, got {short(err.get('input'))}"
    msg = err["msg"].removeprefix("Value error, ")
    return msg[0].lower() + msg[1:] if msg else typ


async def refused(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A 422: FastAPI's list of errors (without the values sent back) and ``error``, one
    line naming the first error's row and field, in check's words."""
    raw = list(exc.errors())
    errors = [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in raw]
    # the deepest first (of a union's errors, a number or a list, the one inside the value),
    # a key not taken before one missing (`instances` sent where `rows` are taken)
    first = max(raw, key=lambda e: (len(e["loc"]), e["type"] == "extra_forbidden"), default=None)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if first is None:
        line = "the request is not valid"
    elif first["type"] == "json_invalid":
        line = f"the body is not JSON ({first['msg']} at character {first['loc'][-1]})"
    elif first["type"] == "model_attributes_type" and tuple(first["loc"]) == ("body",):
        line = ("the body is not a JSON object: send one with the header `Content-Type: application/json`"
                if isinstance(first.get("input"), (bytes, str)) else
                f"the body is a JSON {type(first.get('input')).__name__}; send an object with "
                + " or ".join(f"`{k}`" for k in _names(request, ("body",))))
    else:
        line = f"{where(first['loc'])}: {said(first, _names(request, first['loc'][:-1]))}{more}"
    return JSONResponse({"detail": jsonable_encoder(errors), "error": one_line(line)}, status_code=422)  # a key "\n"


def _names(request: Request, loc) -> list:
    """The names the object at ``loc`` takes, for a did-you-mean: a row's columns, or the
    request's keys."""
    served = getattr(request.app.state, "served", None)
    if served is None:
        return []
    data = served.saved.spec.data
    if tuple(loc) == ("body",):
        return ["rows", "columns"] if data.source == "csv" and not data.file_backed else ["instances"]
    if len(loc) == 3 and loc[1] == "rows" and data.source == "csv":
        return [c for group in data.columns() for c in group]
    return []
