"""The load side of `python -m bench.streams`, run as its own process: N concurrent SSE streams against one URL.

`python -m bench.stream_load --url URL --body JSON [--key KEY] --streams N [--ramp-s S] --out FILE`
Every stream records when each event arrived; the gap between two events of one stream is what a user sees as
stutter; the wait for the first event is what a user waits for the first token. Writes {completed, errors, wall_s,
gaps_ms: {p50, p99, max}, gaps_after_ramp_ms, first_event_ms, events} as JSON.
"""

import argparse
import asyncio
import contextlib
import resource
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast
from urllib.parse import SplitResult, urlsplit

import httptools
import orjson

CONNECT_TIMEOUT_S = 60.0
STREAM_TIMEOUT_S = 600.0


def raise_fd_limit(wanted: int = 65536) -> int:
    """Lift the soft (and, as root, the hard) open-file limit so that thousands of sockets fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in ((wanted, max(hard, wanted)), (min(wanted, hard), hard)):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, limit)
            return limit[0]
    return soft


class _SseClient(asyncio.Protocol):
    """One streamed request on its own connection, parsed by httptools (the C parser uvicorn uses): a load client
    that costs little per event, so that the machine's cores go to the target, not to the measurement. Every event
    is stamped when its bytes arrive; events that arrive in one read share a stamp (a gap of 0)."""

    def __init__(self, request: bytes, gaps: list[tuple[float, float]], waits: list[float]) -> None:
        self._request = request
        self._gaps = gaps
        self._waits = waits
        self._opened = time.monotonic()
        self._parser = httptools.HttpResponseParser(self)
        self._pending = b""
        self._last: float | None = None
        self._done = False
        self.outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._end("bad_http")

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status != 200:
            self._end(f"http_{status}")

    def on_body(self, body: bytes) -> None:
        *events, self._pending = (self._pending + body).split(b"\n\n")
        now = time.monotonic()
        for event in events:
            if not event.startswith(b"data:"):
                continue
            if self._last is not None:
                self._gaps.append((now, now - self._last))
            else:
                self._waits.append(now - self._opened)
            self._last = now
            self._done = self._done or event.strip() == b"data: [DONE]"

    def on_message_complete(self) -> None:
        self._end("ok" if self._done else "truncated")

    def connection_lost(self, exc: Exception | None) -> None:
        errno = getattr(exc, "errno", None)
        self._end(f"{type(exc).__name__}({errno})" if exc and errno else "ServerDisconnectedError")

    def _end(self, outcome: str) -> None:
        if not self.outcome.done():
            self.outcome.set_result(outcome)
        self._transport.close()


async def _one_stream(url: SplitResult, request: bytes, gaps: list[tuple[float, float]], waits: list[float]) -> str:
    loop = asyncio.get_running_loop()
    try:
        _, client = await asyncio.wait_for(
            loop.create_connection(
                lambda: _SseClient(request, gaps, waits), url.hostname or "127.0.0.1", url.port or 80
            ),
            CONNECT_TIMEOUT_S,
        )
        return await asyncio.wait_for(client.outcome, STREAM_TIMEOUT_S)
    except TimeoutError:
        return "TimeoutError"
    except OSError as exc:  # an OSError's kind: refused, reset, no free port ...
        return f"{type(exc).__name__}({exc.errno})" if exc.errno else type(exc).__name__


def _request(url: SplitResult, body: bytes, key: str) -> bytes:
    head = [f"POST {url.path} HTTP/1.1", f"host: {url.netloc}", "content-type: application/json",
            f"content-length: {len(body)}", "connection: close"]  # fmt: skip
    if key:
        head.append(f"authorization: Bearer {key}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def run(url: str, body: bytes, key: str, streams: int, ramp_s: float) -> dict[str, Any]:
    target = urlsplit(url)
    request = _request(target, body, key)
    gaps: list[tuple[float, float]] = []
    waits: list[float] = []  # from opening the connection to the first event: what queueing costs a user
    started = time.monotonic()

    async def delayed(index: int) -> str:
        await asyncio.sleep(ramp_s * index / streams)
        return await _one_stream(target, request, gaps, waits)

    outcomes = Counter(await asyncio.gather(*(delayed(i) for i in range(streams))))
    wall = time.monotonic() - started
    return {
        "completed": outcomes.pop("ok", 0),
        "errors": dict(outcomes),
        "wall_s": round(wall, 3),
        "gaps_ms": _percentiles([gap for _, gap in gaps]),
        # gaps that ended after every stream was open (ramp + 1 s): the steady state, without the opening burst
        "gaps_after_ramp_ms": _percentiles([gap for at, gap in gaps if at > started + ramp_s + 1.0]),
        "first_event_ms": _percentiles(waits),
        "events": len(gaps) + streams,
    }


def _percentiles(gaps: list[float]) -> dict[str, float]:
    if not gaps:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(gaps)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50": pick(0.50), "p99": pick(0.99), "max": round(ordered[-1] * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_load")
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--key", default="")
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--ramp-s", type=float, default=1.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    raise_fd_limit()
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    result = asyncio.run(run(args.url, args.body.encode(), args.key, args.streams, args.ramp_s))
    args.out.write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main()
