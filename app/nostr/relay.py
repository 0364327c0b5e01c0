"""One relay: a websocket kept open with reconnects, publishing with OK acknowledgements, and REQ/EOSE queries."""

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from app.nostr.backoff import Backoff
from app.nostr.event import Event

log = logging.getLogger(__name__)

PublishStatus = Literal["accepted", "refused", "timeout"]
OnEvent = Callable[[dict[str, Any]], None]
_CONNECT_ERRORS = (OSError, TimeoutError, InvalidHandshake, ConnectionClosed)


@dataclass(frozen=True)
class PublishResult:
    relay: str
    event_id: str
    status: PublishStatus
    message: str
    at: float

    def to_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "status": self.status, "message": self.message, "at": int(self.at)}


@dataclass(frozen=True)
class QueryResult:
    relay: str
    events: list[dict[str, Any]]
    complete: bool  # EOSE seen before the timeout
    closed_reason: str | None = None


class _PendingOk:
    def __init__(self) -> None:
        self.outcome: asyncio.Future[tuple[PublishStatus, str]] = asyncio.get_running_loop().create_future()
        self.sent_on: ClientConnection | None = None


class _Subscription:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.done: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()


class RelayConnection:
    """Keeps one websocket to `url` open in the background; callers never wait longer than their timeout."""

    def __init__(self, url: str, *, connect_timeout_s: float = 5.0, backoff: Backoff | None = None) -> None:
        self.url = url
        self._connect_timeout_s = connect_timeout_s
        self._backoff = backoff or Backoff()
        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pending_ok: dict[str, _PendingOk] = {}
        self._subscriptions: dict[str, _Subscription] = {}
        self._listeners: dict[str, tuple[list[dict[str, Any]], OnEvent]] = {}
        self.last_notice: str | None = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._keep_connected(), name=f"relay {self.url}")

    async def close(self) -> None:
        ws = self._ws
        if ws is not None:
            await ws.close()  # a clean 1000 close; cancelling inside `connect` would send 1011
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def publish(self, event: Event, timeout_s: float) -> PublishResult:
        """Send EVENT and wait for its OK; never raises for relay trouble."""
        self.start()
        pending = _PendingOk()
        self._pending_ok[event.id] = pending
        try:
            async with asyncio.timeout(timeout_s):
                await self._send_when_connected(["EVENT", event.to_json()], pending)
                status, message = await pending.outcome
        except TimeoutError:
            status, message = "timeout", f"no OK within {timeout_s:g}s" if self.connected else "not connected"
        finally:
            if self._pending_ok.get(event.id) is pending:
                del self._pending_ok[event.id]
        return PublishResult(self.url, event.id, status, message, time.time())

    async def query(self, filters: list[dict[str, Any]], timeout_s: float) -> QueryResult:
        """REQ the filters, collect events until EOSE, CLOSED or the timeout, then CLOSE."""
        self.start()
        sub_id = secrets.token_hex(8)
        subscription = _Subscription()
        self._subscriptions[sub_id] = subscription
        complete, reason = False, None
        try:
            async with asyncio.timeout(timeout_s):
                await self._send_when_connected(["REQ", sub_id, *filters])
                reason = await subscription.done
                complete = reason is None
        except TimeoutError:
            pass
        finally:
            self._subscriptions.pop(sub_id, None)
            await self._send_quietly(["CLOSE", sub_id])
        return QueryResult(self.url, subscription.events, complete, reason)

    async def listen(self, filters: list[dict[str, Any]], on_event: OnEvent) -> str:
        """Keep a REQ open for good: sent again after every reconnect, each EVENT handed to `on_event` (unverified;
        stored events come again after a reconnect, so the caller drops the ones it has seen)."""
        self.start()
        sub_id = secrets.token_hex(8)
        self._listeners[sub_id] = (filters, on_event)
        await self._send_quietly(["REQ", sub_id, *filters])
        return sub_id

    async def unlisten(self, sub_id: str) -> None:
        if self._listeners.pop(sub_id, None) is not None:
            await self._send_quietly(["CLOSE", sub_id])

    async def _resubscribe(self, ws: ClientConnection) -> None:
        for sub_id, (filters, _) in list(self._listeners.items()):
            await ws.send(orjson.dumps(["REQ", sub_id, *filters]).decode())

    async def _send_when_connected(self, message: list[Any], pending: _PendingOk | None = None) -> None:
        """Send on the current connection, waiting for (re)connection as long as the caller's timeout allows."""
        text = orjson.dumps(message).decode()
        while True:
            await self._connected.wait()
            ws = self._ws
            if ws is None:
                continue
            if pending is not None:
                pending.sent_on = ws
            try:
                await ws.send(text)
                return
            except ConnectionClosed:
                if pending is not None:
                    pending.sent_on = None  # not sent: wait for the next connection instead of failing
                if self._ws is ws:
                    self._on_close()

    async def _send_quietly(self, message: list[Any]) -> None:
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(orjson.dumps(message).decode())

    async def _keep_connected(self) -> None:
        while True:
            try:
                async with connect(self.url, open_timeout=self._connect_timeout_s, max_size=2**22) as ws:
                    self._on_open(ws)
                    await self._resubscribe(ws)
                    async for raw in ws:
                        self._dispatch(raw)
            except InvalidURI:
                log.error("nostr.relay_bad_url relay=%s", self.url)
                return
            except _CONNECT_ERRORS as exc:
                log.info("nostr.relay_disconnected relay=%s error=%s", self.url, type(exc).__name__)
            finally:
                self._on_close()
            await asyncio.sleep(self._backoff.next_delay())

    def _on_open(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._backoff.reset()
        self._connected.set()
        log.info("nostr.relay_connected relay=%s", self.url)

    def _on_close(self) -> None:
        closed, self._ws = self._ws, None
        self._connected.clear()
        if closed is None:
            return
        for sub in self._subscriptions.values():
            if not sub.done.done():
                sub.done.set_result("connection lost")
        for pending in self._pending_ok.values():
            if pending.sent_on is closed and not pending.outcome.done():
                pending.outcome.set_result(("timeout", "connection lost before OK"))

    def _dispatch(self, raw: str | bytes) -> None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.info("nostr.relay_bad_message relay=%s", self.url)
            return
        if not isinstance(message, list) or not message or not isinstance(message[0], str):
            return
        handler = _HANDLERS.get(message[0])
        if handler is not None and len(message) >= 2:
            handler(self, message)

    def _on_ok(self, message: list[Any]) -> None:
        pending = self._pending_ok.get(str(message[1]))
        if pending is not None and not pending.outcome.done() and len(message) >= 3:
            reason = str(message[3]) if len(message) > 3 else ""
            pending.outcome.set_result(("accepted" if message[2] is True else "refused", reason))

    def _on_event(self, message: list[Any]) -> None:
        listener = self._listeners.get(str(message[1]))
        if listener is not None and len(message) >= 3 and isinstance(message[2], dict):
            listener[1](message[2])
            return
        sub = self._subscriptions.get(str(message[1]))
        if sub is not None and len(message) >= 3 and isinstance(message[2], dict):
            sub.events.append(message[2])

    def _on_eose(self, message: list[Any]) -> None:
        sub = self._subscriptions.get(str(message[1]))
        if sub is not None and not sub.done.done():
            sub.done.set_result(None)

    def _on_closed(self, message: list[Any]) -> None:
        reason = str(message[2]) if len(message) > 2 else ""
        log.info("nostr.relay_closed_subscription relay=%s reason=%s", self.url, reason)
        sub = self._subscriptions.get(str(message[1]))
        if sub is not None and not sub.done.done():
            sub.done.set_result(reason or "closed")

    def _on_notice(self, message: list[Any]) -> None:
        self.last_notice = str(message[1])
        log.info("nostr.relay_notice relay=%s notice=%s", self.url, self.last_notice[:200])


_HANDLERS = {
    "OK": RelayConnection._on_ok,
    "EVENT": RelayConnection._on_event,
    "EOSE": RelayConnection._on_eose,
    "CLOSED": RelayConnection._on_closed,
    "NOTICE": RelayConnection._on_notice,
}
