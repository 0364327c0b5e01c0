"""Discovery against real relays and a lying relay, with providers served by local HTTP servers."""

import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest

from app.nostr.announcement import ANNOUNCEMENT_KIND, RECOMMENDATION_KIND
from app.nostr.announcer import Announcer
from app.nostr.discover_cli import format_table, run_discover_cli
from app.nostr.discovery import Provider, discover
from app.nostr.event import Event, sign_event
from app.nostr.keys import NodeKeys
from app.nostr.provider_cache import ProviderCache
from tests.fixtures.ports import free_port
from tests.fixtures.relay import TestRelay
from tests.nostr.provider_servers import models_body, provider_server
from tests.nostr.relay_helpers import eventually, fixed_relay
from tests.nostr.test_announcer import FAST


def listing(keys: NodeKeys, d: str, name: str, url: str, created_at: int | None = None) -> Event:
    tags = [["d", d], ["u", url], ["mint", "https://mint.example.com"], ["version", "1"]]
    return sign_event(keys, ANNOUNCEMENT_KIND, tags, json.dumps({"name": name, "about": "x"}), created_at)


@asynccontextmanager
async def announced(keys: NodeKeys, relay: str, name: str, url: str) -> AsyncIterator[Announcer]:
    announcer = Announcer(
        keys,
        [relay],
        name=name,
        about="test",
        http_url=url,
        mints=["https://mint.example.com"],
        version="1",
        force=True,
        timing=FAST,
    )
    await announcer.start()
    try:
        await eventually(lambda: announcer.status()["relays"][relay]["status"] == "accepted")
        yield announcer
    finally:
        await announcer.stop()


@pytest.fixture
async def network(nostr_relays: list[TestRelay]) -> AsyncIterator[dict[str, object]]:
    """Alice and Bob announce on relay 0; Carol only on relay 2, found through a recommendation with a hint;
    a lying relay also serves a forged copy of Alice's listing and a listing dated an hour ahead."""
    alice, bob, carol, mallory, curator = (NodeKeys.generate() for _ in range(5))
    async with AsyncExitStack() as stack:
        a_url = await stack.enter_async_context(
            provider_server(models_body(("gpt-a", 0.004), ("gpt-b", 0.002)), {"name": "Alice", "npub": alice.npub})
        )
        b_url = await stack.enter_async_context(provider_server(models_body(("llama", 0.01)), {"name": "Bob"}))
        alice_listing = await stack.enter_async_context(announced(alice, nostr_relays[0].url, "Alice", a_url))
        await stack.enter_async_context(announced(bob, nostr_relays[0].url, "Bob", b_url))
        await stack.enter_async_context(announced(carol, nostr_relays[2].url, "Carol", "http://127.0.0.1:9"))
        forged = {**listing(alice, alice_listing.status()["d"], "Alice", a_url, int(time.time()) + 5).to_json()}
        forged["content"] = json.dumps({"name": "Evil Alice", "about": "x"})
        future = listing(mallory, "m", "From the future", b_url, int(time.time()) + 3600).to_json()
        recommendation = sign_event(
            curator,
            RECOMMENDATION_KIND,
            [["k", "38421"], ["d", "routstr"], ["a", f"38421:{carol.pubkey}:{carol.pubkey[:12]}", nostr_relays[2].url]],
            "",
        ).to_json()
        liar = await stack.enter_async_context(fixed_relay([forged, future, recommendation]))
        yield {"relays": [nostr_relays[0].url, liar.url], "alice": alice, "bob": bob, "carol": carol}


def pubkeys(network: dict[str, object]) -> set[str]:
    return {network[name].pubkey for name in ("alice", "bob", "carol")}  # type: ignore[attr-defined]


def ours(network: dict[str, object], providers: list[Provider]) -> list[Provider]:
    """The relays are shared by the session: keep this test's providers."""
    return [p for p in providers if p.pubkey in pubkeys(network)]


async def test_discovery_lists_only_valid_current_listings_with_prices(network: dict[str, object]) -> None:
    found = await discover(network["relays"], timeout=1.0, allow_private=True)  # type: ignore[arg-type]
    assert not any(p.name in ("Evil Alice", "From the future") for p in found)
    providers = ours(network, found)
    assert len(providers) == 3
    by_name = {p.name: p for p in providers}
    assert set(by_name) == {"Alice", "Bob", "Carol"}
    alice = by_name["Alice"]
    assert alice.pubkey == network["alice"].pubkey  # type: ignore[attr-defined]
    assert alice.npub == network["alice"].npub  # type: ignore[attr-defined]
    assert alice.probe.reachable and alice.probe.cheapest_completion_sats == 0.002
    assert set(alice.probe.models) == {"gpt-a", "gpt-b"}
    assert alice.probe.info == {"name": "Alice", "npub": alice.npub}
    assert alice.mints == ("https://mint.example.com",)
    assert by_name["Bob"].probe.cheapest_completion_sats == 0.01
    assert not by_name["Carol"].probe.reachable  # listed through the recommendation, but nothing answers there
    table = format_table(providers)
    assert table.splitlines()[1].startswith("Alice")  # cheapest reachable first
    assert "Evil" not in table and "future" not in table


async def test_private_endpoints_are_not_probed_by_default(network: dict[str, object]) -> None:
    providers = ours(network, await discover(network["relays"], timeout=1.0))  # type: ignore[arg-type]
    assert len(providers) == 3 and not any(p.probe.reachable for p in providers)


async def test_provider_cache_refreshes_in_the_background(network: dict[str, object]) -> None:
    cache = ProviderCache(network["relays"], relay_timeout_s=1.0, allow_private=True)  # type: ignore[arg-type]
    await cache.start()
    try:
        await eventually(lambda: len(ours(network, cache.providers())) == 3)
        snapshot = cache.snapshot()
        assert snapshot["updated_at"] is not None
        listed = {p["name"] for p in snapshot["providers"] if p["pubkey"] in pubkeys(network)}
        assert listed == {"Alice", "Bob", "Carol"}
        json.dumps(snapshot)
    finally:
        await cache.stop()


def test_cli_prints_json(nostr_relays: list[TestRelay], capsys: pytest.CaptureFixture[str]) -> None:
    assert run_discover_cli([nostr_relays[1].url], as_json=True, timeout=0.5) == 0
    assert isinstance(json.loads(capsys.readouterr().out), list)
    assert run_discover_cli([], as_json=False) == 2


def test_cli_fails_when_no_relay_answers(capsys: pytest.CaptureFixture[str]) -> None:
    dead = f"ws://127.0.0.1:{free_port()}"  # nothing listens there

    assert run_discover_cli([dead], as_json=True, timeout=0.5) == 1
    assert "none of 1 relays answered" in capsys.readouterr().err
