"""Signs what the DVM says and publishes it to the node's relays and those a job named (OK-checked, logged)."""

import asyncio
import logging

from app.dvm.replies import Reply
from app.nostr.event import Event, parse_verified, sign_event
from app.nostr.keys import NodeKeys
from app.nostr.pool import RelayPool, normalize_relay_url
from app.nostr.relay import PublishResult

log = logging.getLogger(__name__)

MAX_POOL_RELAYS = 32  # relays named by jobs are added to the pool up to this many


class JobPublisher:
    def __init__(self, keys: NodeKeys, pool: RelayPool, timeout_s: float) -> None:
        self.keys = keys
        self._pool = pool
        self._timeout_s = timeout_s
        self._own_relays = pool.urls
        self._background: set[asyncio.Task[dict[str, PublishResult]]] = set()

    async def fetch(self, event_id: str, hints: tuple[str, ...]) -> Event | None:
        """One event by id from the node's relays (and the hinted ones, while the pool has room), verified."""
        if len(self._pool.urls) < MAX_POOL_RELAYS:
            self._pool.add(hints)
        found = parse_verified(await self._pool.query([{"ids": [event_id]}], self._timeout_s / 2))
        return next((event for event in found if event.id == event_id), None)

    def sign(self, reply: Reply) -> Event:
        return sign_event(self.keys, reply.kind, reply.tags, reply.content)

    async def publish(self, reply: Reply, job_relays: tuple[str, ...] = ()) -> None:
        await self.send(self.sign(reply), job_relays)

    async def send(self, event: Event, job_relays: tuple[str, ...] = ()) -> bool:
        """To the node's relays and those the job named (added to the pool while it has room). Returns once a relay
        accepted it (True) or all refused or timed out (False); the slower relays finish in the background, so one
        relay that is down does not hold every answer for the publish timeout."""
        if len(self._pool.urls) < MAX_POOL_RELAYS:
            self._pool.add(job_relays)
        pooled = set(self._pool.urls)
        asked = [url for url in map(normalize_relay_url, job_relays) if url in pooled]
        targets = list(dict.fromkeys([*self._own_relays, *asked]))
        pending = {asyncio.create_task(self._pool.publish(event, self._timeout_s, [url])) for url in targets}
        results: list[PublishResult] = []
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            results += [result for task in done for result in task.result().values()]
            if any(result.status == "accepted" for result in results):
                self._in_background(pending)
                log.info("dvm.published kind=%d event_id=%s relay=%s", event.kind, event.id, results[-1].relay)
                return True
        reasons = sorted({f"{r.status}: {r.message}" for r in results})
        log.warning("dvm.publish_failed kind=%d event_id=%s reasons=%s", event.kind, event.id, reasons)
        return False

    def _in_background(self, tasks: set["asyncio.Task[dict[str, PublishResult]]"]) -> None:
        for task in tasks:
            self._background.add(task)
            task.add_done_callback(self._background.discard)
