"""The HTTP server's defences against slow and greedy clients, on top of uvicorn's httptools protocol.

uvicorn bounds neither the size of a request's headers (httptools buffers them all) nor the time a client takes to
send them, and it accepts connections until the process runs out of file descriptors. This protocol adds:
- request line and headers larger than `h11_max_incomplete_event_size` (64 KiB unless set): 431, connection closed;
- headers not complete `header_timeout_s` after the connection opened or the request's first byte: closed;
- a body not complete `body_timeout_s` after its headers: closed (the handler sees the client gone);
- fewer than `limit_concurrency` open connections: a new one at the limit makes room by closing the connection that
  has been waiting for a request longest; when every connection has a request in flight it is kept, up to
  `BUSY_ROOM` more, only to be told 503 (more than that are closed at once, to keep the descriptors bounded).
- a request beyond `limit_concurrency` (connections or requests in flight) is answered 503 with `Retry-After` and
  the connection closed, before the application sees it: a saturated node reserves nothing for it.

`python -m app serve` uses it with the node's settings; `uvicorn app.main:app --http app.http_server:GuardedHttpTools`
with uvicorn's flags (see README).
"""

import asyncio
import logging
import resource
from pathlib import Path
from typing import Any, ClassVar

import orjson
from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

log = logging.getLogger(__name__)

DEFAULT_MAX_HEADER_BYTES = 64 * 1024
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 60.0
_TOO_LARGE_BODY = (
    b'{"error": {"message": "request line and headers too large", "type": "invalid_request_error",'
    b' "code": "headers_too_large"}}'
)
TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TOO_LARGE_BODY), _TOO_LARGE_BODY)
)


BUSY_ROOM = 64  # connections over the limit kept open just long enough to be answered 503
BUSY_RETRY_AFTER_S = 1
_BUSY_BODY = orjson.dumps(
    {
        "error": {
            "message": "this node is at its connection limit; retry shortly",
            "type": "api_error",
            "code": "service_unavailable",
        }
    }
)


async def node_busy(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """The answer to a request the node has no room for; the application never sees it."""
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_BUSY_BODY)).encode()),
                (b"retry-after", str(BUSY_RETRY_AFTER_S).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _BUSY_BODY})


class GuardedHttpTools(HttpToolsProtocol):
    header_timeout_s: ClassVar[float] = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: ClassVar[float] = DEFAULT_BODY_TIMEOUT_S

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(config, server_state, app_state, **kwargs)
        self._max_header_bytes = config.h11_max_incomplete_event_size or DEFAULT_MAX_HEADER_BYTES
        # connections waiting for a request, oldest first: the ones to close when the server is full
        self._waiting: dict[GuardedHttpTools, None] = server_state.__dict__.setdefault("waiting_connections", {})
        self._awaiting_headers = True
        self._header_bytes = 0
        self._header_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._waiting[self] = None
        self._start_header_deadline()
        # uvicorn answers 503 once `limit_concurrency` connections are open, so room is kept for this one's request
        if self.limit_concurrency is not None and len(self.connections) >= self.limit_concurrency:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._stop_deadlines()
        self._waiting.pop(self, None)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._awaiting_headers and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > self._max_header_bytes:
                self.transport.write(TOO_LARGE)
                self._drop()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers = True
        self._header_bytes = 0
        self._start_header_deadline()

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._stop_deadlines()
        self._waiting.pop(self, None)
        self._body_deadline = self.loop.call_later(self.body_timeout_s, self._body_too_slow)
        if not self._saturated():
            super().on_headers_complete()
            return
        # uvicorn's own answer at the limit is a bare 503 without Retry-After: ours is handed in as the app instead
        app, limit = self.app, self.limit_concurrency
        self.app, self.limit_concurrency = node_busy, None
        try:
            super().on_headers_complete()
        finally:
            self.app, self.limit_concurrency = app, limit

    def _saturated(self) -> bool:
        limit = self.limit_concurrency
        return limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit)

    def on_message_complete(self) -> None:
        self._stop_deadlines()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is None or self.cycle.response_complete:
            self._waiting[self] = None

    def _make_room(self) -> None:
        oldest = next((waiting for waiting in self._waiting if waiting is not self), None)
        if oldest is not None:
            oldest._drop()
        elif self.limit_concurrency is not None and len(self.connections) > self.limit_concurrency + BUSY_ROOM:
            self._drop()

    def _drop(self) -> None:
        """Close now, and stop counting the connection before its close completes."""
        self.connections.discard(self)
        self._waiting.pop(self, None)
        self._stop_deadlines()
        self.transport.close()

    def _start_header_deadline(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _stop_deadlines(self) -> None:
        for deadline in (self._header_deadline, self._body_deadline):
            if deadline is not None:
                deadline.cancel()
        self._header_deadline = self._body_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self._awaiting_headers and not self.transport.is_closing():
            self._drop()

    def _body_too_slow(self) -> None:
        self._body_deadline = None
        if not self.transport.is_closing():
            self._drop()


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit where allowed; returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            log.info("server.open_files_limit: raised from %d to %d", soft, wanted)
            soft = wanted
        except (ValueError, OSError) as exc:
            log.warning("server.open_files_limit: stays %d (%s)", soft, exc)
    return soft


SOMAXCONN = Path("/proc/sys/net/core/somaxconn")


def listen_backlog_shortfall(asked: int, somaxconn: Path = SOMAXCONN) -> int | None:
    """The kernel's cap on connections waiting to be accepted (Linux's net.core.somaxconn) when it is below the
    backlog the server asks for, else None. The kernel lowers the backlog to it silently, and a burst of new
    connections beyond it is dropped at the handshake, some of it reset."""
    try:
        cap = int(somaxconn.read_text().strip())
    except (OSError, ValueError):
        return None
    return cap if cap < asked else None


def connection_limit(wanted: int, open_files: int, own: int, upstream_cap: int) -> int:
    """Connections the server takes: what the operator asked for, kept below the descriptors the process has left
    after its own (database, mint pools, relays, logs) and the upstream's: one per request in flight when the
    upstream pool is uncapped (`upstream_cap` 0), else the cap."""
    if upstream_cap > 0:
        return max(16, min(wanted, open_files - own - upstream_cap))
    return max(16, min(wanted, (open_files - own) // 2))
