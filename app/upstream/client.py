"""The OpenAI-compatible upstream over one pooled HTTP client for the whole process.

aiohttp rather than httpx: with one shared client it holds its throughput as concurrency rises, where httpx's pool
does not (see FACTS.md). Foreign exceptions are mapped to the node's errors here and nowhere else."""

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from app.errors import NodeError, UpstreamTimeout, UpstreamUnavailable


class UpstreamDropped(NodeError):
    default_message = "upstream closed the connection before the reply was complete"


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    base_url: str
    api_key: str = ""
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 120.0
    max_connections: int = 512


@contextmanager
def _mapped_errors() -> Iterator[None]:
    try:
        yield
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise UpstreamTimeout() from exc
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
        raise UpstreamDropped() from exc
    except aiohttp.ClientError as exc:
        raise UpstreamUnavailable(f"upstream unreachable: {type(exc).__name__}") from exc


class UpstreamReply:
    """An upstream response whose status and headers have arrived; the body is read or streamed once."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.content_type = response.headers.get("Content-Type", "application/json")

    async def read(self) -> bytes:
        try:
            with _mapped_errors():
                return await self._response.read()
        finally:
            self._response.release()

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            with _mapped_errors():
                async for chunk in self._response.content.iter_any():
                    yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self._response.close()


class UpstreamClient:
    def __init__(self, config: UpstreamConfig) -> None:
        self._config = config
        self._base = config.base_url.rstrip("/")
        self._headers = {"Content-Type": "application/json"}
        if config.api_key:
            self._headers["Authorization"] = f"Bearer {config.api_key}"
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._config.max_connections, limit_per_host=0, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self._config.connect_timeout_s, sock_read=self._config.read_timeout_s
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, json_serialize=lambda o: orjson.dumps(o).decode()
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("UpstreamClient.start() was not awaited")
        return self._session

    async def send(self, path: str, body: bytes) -> UpstreamReply:
        """POST a body as-is and return once the status line and headers are in."""
        with _mapped_errors():
            response = await self.session.post(self._base + path, data=body, headers=self._headers)
        return UpstreamReply(response)

    async def list_models(self) -> list[dict[str, Any]]:
        with _mapped_errors():
            async with self.session.get(self._base + "/models", headers=self._headers) as response:
                if response.status != 200:
                    raise UpstreamUnavailable(f"upstream /models answered {response.status}")
                payload = orjson.loads(await response.read())
        data = payload.get("data", []) if isinstance(payload, dict) else []
        return [m for m in data if isinstance(m, dict)]
