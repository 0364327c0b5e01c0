"""A TCP proxy in front of a real mint that forwards a chosen request but drops the mint's answer to it.

It reproduces the one failure that matters for a swap: the mint did the work, the node never heard back.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from tests.fixtures.gate import forward_once, read_request


@asynccontextmanager
async def dropping_proxy(mint_url: str, drop_path: str) -> AsyncIterator[str]:
    """Serve on a free 127.0.0.1 port; yield the proxy's URL. Requests to `drop_path` lose their response."""
    target = urlsplit(mint_url)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # One request per connection: both directions say "Connection: close".
        try:
            request = await read_request(reader)
            if not request:
                return
            response = await forward_once(target.hostname or "127.0.0.1", target.port or 80, request)
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
