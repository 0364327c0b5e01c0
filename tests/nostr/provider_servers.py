"""Tiny local HTTP servers standing in for announced nodes: /v1/models and /v1/info."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web


def models_body(*prices: tuple[str, float]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": model, "pricing": {}, "sats_pricing": {"prompt": completion / 2, "completion": completion}}
            for model, completion in prices
        ],
    }


@asynccontextmanager
async def provider_server(models: dict[str, Any], info: dict[str, Any]) -> AsyncIterator[str]:
    """Serve the two documents on 127.0.0.1; yield the base URL."""

    async def get_models(_: web.Request) -> web.Response:
        return web.json_response(models)

    async def get_info(_: web.Request) -> web.Response:
        return web.json_response(info)

    app = web.Application()
    app.router.add_get("/v1/models", get_models)
    app.router.add_get("/v1/info", get_info)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
