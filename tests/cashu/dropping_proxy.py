"""A TCP proxy in front of a real mint that forwards a chosen request but drops the mint's answer to it.

It reproduces the one failure that matters for a swap: the mint did the work, the node never heard back.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit


@asynccontextmanager
async def dropping_proxy(mint_url: str, drop_path: str) -> AsyncIterator[str]:
    """Serve on a free 127.0.0.1 port; yield the proxy's URL. Requests to `drop_path` lose their response."""
    target = urlsplit(mint_url)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # One request per connection: both directions say "Connection: close".
        try:
            request = await _read_request(reader)
            if not request:
                return
            response = await _forward(target.hostname or "127.0.0.1", target.port or 80, request)
            if request.split(b" ", 2)[1] != drop_path.encode():
                writer.write(response)
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return b""
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return _with_connection_close(head) + body


def _with_connection_close(head: bytes) -> bytes:
    lines = [line for line in head.split(b"\r\n") if line and not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close", b"", b""])


async def _forward(host: str, port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, sep, body = response.partition(b"\r\n\r\n")
    return _with_connection_close(head + sep) + body if sep else response
