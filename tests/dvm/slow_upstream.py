"""In front of the stand-in upstream: every completion asks it (with its per-request `standin` switches) to stream
its events some time apart, so a DVM job, whose body the node builds from the job's tags, runs for seconds."""

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL


class SlowUpstream:
    def __init__(self, standin_url: str, switches: dict[str, Any]) -> None:
        self._target = URL(standin_url).with_path("")
        self._switches = switches
        self._loop = asyncio.new_event_loop()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        if request.method == "POST":
            body = json.dumps({**json.loads(body), "standin": self._switches}).encode()
        target = self._target.join(URL(request.path_qs))
        headers = {"content-type": "application/json"}
        async with self._session.request(request.method, target, data=body or None, headers=headers) as answer:
            reply = web.StreamResponse(status=answer.status, headers={"content-type": answer.content_type})
            await reply.prepare(request)
            async for chunk in answer.content.iter_any():
                await reply.write(chunk)
            await reply.write_eof()
            return reply


@contextmanager
def slow_upstream(standin_url: str, **switches: Any) -> Iterator[str]:
    """The URL of an upstream that is the stand-in with `switches` on every completion (chunks, delay_ms)."""
    upstream = SlowUpstream(standin_url, switches)
    thread = threading.Thread(target=upstream._loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(upstream.start(), upstream._loop).result(timeout=10)
    try:
        yield upstream.url
    finally:
        asyncio.run_coroutine_threadsafe(upstream.stop(), upstream._loop).result(timeout=10)
        upstream._loop.call_soon_threadsafe(upstream._loop.stop)
        thread.join(timeout=5)
        upstream._loop.close()
