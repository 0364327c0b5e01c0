"""The OpenAI-compatible upstream over one pooled HTTP client for the whole process.

aiohttp rather than httpx: with one shared client it holds its throughput as concurrency rises, where httpx's pool
does not (see FACTS.md). Foreign exceptions are mapped to the node's errors here and nowhere else."""

import asyncio
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import aiohttp
import orjson

from app.errors import NodeError, ServiceUnavailable, UpstreamTimeout, UpstreamUnavailable
from app.upstream.model_list import UpstreamModel, parse_model_list
from app.upstream.refusals import refusal

ERROR_BODY_BYTES = 64 * 1024  # an error reply is read this far, for its message only
MODEL_LIST_BYTES = 16 * 1024 * 1024
MESSAGES_PATH = "/messages"
ANTHROPIC_VERSION = "2023-06-01"


class UpstreamDropped(NodeError):
    default_message = "upstream closed the connection before the reply was complete"


class ReplyTooLarge(NodeError):
    default_message = "the upstream's reply outgrew what this request can use; it was cut off"


class UpstreamPoolFull(ServiceUnavailable):
    """Every pooled upstream connection stayed busy for the pool wait: the node is saturated, the upstream is not
    known to be down, so this is a 503 to retry rather than a 504."""

    default_message = "this node is at its upstream connection limit; retry shortly"

    def __init__(self, retry_after_s: int = 1) -> None:
        super().__init__()
        self.headers["Retry-After"] = str(retry_after_s)


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    base_url: str
    api_key: str = ""
    connect_timeout_s: float = 5.0  # opening a TCP (and TLS) connection to the upstream, nothing else
    read_timeout_s: float = 120.0  # between two reads of a reply
    max_connections: int = 0  # 0: no cap of the pool's own; the node's HTTP limit bounds the requests in flight
    pool_wait_s: float = 30.0  # with a cap: how long a request waits for a connection before UpstreamPoolFull
    kind: str = "generic"  # app.upstream.config.Kind: how the key is sent


def auth_headers(kind: str, api_key: str) -> dict[str, str]:
    """A bearer; Anthropic also takes its key in `x-api-key` (its OpenAI-compatible endpoints read the bearer)."""
    if not api_key:
        return {}
    headers = {"Authorization": f"Bearer {api_key}"}
    if kind == "anthropic":
        headers |= {"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION}
    return headers


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

    def __init__(self, response: aiohttp.ClientResponse, permit: "_Permit", read_timeout_s: float) -> None:
        self._response = response
        self._permit = permit
        self._read_timeout_s = read_timeout_s
        self.status = response.status
        self.content_type = response.headers.get("Content-Type", "application/json")

    @property
    def is_event_stream(self) -> bool:
        return self.content_type.lower().startswith("text/event-stream")

    @property
    def is_json(self) -> bool:
        return self.content_type.lower().startswith("application/json")

    async def read(self, max_bytes: int) -> bytes:
        """The whole body; ReplyTooLarge (and the connection closed) once it passes `max_bytes`."""
        body = bytearray()
        try:
            with _mapped_errors():
                while len(body) <= max_bytes:
                    chunk = await self._response.content.read(max_bytes + 1 - len(body))
                    if not chunk:
                        break
                    body += chunk
        except BaseException:
            self.close()
            raise
        if len(body) > max_bytes:
            self.close()
            raise ReplyTooLarge()
        self._response.release()
        self._permit.release()
        return bytes(body)

    async def refusal(self) -> NodeError:
        """The node's error for this non-2xx answer (its body is read only for a short message)."""
        try:
            body = await self.read(ERROR_BODY_BYTES)
        except NodeError:  # too long, cut or slow: the status alone will do
            body = b""
        return refusal(self.status, self.content_type, body, self._response.headers.get("Retry-After"))

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body in the largest pieces that arrived together; UpstreamTimeout after the read timeout without one."""
        content = self._response.content
        watch = _ReadWatch(content, self._read_timeout_s)
        connection = self._response.connection
        if connection is not None and connection.protocol is not None:
            # watched here instead: aiohttp moves a timer for every chunk (start_timeout drops the one set)
            connection.protocol.read_timeout = None
            connection.protocol.start_timeout()
        time = watch.loop.time
        try:
            with _mapped_errors():
                while True:
                    watch.waiting = True
                    chunk = await content.readany()
                    watch.waiting = False
                    if not chunk:
                        return
                    watch.last_read = time()
                    yield chunk
        finally:
            watch.stop()
            self.close()

    def close(self) -> None:
        self._response.close()
        self._permit.release()


class _ReadWatch:
    """A streamed reply's read timeout at no cost per chunk: one timer, which on firing looks at when the reply was
    last read and sets itself again for then. It fails the read with aiohttp's own socket timeout once the node has
    waited `timeout_s` for the next chunk (a client slow to take what was read holds the node, not the upstream)."""

    __slots__ = ("_content", "_handle", "_timeout_s", "last_read", "loop", "waiting")

    def __init__(self, content: aiohttp.StreamReader, timeout_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        self._content = content
        self._timeout_s = timeout_s
        self.last_read = self.loop.time()
        self.waiting = False
        self._handle = self.loop.call_at(self.last_read + timeout_s, self._check)

    def _check(self) -> None:
        now = self.loop.time()
        due = self.last_read + self._timeout_s
        if self.waiting and due <= now:
            self._content.set_exception(aiohttp.SocketTimeoutError("Timeout on reading data from socket"))
            return
        self._handle = self.loop.call_at(due if due > now else now + self._timeout_s, self._check)

    def stop(self) -> None:
        self._handle.cancel()


class _Permit:
    """One request's place in a capped pool, given back once, whichever way its reply ends."""

    def __init__(self, slots: asyncio.Semaphore | None) -> None:
        self._slots = slots

    def release(self) -> None:
        if self._slots is not None:
            self._slots.release()
            self._slots = None


class UpstreamClient:
    def __init__(self, config: UpstreamConfig) -> None:
        self._config = config
        self._base = config.base_url.rstrip("/")
        self._headers = {"Content-Type": "application/json", **auth_headers(config.kind, config.api_key)}
        # Anthropic's Messages API takes its key as x-api-key and needs a version; other upstreams ignore both.
        self._messages_headers = {**self._headers, "anthropic-version": ANTHROPIC_VERSION}
        if config.api_key:
            self._messages_headers["x-api-key"] = config.api_key
        self._session: aiohttp.ClientSession | None = None
        # the cap is kept here rather than in aiohttp's connector, whose pool wait counts as a connect timeout
        self._slots = asyncio.Semaphore(config.max_connections) if config.max_connections > 0 else None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=self._config.connect_timeout_s, sock_read=self._config.read_timeout_s
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
        permit = await self._permit()
        try:
            with _mapped_errors():
                headers = self._messages_headers if path == MESSAGES_PATH else self._headers
                response = await self.session.post(self._base + path, data=body, headers=headers, allow_redirects=False)
        except BaseException:
            permit.release()
            raise
        return UpstreamReply(response, permit, self._config.read_timeout_s)

    async def list_models(self) -> list[UpstreamModel]:
        """The upstream's models; an unreadable list is UpstreamUnavailable, bad entries are skipped."""
        permit = await self._permit()
        try:
            with _mapped_errors():
                response = await self.session.get(self._base + "/models", headers=self._headers, allow_redirects=False)
        except BaseException:
            permit.release()
            raise
        reply = UpstreamReply(response, permit, self._config.read_timeout_s)
        if reply.status != 200:
            reply.close()
            raise UpstreamUnavailable(f"upstream /models answered {reply.status}")
        try:
            payload = orjson.loads(await reply.read(MODEL_LIST_BYTES))
        except (orjson.JSONDecodeError, ReplyTooLarge) as exc:
            raise UpstreamUnavailable("upstream /models answered something other than a JSON model list") from exc
        return parse_model_list(payload)

    async def _permit(self) -> _Permit:
        if self._slots is None:
            return _Permit(None)
        try:
            await asyncio.wait_for(self._slots.acquire(), self._config.pool_wait_s)
        except TimeoutError:
            raise UpstreamPoolFull() from None
        return _Permit(self._slots)
