"""The pure ASGI middleware around every request: a request id on every response, CORS for browser clients and the
request metrics, in one wrapper of `send`.

It runs on the paid hot path, where a stream sends thousands of body messages: it only adds headers to the start
message and counts at the end; no Request objects, no body buffering, nothing per body message."""

import itertools
import logging
import os
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import unexpected_error_body
from app.api.metrics import is_event_stream, request_done
from app.observability.logging import request_id_var
from app.observability.metrics import Metrics

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-routstr-request-id"
# What browser code may read of a reply: the change token and every cost/accounting header.
EXPOSED_HEADERS = (
    "x-cashu",
    "x-cashu-change",
    "x-routstr-request-id",
    "x-routstr-cost-msats",
    "x-routstr-cost-usd",
    "x-routstr-input-cost-msats",
    "x-routstr-output-cost-msats",
    "x-routstr-reserved-msats",
    "retry-after",
)
ALLOWED_METHODS = b"GET, POST, OPTIONS"
PREFLIGHT_MAX_AGE_S = b"600"


# Ids are a random per-process prefix and a counter: unique (the ledger journals paid calls under them) and about
# twenty times cheaper than a fresh os.urandom per request, which every response pays for.
_ID_PREFIX = os.urandom(6).hex()
_id_counter = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):012x}"


def request_id(scope: Scope) -> str:
    """The id Edge gave this request (the proxy journals paid calls under the same id)."""
    return str(scope["state"]["request_id"])


class Edge:
    """The one middleware that wraps `send`, so a streamed reply pays for one wrapper per chunk, not one per concern.

    It acts on `http.response.start` only and passes body messages through untouched: one id per request (in
    `scope["state"]["request_id"]` and the `x-routstr-request-id` header of whatever the reply is), CORS for browser
    clients (preflights answered here for every path, before routing; replies to a cross-origin request name the
    headers the page may read; `*` allows any origin without credentials, a list of origins is echoed back with
    credentials allowed) and, with metrics on, the request counters and open streams. An exception no handler
    rendered becomes a 500 in the error envelope, with the id and the CORS headers."""

    def __init__(self, app: ASGIApp, origins: Iterable[str], metrics: Metrics | None = None) -> None:
        self.app = app
        allowed = [o.strip().rstrip("/") for o in origins if o.strip()]
        self._any = "*" in allowed
        self._origins = frozenset(o.encode() for o in allowed)
        self._expose = (b"access-control-expose-headers", ", ".join(EXPOSED_HEADERS).encode())
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cors = self._cors_headers(scope)
        if cors and scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method") is not None:
            await self._preflight(scope, send, cors)
            return
        rid = new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        request_id_var.set(rid)  # every log line written for this request (and the tasks it spawns) carries it
        added = [(REQUEST_ID_HEADER, rid.encode()), *cors]
        reply = _Reply()

        async def send_from_edge(message: Message) -> None:
            if message["type"] == "http.response.start":
                reply.started(message, added, self._metrics)
            await send(message)

        started_at = time.perf_counter()
        try:
            await self.app(scope, receive, send_from_edge)
        except Exception:
            log.exception("request.failed request_id=%s", rid)
            if reply.status:
                raise
            await _send_500(send, added, unexpected_error_body(rid))
        finally:
            if self._metrics is not None:
                reply.count(self._metrics, scope, time.perf_counter() - started_at)

    def _cors_headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        """What a reply to this request's origin adds; nothing without an Origin header or for an origin not allowed
        (served as for any client; the browser keeps the reply hidden)."""
        origin = _header(scope, b"origin")
        if origin is None or not (self._any or origin in self._origins):
            return []
        if self._any:
            return [(b"access-control-allow-origin", b"*"), self._expose]
        return [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin"),
            self._expose,
        ]

    async def _preflight(self, scope: Scope, send: Send, cors: list[tuple[bytes, bytes]]) -> None:
        headers = [
            *(header for header in cors if header is not self._expose),
            (b"access-control-allow-methods", ALLOWED_METHODS),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE_S),
            (b"content-length", b"0"),
        ]
        requested = _header(scope, b"access-control-request-headers")
        if requested:
            headers.append((b"access-control-allow-headers", requested))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


class _Reply:
    """What Edge saw of the reply: its status (0 until the headers left) and whether it is an event stream."""

    __slots__ = ("status", "streaming")

    def __init__(self) -> None:
        self.status = 0
        self.streaming = False

    def started(self, message: Message, added: list[tuple[bytes, bytes]], metrics: Metrics | None) -> None:
        message["headers"] = [*message.get("headers", ()), *added]
        self.status = message["status"]
        if metrics is not None:
            self.streaming = is_event_stream(message)
            if self.streaming:
                metrics.open_streams.inc()

    def count(self, metrics: Metrics, scope: Scope, seconds: float) -> None:
        if self.streaming:
            metrics.open_streams.dec()
        request_done(metrics, scope, self.status or 500, seconds)


async def _send_500(send: Send, added: list[tuple[bytes, bytes]], body: bytes) -> None:
    # the connection's state is unknown after a bug: say so, rather than let the server cut it without a word
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *added,
               (b"connection", b"close")]  # fmt: skip
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None
