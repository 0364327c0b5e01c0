"""Small test helpers: read back what relays hold, wait for a condition, and a relay that refuses everything."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from app.nostr.pool import RelayPool


async def fetch(url: str, filters: list[dict[str, Any]], timeout_s: float = 2.0) -> list[dict[str, Any]]:
    pool = RelayPool([url], reconnect_base_s=0.05)
    try:
        return await pool.query(filters, timeout_s)
    finally:
        await pool.close()


async def eventually(check: Callable[[], Any], timeout_s: float = 5.0, every_s: float = 0.05) -> None:
    """Wait until `check()` (sync or async) is truthy."""
    async with asyncio.timeout(timeout_s):
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(every_s)


class RefusingRelay:
    """A relay that answers every EVENT with OK false and a reason, and records each attempt's time."""

    reason = "blocked: test relay refuses everything"

    def __init__(self) -> None:
        self.attempts: list[float] = []
        self.url = ""

    async def _handle(self, ws: ServerConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message[0] == "EVENT":
                self.attempts.append(asyncio.get_running_loop().time())
                await ws.send(json.dumps(["OK", message[1]["id"], False, self.reason]))
            elif message[0] == "REQ":
                await ws.send(json.dumps(["EOSE", message[1]]))


@asynccontextmanager
async def refusing_relay() -> AsyncIterator[RefusingRelay]:
    relay = RefusingRelay()
    async with serve(relay._handle, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        relay.url = f"ws://127.0.0.1:{port}"
        yield relay


class FixedRelay:
    """A relay that answers every REQ with the same stored events, forged or not (relays can lie)."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.url = ""

    async def _handle(self, ws: ServerConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message[0] == "REQ":
                for event in self.events:
                    await ws.send(json.dumps(["EVENT", message[1], event]))
                await ws.send(json.dumps(["EOSE", message[1]]))


@asynccontextmanager
async def fixed_relay(events: list[dict[str, Any]]) -> AsyncIterator[FixedRelay]:
    relay = FixedRelay(events)
    async with serve(relay._handle, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        relay.url = f"ws://127.0.0.1:{port}"
        yield relay
