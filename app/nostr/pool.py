"""A set of relays used together: publish to all at once, query all and merge; one slow relay delays no other."""

import asyncio
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from app.nostr.backoff import Backoff
from app.nostr.event import Event
from app.nostr.relay import OnEvent, PublishResult, QueryResult, RelayConnection


def normalize_relay_url(url: str) -> str:
    """Lower-case scheme and host, no trailing slash, so "wss://Relay.x/" and "wss://relay.x" are one relay."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}{query}"


def is_relay_url(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme in ("ws", "wss") and bool(parts.netloc)


class RelayPool:
    def __init__(
        self,
        urls: Iterable[str] = (),
        *,
        connect_timeout_s: float = 5.0,
        reconnect_base_s: float = 1.0,
        reconnect_cap_s: float = 60.0,
    ) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._reconnect = (reconnect_base_s, reconnect_cap_s)
        self._relays: dict[str, RelayConnection] = {}
        self.add(urls)
        self.answered = 0  # relays that answered the last query (EOSE, or events before the timeout)

    @property
    def urls(self) -> list[str]:
        return list(self._relays)

    def add(self, urls: Iterable[str]) -> list[str]:
        """Add relays (ignoring malformed and known ones); return the newly added normalised URLs."""
        added = []
        for url in urls:
            if not is_relay_url(url):
                continue
            key = normalize_relay_url(url)
            if key not in self._relays:
                backoff = Backoff(*self._reconnect)
                self._relays[key] = RelayConnection(key, connect_timeout_s=self._connect_timeout_s, backoff=backoff)
                added.append(key)
        return added

    def connected(self, url: str) -> bool:
        relay = self._relays.get(normalize_relay_url(url))
        return relay is not None and relay.connected

    async def publish(
        self, event: Event, timeout_s: float, urls: Iterable[str] | None = None
    ) -> dict[str, PublishResult]:
        """Publish to `urls` (default: all) in parallel; each relay gets at most `timeout_s`."""
        targets = [self._relays[normalize_relay_url(u)] for u in urls] if urls is not None else self._all()
        results = await asyncio.gather(*(relay.publish(event, timeout_s) for relay in targets))
        return {result.relay: result for result in results}

    async def query(self, filters: list[dict[str, Any]], timeout_s: float) -> list[dict[str, Any]]:
        """Events from every relay matching any filter, once each (by id), in no particular order."""
        results: list[QueryResult] = await asyncio.gather(*(relay.query(filters, timeout_s) for relay in self._all()))
        self.answered = sum(1 for result in results if result.complete or result.events)
        unique: dict[str, dict[str, Any]] = {}
        for result in results:
            for event in result.events:
                unique.setdefault(str(event.get("id")), event)
        return list(unique.values())

    async def listen(self, filters: list[dict[str, Any]], on_event: OnEvent) -> list[tuple[str, str]]:
        """A lasting subscription on every relay of the pool (see RelayConnection.listen); pass what it returns to
        `unlisten` to end it."""
        relays = self._all()
        sub_ids = await asyncio.gather(*(relay.listen(filters, on_event) for relay in relays))
        return [(relay.url, sub_id) for relay, sub_id in zip(relays, sub_ids, strict=True)]

    async def unlisten(self, subscriptions: list[tuple[str, str]]) -> None:
        await asyncio.gather(*(self._relays[url].unlisten(sub_id) for url, sub_id in subscriptions))

    async def close(self) -> None:
        await asyncio.gather(*(relay.close() for relay in self._all()))

    def _all(self) -> list[RelayConnection]:
        return list(self._relays.values())
