"""The announcer against real relays: stored everywhere, newest wins, relays that are down or refuse."""

import json
import logging
import time

import nostr_sdk
import pytest

from app.nostr.announcement import ANNOUNCEMENT_KIND, RELAY_LIST_KIND
from app.nostr.announcer import Announcer, AnnounceTiming
from app.nostr.keys import NodeKeys
from tests.fixtures.relay import TestRelay
from tests.nostr.relay_helpers import eventually, fetch, refusing_relay

FAST = AnnounceTiming(
    publish_timeout_s=0.5,
    query_timeout_s=0.5,
    retry_base_s=0.2,
    retry_cap_s=1.0,
    connect_timeout_s=0.5,
    reconnect_base_s=0.05,
    reconnect_cap_s=0.2,
)


def make_announcer(keys: NodeKeys, relays: list[str], **overrides: object) -> Announcer:
    options: dict[str, object] = {
        "name": "Test node",
        "about": "sells tokens",
        "http_url": "https://node.example.com",
        "onion_url": "http://abcdefghijklmnop.onion",
        "mints": ["https://mint.example.com"],
        "version": "0.1.0",
        "timing": FAST,
        **overrides,
    }
    return Announcer(keys, relays, **options)  # type: ignore[arg-type]


def listing_filter(keys: NodeKeys, **extra: object) -> list[dict[str, object]]:
    return [{"kinds": [ANNOUNCEMENT_KIND], "authors": [keys.pubkey], **extra}]


async def test_every_relay_stores_the_announcement_and_nostr_sdk_verifies_it(
    nostr_relays: list[TestRelay],
) -> None:
    keys = NodeKeys.generate()
    announcer = make_announcer(keys, [r.url for r in nostr_relays])
    await announcer.start()
    try:
        await eventually(lambda: all(v["status"] == "accepted" for v in announcer.status()["relays"].values()))
        for relay in nostr_relays:
            [stored] = await fetch(relay.url, listing_filter(keys))
            foreign = nostr_sdk.Event.from_json(json.dumps(stored))
            assert foreign.verify()
            assert stored["id"] == announcer.status()["last_event_id"]
            assert ["d", keys.pubkey[:12]] in stored["tags"]
            assert ["u", "https://node.example.com"] in stored["tags"]
            assert ["u", "http://abcdefghijklmnop.onion"] in stored["tags"]
            assert ["mint", "https://mint.example.com"] in stored["tags"]
            assert ["version", "0.1.0"] in stored["tags"]
            assert json.loads(stored["content"]) == {"name": "Test node", "about": "sells tokens"}
    finally:
        await announcer.stop()
    status = announcer.status()
    assert status["npub"] == keys.npub
    assert set(status["relays"]) == {r.url for r in nostr_relays}


async def test_three_quick_updates_leave_only_the_newest(nostr_relays: list[TestRelay]) -> None:
    keys = NodeKeys.generate()
    announcer = make_announcer(keys, [nostr_relays[0].url], provider_id="my-node")
    await announcer.start()
    try:
        await eventually(lambda: announcer.status()["last_event_id"] is not None)
        for about in ("second", "third", "fourth"):
            await announcer.update(about=about)
        await eventually(lambda: _accepted_content(announcer, "fourth"))
        stored = await fetch(nostr_relays[0].url, listing_filter(keys, **{"#d": ["my-node"]}))
        assert len(stored) == 1
        assert json.loads(stored[0]["content"])["about"] == "fourth"
        assert stored[0]["id"] == announcer.status()["last_event_id"]
        assert stored[0]["created_at"] <= time.time() + 3  # strictly increasing, yet never far ahead
    finally:
        await announcer.stop()


def _accepted_content(announcer: Announcer, about: str) -> bool:
    status = announcer.status()
    result = next(iter(status["relays"].values()))
    return bool(result.get("event_id") == status["last_event_id"] and result["status"] == "accepted")


async def test_provider_id_is_reused_from_the_relays_after_restart(nostr_relays: list[TestRelay]) -> None:
    keys = NodeKeys.generate()
    first = make_announcer(keys, [nostr_relays[1].url], provider_id="kept-id")
    await first.start()
    await eventually(lambda: first.status()["relays"][nostr_relays[1].url]["status"] == "accepted")
    await first.stop()
    second = make_announcer(keys, [nostr_relays[1].url])
    await second.start()
    try:
        await eventually(lambda: second.status()["relays"][nostr_relays[1].url]["status"] == "accepted")
        assert second.status()["d"] == "kept-id"
        assert second.status()["last_created_at"] > first.status()["last_created_at"]
    finally:
        await second.stop()


async def test_relay_down_at_start_gets_the_event_when_back(
    nostr_relays: list[TestRelay], spare_relay: TestRelay
) -> None:
    spare_relay.stop()
    keys = NodeKeys.generate()
    announcer = make_announcer(keys, [nostr_relays[0].url, spare_relay.url])
    await announcer.start()
    try:
        await eventually(lambda: announcer.status()["relays"][spare_relay.url]["status"] == "timeout")
        await eventually(lambda: announcer.status()["relays"][nostr_relays[0].url]["status"] == "accepted", 8.0)
        spare_relay.start()
        await eventually(lambda: announcer.status()["relays"][spare_relay.url]["status"] == "accepted", 8.0)
        [stored] = await fetch(spare_relay.url, listing_filter(keys))
        assert stored["id"] == announcer.status()["last_event_id"]
    finally:
        await announcer.stop()


async def test_refusing_relay_is_logged_with_reason_and_retried_with_backoff(
    nostr_relays: list[TestRelay], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.nostr.announcer")
    async with refusing_relay() as refuser:
        announcer = make_announcer(NodeKeys.generate(), [nostr_relays[2].url, refuser.url])
        await announcer.start()
        try:
            await eventually(lambda: len(refuser.attempts) >= 4, 6.0)
        finally:
            await announcer.stop()
        result = announcer.status()["relays"][refuser.url]
        assert result == {**result, "status": "refused", "message": refuser.reason}
        assert announcer.status()["relays"][nostr_relays[2].url]["status"] == "accepted"
        assert refuser.reason in caplog.text
        gaps = [b - a for a, b in zip(refuser.attempts, refuser.attempts[1:], strict=False)]
        assert min(gaps) >= 0.09  # at least half the 0.2 s base: no tight loop
        assert gaps[-1] > gaps[0]  # grows


async def test_private_url_is_not_announced_unless_forced(
    nostr_relays: list[TestRelay], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.nostr.announcer")
    keys = NodeKeys.generate()
    announcer = make_announcer(keys, [nostr_relays[0].url], http_url="http://192.168.1.20:8000", onion_url="")
    await announcer.start()
    try:
        await eventually(lambda: announcer.status()["skipped_reason"] is not None)
        assert "clients ignore" in caplog.text
        assert await fetch(nostr_relays[0].url, listing_filter(keys)) == []
        await announcer.update(http_url="https://public.example.org")
        await eventually(lambda: announcer.status()["announcing"] and announcer.status()["last_event_id"])
    finally:
        await announcer.stop()
    forced = make_announcer(NodeKeys.generate(), [nostr_relays[0].url], http_url="http://127.0.0.1:1", force=True)
    await forced.start()
    try:
        await eventually(lambda: forced.status()["relays"][nostr_relays[0].url]["status"] == "accepted")
    finally:
        await forced.stop()


async def test_relay_list_is_published_and_its_write_relays_are_used(nostr_relays: list[TestRelay]) -> None:
    keys = NodeKeys.generate()
    home, extra = nostr_relays[0].url, nostr_relays[1].url
    first = make_announcer(keys, [home, extra], publish_relay_list=True)
    await first.start()
    await eventually(lambda: first.status()["last_event_id"] is not None)
    await first.stop()
    [relay_list] = await fetch(home, [{"kinds": [RELAY_LIST_KIND], "authors": [keys.pubkey]}])
    assert ["r", extra] in relay_list["tags"]
    second = make_announcer(keys, [home])  # only the home relay configured; `extra` comes from NIP-65
    await second.start()
    try:
        await eventually(lambda: second.status()["relays"].get(extra, {}).get("status") == "accepted")
    finally:
        await second.stop()
