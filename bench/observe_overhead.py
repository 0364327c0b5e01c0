"""`python -m bench.observe_overhead`: what the metrics and rate-limit middleware add to one request, in-process.

Calls the node's middleware chain around an ASGI app that answers at once, with metrics off and on (and with the
rate limits off, then with KEY_RPM on), and prints microseconds per request; then what Edge adds to each body message
of a stream. No sockets, no server: the
numbers are the middleware's own cost, which wrk runs through the whole node are too noisy to show."""

import asyncio
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.limits import ClientLimits
from app.api.middleware import Edge
from app.limits.limiter import MemoryCounter, Rule
from app.limits.service import RateLimits
from app.observability.metrics import Metrics

REQUESTS = 100_000
HEADERS = [(b"authorization", b"Bearer sk-" + b"0" * 64), (b"content-type", b"application/json")]


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Message) -> None:
    return None


async def _per_request_us(app: ASGIApp) -> float:
    started = time.perf_counter()
    for _ in range(REQUESTS):
        scope: Scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": HEADERS,
                        "client": ("10.0.0.1", 1234)}  # fmt: skip
        await app(scope, _receive, _send)
    return (time.perf_counter() - started) / REQUESTS * 1e6


def _limits(key_rpm: int) -> RateLimits:
    return RateLimits(MemoryCounter(), {"key": Rule(key_rpm)}, prefix="bench", exempt=frozenset())


async def main() -> None:
    chains: dict[str, Callable[[], ASGIApp]] = {
        "edge (request ids, CORS)": lambda: Edge(_answer, ["*"]),
        "+ rate limits, all off": lambda: Edge(ClientLimits(_answer, _limits(0)), ["*"]),
        "+ metrics (METRICS_ENABLED)": lambda: Edge(ClientLimits(_answer, _limits(0)), ["*"], Metrics()),
        "+ metrics + KEY_RPM (memory)": lambda: Edge(ClientLimits(_answer, _limits(10**9)), ["*"], Metrics()),
    }
    for name, build in chains.items():
        app = build()
        await _per_request_us(app)  # warm-up
        print(f"{name:32s} {min([await _per_request_us(app) for _ in range(3)]):6.1f} us/request")
    bare = min([await _per_chunk_us(_stream) for _ in range(3)])
    edged = min([await _per_chunk_us(Edge(_stream, ["*"], Metrics())) for _ in range(3)])
    print(f"{'edge, per body message':32s} {edged - bare:6.2f} us/chunk (bare stream {bare:.2f})")


CHUNKS = 1_000_000


async def _stream(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    body: Message = {"type": "http.response.body", "body": b"data: {}\n\n", "more_body": True}
    for _ in range(CHUNKS):
        await send(body)
    await send({"type": "http.response.body", "body": b""})


async def _per_chunk_us(app: ASGIApp) -> float:
    scope: Scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": HEADERS}
    started = time.perf_counter()
    await app(scope, _receive, _send)
    return (time.perf_counter() - started) / CHUNKS * 1e6


if __name__ == "__main__":
    asyncio.run(main())
