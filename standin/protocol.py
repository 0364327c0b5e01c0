"""HTTP/1.1 for the stand-in on a raw asyncio Protocol: httptools parsing, keep-alive, pipelining in order.

Replies without a delay are written synchronously from the parser callback (no task per request), which is
what makes the stand-in fast enough never to be the bottleneck of a benchmark.
"""

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import cast

import httptools

from standin.replies import Drop, EndlessStream, Hang, JsonReply, Reply, StreamReply

Router = Callable[[bytes, str, bytes], Reply]

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n"
)
_LAST_CHUNK = b"0\r\n\r\n"
_BAD_REQUEST_BODY = b'{"error":{"message":"malformed HTTP request","type":"invalid_request_error","code":"bad_http"}}'
_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}


@dataclass(slots=True)
class Request:
    method: bytes
    path: str
    body: bytes
    keep_alive: bool


def json_response(reply: JsonReply, keep_alive: bool) -> bytes:
    reason = _REASONS.get(reply.status, b"Unknown")
    connection = b"" if keep_alive else b"connection: close\r\n"
    extra = b"".join(b"%s: %s\r\n" % header for header in reply.headers)
    head = b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s%s\r\n" % (
        reply.status,
        reason,
        reply.content_type,
        len(reply.body),
        extra,
        connection,
    )
    return head + reply.body


def stream_head(keep_alive: bool) -> bytes:
    return _STREAM_HEAD + (b"\r\n" if keep_alive else b"connection: close\r\n\r\n")


def http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class HttpConnection(asyncio.Protocol):
    def __init__(self, router: Router, connections: set["HttpConnection"]) -> None:
        self._router = router
        self._connections = connections
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._body: list[bytes] = []
        self._pending: deque[Request] = deque()
        self._busy = False
        self._task: asyncio.Task[None] | None = None
        self._writable = asyncio.Event()
        self._writable.set()

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        self._busy = True
        if self._task is not None:
            self._task.cancel()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._reject_malformed()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"expect" and value.lower() == b"100-continue":
            self._write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        path = self._url.split(b"?", 1)[0].decode("latin-1")
        request = Request(self._parser.get_method(), path, b"".join(self._body), self._parser.should_keep_alive())
        self._pending.append(request)
        self._drain()

    # serving
    def _drain(self) -> None:
        while self._pending and not self._busy:
            self._serve(self._pending.popleft())

    def _serve(self, request: Request) -> None:
        reply = self._router(request.method, request.path, request.body)
        if isinstance(reply, JsonReply) and not reply.delay_s:
            self._write(json_response(reply, request.keep_alive))
            self._close_unless_kept_alive(request.keep_alive)
        elif isinstance(reply, StreamReply) and not reply.delay_s:
            self._stream_now(reply, request.keep_alive)
        elif isinstance(reply, Drop):
            self._close()
        elif isinstance(reply, EndlessStream):
            self._hold()
            self._task = asyncio.get_running_loop().create_task(self._stream_endlessly(reply))
        else:
            self._hold()
            if not isinstance(reply, Hang):
                self._task = asyncio.get_running_loop().create_task(self._serve_later(reply, request.keep_alive))

    def _stream_now(self, reply: StreamReply, keep_alive: bool) -> None:
        self._write(stream_head(keep_alive))
        for event in reply.events[: reply.drop_at]:
            self._write(http_chunk(event))
        if reply.drop_at is not None:
            self._close()
            return
        self._write(_LAST_CHUNK)
        self._close_unless_kept_alive(keep_alive)

    async def _serve_later(self, reply: JsonReply | StreamReply, keep_alive: bool) -> None:
        if isinstance(reply, JsonReply):
            await asyncio.sleep(reply.delay_s)
            self._write(json_response(reply, keep_alive))
        else:
            if not await self._stream_slowly(reply, keep_alive):
                return
        self._task = None
        self._release()
        self._close_unless_kept_alive(keep_alive)
        self._drain()

    async def _stream_slowly(self, reply: StreamReply, keep_alive: bool) -> bool:
        """Sleep between events; False when the stream was dropped on purpose."""
        self._write(stream_head(keep_alive))
        paced = len(reply.events) - reply.trailing
        for index, event in enumerate(reply.events[: reply.drop_at]):
            if 0 < index < paced:
                await asyncio.sleep(reply.delay_s)
            self._write(http_chunk(event))
        if reply.drop_at is not None:
            self._close()
            return False
        self._write(_LAST_CHUNK)
        return True

    async def _stream_endlessly(self, reply: EndlessStream) -> None:
        """Ends only with the connection (connection_lost cancels this task); waits while the reader lags."""
        self._write(b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ntransfer-encoding: chunked\r\n\r\n" % reply.content_type)
        if reply.first:
            self._write(http_chunk(reply.first))
        batch = http_chunk(reply.repeated) * 16
        while self._transport is not None and not self._transport.is_closing():
            await self._writable.wait()
            self._write(batch)
            await asyncio.sleep(0)

    def _hold(self) -> None:
        self._busy = True
        if self._transport is not None:
            self._transport.pause_reading()

    def _release(self) -> None:
        self._busy = False
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def _close_unless_kept_alive(self, keep_alive: bool) -> None:
        if not keep_alive:
            self._close()

    def _reject_malformed(self) -> None:
        self._write(json_response(JsonReply(400, _BAD_REQUEST_BODY), keep_alive=False))
        self._close()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _close(self) -> None:
        self._busy = True
        self._pending.clear()
        if self._transport is not None:
            self._transport.close()
