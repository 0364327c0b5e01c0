"""Upstreams for the routing tests: each a small Starlette app on its own port in front of the stand-in, which lists
its own (OpenRouter-shaped, priced) models and can be told to fail every request, so that several upstreams with
different prices and health serve one node. Also fake BTC/USD tickers (Kraken, Coinbase and Bitstamp shapes)."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fixtures.ports import free_port

MODEL_CREATED = 1_700_000_000


def priced_model(model_id: str, prompt_usd: str, completion_usd: str, **extra: Any) -> dict[str, Any]:
    """One entry of OpenRouter's `/api/v1/models` list: prices are USD per token, as decimal strings."""
    return {
        "id": model_id,
        "name": f"Stand-in {model_id}",
        "created": MODEL_CREATED,
        "context_length": 32_768,
        "architecture": {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"]},
        "pricing": {"prompt": prompt_usd, "completion": completion_usd, "request": "0", "image": "0"},
        "top_provider": {"context_length": 32_768, "max_completion_tokens": 4096, "is_moderated": False},
        "per_request_limits": None,
        **extra,
    }


@dataclass
class Front:
    """An upstream: `models` is its list (None: the stand-in's own); `fail_status` answers every POST with it."""

    standin_url: str
    models: list[dict[str, Any]] | None = None
    fail_status: int | None = None
    delay_s: float = 0.0  # before answering a POST
    hits: int = 0  # POSTs received
    url: str = ""
    _server: uvicorn.Server | None = field(default=None, repr=False)

    def app(self) -> Starlette:
        client: dict[str, httpx.AsyncClient] = {}

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            yield
            if "http" in client:
                await client["http"].aclose()

        async def models(request: Request) -> Response:
            if self.models is None:
                async with httpx.AsyncClient() as http:
                    upstream = await http.get(self.standin_url + "/models")
                return Response(upstream.content, upstream.status_code, media_type="application/json")
            return JSONResponse({"data": self.models})

        async def post(request: Request) -> Response:
            self.hits += 1
            await asyncio.sleep(self.delay_s)
            if self.fail_status is not None:
                error = {"message": "the front was told to fail", "type": "server_error", "code": None}
                return JSONResponse({"error": error}, self.fail_status, headers={"Retry-After": "1"})
            http = client.setdefault("http", httpx.AsyncClient(timeout=30))
            outgoing = http.build_request(
                "POST", self.standin_url + request.url.path.removeprefix("/v1"), content=await request.body()
            )
            upstream = await http.send(outgoing, stream=True)

            async def relay() -> AsyncIterator[bytes]:
                try:
                    async for chunk in upstream.aiter_raw():
                        yield chunk
                finally:
                    await upstream.aclose()

            media_type = upstream.headers.get("content-type", "application/json")
            return StreamingResponse(relay(), upstream.status_code, media_type=media_type)

        return Starlette(
            routes=[Route("/v1/models", models, methods=["GET"]), Route("/v1/{path:path}", post, methods=["POST"])],
            lifespan=lifespan,
        )

    def start(self) -> "Front":
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/v1"
        self._server = serve_in_thread(self.app(), port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            stop_server(self._server)
            self._server = None


def serve_in_thread(app: Starlette, port: int) -> uvicorn.Server:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", loop="asyncio", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"front-{port}", daemon=True)
    thread.start()
    _threads[id(server)] = thread
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("front did not start")
        time.sleep(0.01)
    return server


_threads: dict[int, threading.Thread] = {}


def stop_server(server: uvicorn.Server) -> None:
    server.should_exit = True
    thread = _threads.pop(id(server), None)
    if thread is not None:
        thread.join(timeout=10)


@dataclass
class Ticker:
    """A fake public ticker: `price` in the named exchange's reply shape; `down` answers 503."""

    exchange: str
    price: float
    down: bool = False
    url: str = ""
    _server: uvicorn.Server | None = field(default=None, repr=False)

    def reply(self) -> dict[str, Any]:
        text = f"{self.price:.2f}"
        if self.exchange == "kraken":
            return {"error": [], "result": {"XXBTZUSD": {"a": [text, "1", "1.000"], "c": [text, "0.001"]}}}
        if self.exchange == "coinbase":
            return {"data": {"amount": text, "base": "BTC", "currency": "USD"}}
        return {"timestamp": "1764600000", "last": text, "bid": text, "ask": text, "volume": "1.0"}

    def start(self) -> "Ticker":
        async def ticker(request: Request) -> Response:
            if self.down:
                return JSONResponse({"error": "down"}, 503)
            return JSONResponse(self.reply())

        port = free_port()
        self.url = f"http://127.0.0.1:{port}/ticker"
        self._server = serve_in_thread(Starlette(routes=[Route("/ticker", ticker)]), port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            stop_server(self._server)
            self._server = None

    @property
    def source(self) -> str:
        return f"{self.exchange}={self.url}"
