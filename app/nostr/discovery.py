"""Discovery: find Routstr providers on relays (kind 38421, and kind 38000 recommendations pointing at them)."""

import asyncio
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from app import bech32
from app.nostr.announcement import ANNOUNCEMENT_KIND, RECOMMENDATION_KIND, newest
from app.nostr.event import Event, parse_verified
from app.nostr.pool import RelayPool, is_relay_url
from app.nostr.provider_http import ProviderProbe, probe_provider

FUTURE_LIMIT_S = 15 * 60  # clients drop events dated further ahead
MAX_HINT_RELAYS = 10
QUERY_LIMIT = 1000


@dataclass(frozen=True)
class Provider:
    pubkey: str
    d: str
    name: str
    about: str
    urls: tuple[str, ...]
    mints: tuple[str, ...]
    version: str | None
    created_at: int
    event_id: str
    probe: ProviderProbe = field(default_factory=ProviderProbe)

    @property
    def npub(self) -> str:
        return bech32.encode("npub", bytes.fromhex(self.pubkey))

    def to_json(self) -> dict[str, Any]:
        return {
            "pubkey": self.pubkey,
            "npub": self.npub,
            "d": self.d,
            "name": self.name,
            "about": self.about,
            "urls": list(self.urls),
            "mints": list(self.mints),
            "version": self.version,
            "created_at": self.created_at,
            "event_id": self.event_id,
            **self.probe.to_json(),
        }


class NoRelayAnswered(Exception):
    pass


async def discover(
    relays: Sequence[str],
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 - bounds each relay query, not the whole call
    http_timeout: float = 3.0,
    allow_private: bool = False,
    http_client: httpx.AsyncClient | None = None,
) -> list[Provider]:
    """Every valid, current provider listing on `relays`, each checked over HTTP; newest per (pubkey, d).

    `allow_private` also probes localhost and private addresses (Routstr's clients skip those; tests need them).
    """
    listings = await find_listings(relays, relay_timeout_s=timeout)
    if http_client is not None:
        return await _probe_all(http_client, listings, allow_private)
    async with httpx.AsyncClient(timeout=http_timeout) as client:
        return await _probe_all(client, listings, allow_private)


async def find_listings(relays: Sequence[str], *, relay_timeout_s: float) -> list[Provider]:
    """Verified, current listings, newest per (pubkey, d), without contacting the providers."""
    timeout = relay_timeout_s
    pool = RelayPool(relays, connect_timeout_s=timeout)
    try:
        found = _current(await pool.query(_listing_filters(), timeout))
        if pool.answered == 0:
            raise NoRelayAnswered(f"none of {len(relays)} relays answered within {timeout:g}s")
        pointers = _unresolved_addresses(found)
        if pointers:
            pool.add(_hint_relays(found))
            found += _current(await pool.query([_address_filter(a) for a in pointers], timeout))
    finally:
        await pool.close()
    listings = [event for event in found if event.kind == ANNOUNCEMENT_KIND]
    providers = (_provider(event) for event in _newest_per_address(listings))
    return sorted((p for p in providers if p is not None), key=lambda p: (p.name.lower(), p.pubkey))


async def _probe_all(client: httpx.AsyncClient, listings: list[Provider], allow_private: bool) -> list[Provider]:
    probes = await asyncio.gather(*(probe_provider(client, p.urls, allow_private) for p in listings))
    return [replace(provider, probe=probe) for provider, probe in zip(listings, probes, strict=True)]


def _listing_filters() -> list[dict[str, Any]]:
    return [
        {"kinds": [ANNOUNCEMENT_KIND], "limit": QUERY_LIMIT},
        {"kinds": [RECOMMENDATION_KIND], "#k": [str(ANNOUNCEMENT_KIND)], "limit": QUERY_LIMIT},
    ]


def _current(raw_events: list[dict[str, Any]]) -> list[Event]:
    """Verified events not dated more than 15 minutes ahead."""
    horizon = time.time() + FUTURE_LIMIT_S
    return [event for event in parse_verified(raw_events) if event.created_at <= horizon]


def _address(event: Event) -> str:
    return f"{event.kind}:{event.pubkey}:{event.first_tag('d') or ''}"


def _pointers(recommendations: Iterable[Event]) -> set[str]:
    prefix = f"{ANNOUNCEMENT_KIND}:"
    return {
        a for event in recommendations if event.kind == RECOMMENDATION_KIND for a in event.tag_values("a")
        if a.startswith(prefix) and a.count(":") >= 2
    }  # fmt: skip


def _unresolved_addresses(found: list[Event]) -> list[str]:
    known = {_address(event) for event in found if event.kind == ANNOUNCEMENT_KIND}
    return sorted(_pointers(found) - known)


def _hint_relays(found: list[Event]) -> list[str]:
    """Relay hints of `a` tags (third element), so a recommendation can lead to a relay we were not given."""
    hints = {
        tag[2] for event in found if event.kind == RECOMMENDATION_KIND for tag in event.tags
        if len(tag) > 2 and tag[0] == "a" and is_relay_url(tag[2])
    }  # fmt: skip
    return sorted(hints)[:MAX_HINT_RELAYS]


def _address_filter(address: str) -> dict[str, Any]:
    kind, pubkey, d = address.split(":", 2)
    return {"kinds": [int(kind)], "authors": [pubkey], "#d": [d]}


def _newest_per_address(events: list[Event]) -> list[Event]:
    by_address: dict[str, list[Event]] = {}
    for event in events:
        by_address.setdefault(_address(event), []).append(event)
    return [event for group in by_address.values() for event in [newest(group)] if event is not None]


def _provider(event: Event) -> Provider | None:
    """A listing as Routstr's clients accept it: JSON content with non-empty name and about, and a d tag."""
    name, about = _name_and_about(event.content)
    d = event.first_tag("d")
    if name is None or about is None or not d:
        return None
    return Provider(
        pubkey=event.pubkey,
        d=d,
        name=name,
        about=about,
        urls=tuple(event.tag_values("u")),
        mints=tuple(event.tag_values("mint")),
        version=event.first_tag("version"),
        created_at=event.created_at,
        event_id=event.id,
    )


def _name_and_about(content: str) -> tuple[str | None, str | None]:
    try:
        body = json.loads(content)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    return _non_empty(body.get("name")), _non_empty(body.get("about"))


def _non_empty(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
