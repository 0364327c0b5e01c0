"""A bare pass-through proxy with no accounting: the reference ceiling for a Python proxy.

Plain Starlette (what FastAPI runs on, without its per-request dependency solving) + one shared aiohttp
ClientSession; streams are passed on chunk by chunk.
`python -m bench.passthrough --port N --upstream http://127.0.0.1:M/v1`
"""

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

FORWARDED_HEADERS = ("authorization", "content-type")


class Forwarder:
    def __init__(self, upstream: str, pool: int) -> None:
        self._upstream = upstream
        self._pool = pool
        self._session: aiohttp.ClientSession | None = None

    @asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=self._pool, ttl_dns_cache=None)
        async with aiohttp.ClientSession(connector=connector) as session:
            self._session = session
            yield

    async def forward(self, request: Request) -> Response:
        assert self._session is not None
        headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
        url = f"{self._upstream}/{request.path_params['path']}"
        reply = await self._session.request(request.method, url, data=await request.body(), headers=headers)
        content_type = reply.headers.get("content-type", "application/json")
        if content_type.startswith("text/event-stream"):
            return StreamingResponse(_relay(reply), reply.status, media_type=content_type)
        async with reply:
            body = await reply.read()
        return Response(body, reply.status, media_type=content_type)


async def _relay(reply: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    async with reply:
        async for chunk in reply.content.iter_any():
            yield chunk


def create_app(upstream: str, pool: int = 1024) -> Starlette:
    forwarder = Forwarder(upstream.rstrip("/"), pool)
    routes = [Route("/v1/{path:path}", forwarder.forward, methods=["GET", "POST"])]
    return Starlette(routes=routes, lifespan=forwarder.lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.passthrough")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="OpenAI base URL, e.g. http://127.0.0.1:8001/v1")
    parser.add_argument("--pool", type=int, default=1024, help="upstream connections at most; 0: no cap")
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.upstream, args.pool),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
