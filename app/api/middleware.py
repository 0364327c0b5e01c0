"""Pure ASGI middleware around every request: a request id on every response, and CORS for browser clients.

Both run on the paid hot path, so they only add headers: no Request objects, no body buffering."""

import itertools
import logging
import os
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import unexpected_error_body
from app.observability.logging import request_id_var

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
    """The id RequestIds gave this request (the proxy journals paid calls under the same id)."""
    return str(scope["state"]["request_id"])


class RequestIds:
    """One id per request, in `scope["state"]["request_id"]` and in the `x-routstr-request-id` header of whatever
    the reply is; an exception no handler rendered becomes a 500 in the error envelope, with the id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        request_id_var.set(rid)  # every log line written for this request (and the tasks it spawns) carries it
        header = (REQUEST_ID_HEADER, rid.encode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request.failed request_id=%s", rid)
            if started:
                raise
            await _send_500(send, header, unexpected_error_body(rid))


async def _send_500(send: Send, id_header: tuple[bytes, bytes], body: bytes) -> None:
    # the connection's state is unknown after a bug: say so, rather than let the server cut it without a word
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), id_header,
               (b"connection", b"close")]  # fmt: skip
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Cors:
    """CORS for browser clients (routstr-chat): preflights are answered here for every path, before routing (the
    paid routes are plain Starlette routes), and replies to a cross-origin request name the headers the page may
    read. `*` allows any origin without credentials; a list of origins is echoed back, with credentials allowed."""

    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        allowed = [o.strip().rstrip("/") for o in origins if o.strip()]
        self._any = "*" in allowed
        self._origins = frozenset(o.encode() for o in allowed)
        self._expose = (b"access-control-expose-headers", ", ".join(EXPOSED_HEADERS).encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _header(scope, b"origin") if scope["type"] == "http" else None
        if origin is None:
            await self.app(scope, receive, send)
            return
        if not self._any and origin not in self._origins:
            await self.app(scope, receive, send)  # served as for any client; the browser keeps the reply hidden
            return
        allow = self._allow_headers(origin)
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method") is not None:
            await self._preflight(scope, send, allow)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *allow, self._expose]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _allow_headers(self, origin: bytes) -> list[tuple[bytes, bytes]]:
        if self._any:
            return [(b"access-control-allow-origin", b"*")]
        return [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin"),
        ]

    async def _preflight(self, scope: Scope, send: Send, allow: list[tuple[bytes, bytes]]) -> None:
        headers = [
            *allow,
            (b"access-control-allow-methods", ALLOWED_METHODS),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE_S),
            (b"content-length", b"0"),
        ]
        requested = _header(scope, b"access-control-request-headers")
        if requested:
            headers.append((b"access-control-allow-headers", requested))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None
