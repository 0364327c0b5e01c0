"""The relay pool on its own: slow, silent, closing and unreachable relays never hold up the others."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from websockets.asyncio.server import ServerConnection, serve

from app.nostr.event import sign_event
from app.nostr.keys import NodeKeys
from app.nostr.pool import RelayPool, normalize_relay_url
from app.nostr.relay import RelayConnection
from tests.fixtures.ports import free_port
from tests.fixtures.relay import TestRelay


@asynccontextmanager
async def scripted_relay(reply_to_req: list[list[str]], answer_events: bool) -> AsyncIterator[str]:
    """A relay that answers REQ with `reply_to_req` (sub id filled in) and EVENT never, unless asked to."""

    async def handle(ws: ServerConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message[0] == "REQ":
                for reply in reply_to_req:
                    await ws.send(json.dumps([message[1] if part == "$sub" else part for part in reply]))
            elif message[0] == "EVENT" and answer_events:
                await ws.send(json.dumps(["OK", message[1]["id"], True, ""]))

    async with serve(handle, "127.0.0.1", 0) as server:
        yield f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}"


async def test_silent_and_unreachable_relays_cost_only_the_timeout(nostr_relays: list[TestRelay]) -> None:
    event = sign_event(NodeKeys.generate(), 1, [], "hello")
    async with scripted_relay([], answer_events=False) as silent:
        dead = f"ws://127.0.0.1:{free_port()}"
        pool = RelayPool([nostr_relays[0].url, silent, dead], reconnect_base_s=0.05)
        started = time.monotonic()
        results = await pool.publish(event, timeout_s=0.4)
        elapsed = time.monotonic() - started
        await pool.close()
    assert results[nostr_relays[0].url].status == "accepted"
    assert results[silent].status == "timeout" and "no OK" in results[silent].message
    assert results[dead].status == "timeout" and results[dead].message == "not connected"
    assert elapsed < 0.8


async def test_notice_and_closed_end_a_query_with_the_reason() -> None:
    replies = [["NOTICE", "slow down"], ["CLOSED", "$sub", "auth-required: log in first"]]
    async with scripted_relay(replies, answer_events=True) as url:
        relay = RelayConnection(url)
        result = await relay.query([{"kinds": [1]}], timeout_s=2.0)
        await relay.close()
    assert result.complete is False
    assert result.closed_reason == "auth-required: log in first"
    assert relay.last_notice == "slow down"


async def test_query_reads_events_until_eose(nostr_relays: list[TestRelay]) -> None:
    keys = NodeKeys.generate()
    pool = RelayPool([nostr_relays[1].url])
    events = [sign_event(keys, 1, [], f"note {i}") for i in range(3)]
    await asyncio.gather(*(pool.publish(e, 1.0) for e in events))
    found = await pool.query([{"authors": [keys.pubkey]}], 1.0)
    await pool.close()
    assert {e["id"] for e in found} == {e.id for e in events}


def test_relay_urls_are_normalised_and_deduplicated() -> None:
    assert normalize_relay_url("WSS://Relay.Example.com/") == "wss://relay.example.com"
    pool = RelayPool(["wss://relay.example.com", "wss://RELAY.example.com/", "https://not-a-relay", "junk"])
    assert pool.urls == ["wss://relay.example.com"]
