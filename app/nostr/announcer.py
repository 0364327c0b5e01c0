"""The Announcer service: keeps the node's kind 38421 listing current on every relay it should be on."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from app.net import is_public_url
from app.nostr.announcement import (
    ANNOUNCEMENT_KIND,
    RELAY_LIST_KIND,
    CreatedAtClock,
    Listing,
    default_provider_id,
    endpoint_urls,
    newest,
    relay_list_tags,
    write_relays,
)
from app.nostr.backoff import Backoff
from app.nostr.event import Event, parse_verified, sign_event
from app.nostr.keys import NodeKeys
from app.nostr.pool import RelayPool
from app.nostr.relay import PublishResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Addressable:
    """An addressable event published beside the listing (a NIP-89 handler, say); `tags` include its d."""

    kind: int
    d: str
    tags: list[list[str]]
    content: str


Addressables = Callable[[], Awaitable[Sequence[Addressable]]]


@dataclass(frozen=True)
class AnnounceTiming:
    """Timeouts and backoffs; production defaults, tests shrink them."""

    publish_timeout_s: float = 10.0
    query_timeout_s: float = 5.0
    retry_base_s: float = 10.0
    retry_cap_s: float = 600.0
    connect_timeout_s: float = 5.0
    reconnect_base_s: float = 1.0
    reconnect_cap_s: float = 120.0


@dataclass
class _Retry:
    backoff: Backoff
    due: float = 0.0


class Announcer:
    def __init__(
        self,
        keys: NodeKeys,
        relays: Sequence[str],
        *,
        name: str,
        about: str,
        http_url: str,
        onion_url: str = "",
        mints: Sequence[str] = (),
        version: str,
        interval_s: float = 900.0,
        provider_id: str = "",
        force: bool = False,
        publish_relay_list: bool = False,
        timing: AnnounceTiming | None = None,
        lead: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self._keys = keys
        # with several processes on one database, only the one leading the job publishes on schedule
        self._lead = lead
        self._timing = timing or AnnounceTiming()
        self._pool = RelayPool(
            relays,
            connect_timeout_s=self._timing.connect_timeout_s,
            reconnect_base_s=self._timing.reconnect_base_s,
            reconnect_cap_s=self._timing.reconnect_cap_s,
        )
        self._listing = Listing(name, about, endpoint_urls(http_url, onion_url), tuple(mints), version)
        self._interval_s = interval_s
        self._provider_id = provider_id.strip() or None
        self._force = force
        self._publish_relay_list = publish_relay_list
        self._clock = CreatedAtClock()
        self._changed = asyncio.Event()
        self._results: dict[str, PublishResult] = {}
        self.last_accepted: dict[str, float] = {}  # relay -> wall-clock time it last accepted an event (metrics)
        self._retries: dict[str, _Retry] = {}
        self._last_event: Event | None = None
        self._skipped_reason: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._extras: list[Addressables] = []
        self._last_extras: list[Event] = []

    def also_publish(self, build: Addressables) -> None:
        """Publish what `build` returns beside the listing, each time it is published (same relays, OK-checked,
        retried, created_at strictly increasing per kind and d); published at once."""
        self._extras.append(build)
        self._changed.set()

    async def start(self) -> None:
        """Begin announcing in the background; returns at once (relays never delay start-up)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="nostr announcer")
            self._task.add_done_callback(_log_crash)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._pool.close()

    async def update(
        self,
        *,
        name: str | None = None,
        about: str | None = None,
        http_url: str | None = None,
        onion_url: str | None = None,
        mints: Sequence[str] | None = None,
        version: str | None = None,
    ) -> None:
        """Change what is announced; a real change is published at once."""
        listing = replace(
            self._listing,
            name=self._listing.name if name is None else name,
            about=self._listing.about if about is None else about,
            mints=self._listing.mints if mints is None else tuple(mints),
            version=self._listing.version if version is None else version,
        )
        if http_url is not None or onion_url is not None:
            http, onion = self._endpoint(0, http_url), self._endpoint(1, onion_url)
            listing = replace(listing, urls=endpoint_urls(http, onion))
        if listing != self._listing:
            self._listing = listing
            self._changed.set()

    def status(self) -> dict[str, Any]:
        """JSON-able state for GET /v1/info."""
        event = self._last_event
        return {
            "npub": self._keys.npub,
            "pubkey": self._keys.pubkey,
            "kind": ANNOUNCEMENT_KIND,
            "d": self._provider_id,
            "announcing": self._skipped_reason is None,
            "skipped_reason": self._skipped_reason,
            "last_event_id": event.id if event else None,
            "last_created_at": event.created_at if event else None,
            "relays": {url: self._relay_status(url) for url in self._pool.urls},
        }

    def _relay_status(self, url: str) -> dict[str, Any]:
        result = self._results.get(url)
        return result.to_json() if result else {"status": "pending"}

    def _endpoint(self, index: int, new: str | None) -> str:
        if new is not None:
            return new
        current = [u for u in self._listing.urls if u.endswith(".onion") == (index == 1)]
        return current[0] if current else ""

    async def _run(self) -> None:
        await self._load_own_state()
        if self._publish_relay_list and await self._leads():
            await self._publish_relay_list_event()
        next_announce = 0.0
        while True:
            if self._changed.is_set() or time.monotonic() >= next_announce:
                changed = self._changed.is_set()
                self._changed.clear()
                if changed or await self._leads():  # an operator's update is published by the process that got it
                    await self._announce()
                next_announce = time.monotonic() + self._interval_s
            else:
                await self._retry_due()
            await self._sleep_until(min([next_announce, *self._retry_times()]))

    async def _leads(self) -> bool:
        if self._lead is None:
            return True
        try:
            return await self._lead()
        except Exception:  # the database is unreachable: the next round asks again
            log.exception("nostr.announce_lead_failed")
            return False

    def _retry_times(self) -> list[float]:
        return [retry.due for retry in self._retries.values()]

    async def _sleep_until(self, moment: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), max(0.0, moment - time.monotonic()))

    async def _load_own_state(self) -> None:
        """Find our newest listing (for its d and timestamp) and our NIP-65 write relays on the relays."""
        filters = [
            {"authors": [self._keys.pubkey], "kinds": [ANNOUNCEMENT_KIND]},
            {"authors": [self._keys.pubkey], "kinds": [RELAY_LIST_KIND]},
        ]
        found = parse_verified(await self._pool.query(filters, self._timing.query_timeout_s))
        own = [event for event in found if event.pubkey == self._keys.pubkey]
        provider_id = self._provider_id or _newest_provider_id(own) or default_provider_id(self._keys.pubkey)
        self._provider_id = provider_id
        for event in own:
            if event.kind == ANNOUNCEMENT_KIND and event.first_tag("d") == provider_id:
                self._clock.observe(ANNOUNCEMENT_KIND, provider_id, event.created_at)
        relay_list = newest(e for e in own if e.kind == RELAY_LIST_KIND)
        if relay_list is not None:
            self._clock.observe(RELAY_LIST_KIND, "", relay_list.created_at)
            added = self._pool.add(write_relays(relay_list))
            log.info("nostr.nip65_write_relays added=%s", added)

    async def _publish_relay_list_event(self) -> None:
        stamp = await self._clock.stamp(RELAY_LIST_KIND, "")
        event = sign_event(self._keys, RELAY_LIST_KIND, relay_list_tags(self._pool.urls), "", stamp)
        results = await self._pool.publish(event, self._timing.publish_timeout_s)
        accepted = sorted(url for url, result in results.items() if result.status == "accepted")
        log.info("nostr.relay_list_published event_id=%s accepted=%s", event.id, accepted)

    def _announced_listing(self) -> Listing | None:
        """The listing to sign, or None (with the reason kept) when clients would ignore it."""
        if self._force:
            self._skipped_reason = None
            return self._listing
        public = tuple(url for url in self._listing.urls if is_public_url(url))
        if not public:
            if self._skipped_reason is None:
                log.warning(
                    "nostr.announce_skipped reason=no_public_url urls=%s "
                    "(clients ignore empty, localhost and private addresses; set a public HTTP_URL or force)",
                    list(self._listing.urls),
                )
            self._skipped_reason = "no public http_url or onion_url"
            return None
        self._skipped_reason = None
        return replace(self._listing, urls=public)

    async def _publish_extras(self) -> None:
        events = []
        for build in self._extras:
            for item in await build():
                stamp = await self._clock.stamp(item.kind, item.d)
                events.append(sign_event(self._keys, item.kind, item.tags, item.content, stamp))
        self._last_extras = events
        for event in events:
            log.info("nostr.announce_extra kind=%d event_id=%s", event.kind, event.id)
            await self._publish(event, self._pool.urls)

    async def _announce(self) -> None:
        await self._publish_extras()
        listing = self._announced_listing()
        if listing is None or self._provider_id is None:
            return
        stamp = await self._clock.stamp(ANNOUNCEMENT_KIND, self._provider_id)
        tags = listing.tags(self._provider_id)
        self._last_event = sign_event(self._keys, ANNOUNCEMENT_KIND, tags, listing.content(), stamp)
        log.info("nostr.announce event_id=%s d=%s created_at=%s", self._last_event.id, self._provider_id, stamp)
        await self._publish(self._last_event, self._pool.urls)

    async def _retry_due(self) -> None:
        now = time.monotonic()
        due = [url for url, retry in self._retries.items() if retry.due <= now]
        if not due:
            return
        listing = [self._last_event] if self._last_event is not None else []
        for event in [*self._last_extras, *listing]:
            await self._publish(event, due)

    async def _publish(self, event: Event, urls: list[str]) -> None:
        results = await self._pool.publish(event, self._timing.publish_timeout_s, urls)
        for url, result in results.items():
            self._results[url] = result
            if result.status == "accepted":
                self.last_accepted[url] = result.at
                self._retries.pop(url, None)
                continue
            retry = self._retries.setdefault(url, _Retry(Backoff(self._timing.retry_base_s, self._timing.retry_cap_s)))
            retry.due = time.monotonic() + retry.backoff.next_delay()
            log.warning(
                "nostr.publish_failed relay=%s event_id=%s status=%s reason=%s retry_in_s=%.1f",
                url, event.id, result.status, result.message, retry.due - time.monotonic(),
            )  # fmt: skip


def _newest_provider_id(own_events: list[Event]) -> str | None:
    listing = newest(event for event in own_events if event.kind == ANNOUNCEMENT_KIND)
    return listing.first_tag("d") if listing else None


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("nostr.announcer_crashed", exc_info=task.exception())
