"""What a Routstr provider announcement (kind 38421) and a NIP-65 relay list (kind 10002) contain."""

import asyncio
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.nostr.event import Event

ANNOUNCEMENT_KIND = 38421
RECOMMENDATION_KIND = 38000
RELAY_LIST_KIND = 10002
DEFAULT_ID_HEX_CHARS = 12


@dataclass(frozen=True)
class Listing:
    """The node's public description; models and prices are not in the event (clients fetch /v1/models)."""

    name: str
    about: str
    urls: tuple[str, ...]
    mints: tuple[str, ...]
    version: str

    def content(self) -> str:
        # Routstr clients drop a listing whose name or about is empty.
        name = self.name.strip() or "routstr-node"
        about = self.about.strip() or name
        return json.dumps({"name": name, "about": about}, ensure_ascii=False, separators=(",", ":"))

    def tags(self, provider_id: str) -> list[list[str]]:
        tags = [["d", provider_id]]
        tags += [["u", url] for url in self.urls]
        tags += [["mint", mint] for mint in self.mints]
        tags.append(["version", self.version])
        return tags


def endpoint_urls(http_url: str, onion_url: str) -> tuple[str, ...]:
    return tuple(url.strip() for url in (http_url, onion_url) if url.strip())


def default_provider_id(pubkey: str) -> str:
    return pubkey[:DEFAULT_ID_HEX_CHARS]


def newest(events: Iterable[Event]) -> Event | None:
    """The event a relay keeps for a replaceable slot: latest created_at, ties broken by the lowest id."""
    return min(events, key=lambda event: (-event.created_at, event.id), default=None)


def relay_list_tags(relays: Sequence[str]) -> list[list[str]]:
    return [["r", relay] for relay in relays]


def write_relays(relay_list: Event) -> list[str]:
    """NIP-65: an "r" tag without a marker is read+write; "write" is write only; "read" is not for publishing."""
    return _relays_not_marked(relay_list, "read")


def read_relays(relay_list: Event) -> list[str]:
    """NIP-65: an "r" tag without a marker is read+write; "read" is read only; "write" is not for reading."""
    return _relays_not_marked(relay_list, "write")


def _relays_not_marked(relay_list: Event, other_side: str) -> list[str]:
    return [tag[1] for tag in relay_list.tags if len(tag) >= 2 and tag[0] == "r" and tag[2:3] != (other_side,)]


class CreatedAtClock:
    """created_at strictly increasing per (kind, d), never more than `max_ahead_s` ahead of the wall clock.

    Relays keep the newest event per slot and break ties by the lowest id, so two updates in one second
    must not share a timestamp; when updates outrun the clock, `stamp` waits instead of drifting ahead.
    """

    def __init__(self, max_ahead_s: int = 3) -> None:
        self._max_ahead_s = max_ahead_s
        self._last: dict[tuple[int, str], int] = {}

    def observe(self, kind: int, d: str, created_at: int) -> None:
        """Remember a timestamp already used (for example our own event found on a relay)."""
        key = (kind, d)
        self._last[key] = max(self._last.get(key, 0), created_at)

    async def stamp(self, kind: int, d: str) -> int:
        key = (kind, d)
        while True:
            now = int(time.time())
            candidate = max(now, self._last.get(key, 0) + 1)
            if candidate - now <= self._max_ahead_s:
                self._last[key] = candidate
                return candidate
            await asyncio.sleep(candidate - now - self._max_ahead_s)
