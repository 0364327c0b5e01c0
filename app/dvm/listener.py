"""Listens for kind 5050 jobs on the node's relays and hands each admitted one to the DVM service, a bounded number
at a time; the same event delivered by several relays (or again after a reconnect) is handled once."""

import asyncio
import logging
import time
from typing import Any

from app.dvm.admission import admitted
from app.dvm.cancel import JobCancels, deletion_filter, is_deletion
from app.dvm.recovery import JobRecovery
from app.dvm.requests import JOB_KIND
from app.dvm.service import DvmService
from app.nostr.listening import ListenerTasks, RecentEvents
from app.nostr.pool import RelayPool

log = logging.getLogger(__name__)

RECENT_IDS = 10_000  # event ids remembered in memory; the database remembers them all
LOOKBACK_S = 60  # jobs published this long before the node started listening are still taken
RECOVER_EVERY_S = 10.0  # a third of a process's liveness lease


class DvmListener:
    def __init__(
        self,
        pool: RelayPool,
        service: DvmService,
        recovery: JobRecovery,
        pubkey: str,
        *,
        accept_untargeted: bool,
        max_jobs: int = 64,
        cancels: JobCancels | None = None,
    ) -> None:
        self._pool = pool
        self._service = service
        self._recovery = recovery
        self._pubkey = pubkey
        self._accept_untargeted = accept_untargeted
        self._slots = asyncio.Semaphore(max_jobs)
        self._cancels = cancels
        self._recent: RecentEvents[str] = RecentEvents(RECENT_IDS)  # event id -> its author
        self._tasks = ListenerTasks()

    def filters(self) -> list[dict[str, Any]]:
        since = int(time.time()) - LOOKBACK_S
        jobs: dict[str, Any] = {"kinds": [JOB_KIND], "since": since}
        if not self._accept_untargeted:
            jobs["#p"] = [self._pubkey]
        return [jobs, deletion_filter(since)] if self._cancels else [jobs]

    async def start(self) -> None:
        await self._pool.listen(self.filters(), self._on_event)
        self._tasks.spawn(self._recover_periodically(), "dvm recovery")
        log.info("dvm.listening relays=%s untargeted=%s", self._pool.urls, self._accept_untargeted)

    async def stop(self) -> None:
        await self._tasks.cancel_all()
        await self._pool.close()

    def _on_event(self, raw: dict[str, Any]) -> None:
        event_id = raw.get("id")
        if not isinstance(event_id, str) or event_id in self._recent:
            return
        if is_deletion(raw):
            self._cancel(raw)
            return
        event = admitted(raw, self._pubkey, self._accept_untargeted)
        if event is None:
            return
        self._recent.remember(event.id, event.pubkey)
        self._tasks.spawn(self._handle(event), f"dvm job {event.id[:8]}")

    def _cancel(self, raw: dict[str, Any]) -> None:
        if self._cancels is not None:
            self._recent.remember(raw["id"], "")
            self._tasks.spawn(self._handle_cancel(self._cancels, raw), f"dvm cancel {raw['id'][:8]}")

    async def _handle_cancel(self, cancels: JobCancels, raw: dict[str, Any]) -> None:
        try:
            await cancels.handle(raw, self._recent.get)
        except Exception:  # the database was unreachable: the deletion is handled when seen again
            self._recent.forget(raw["id"])
            log.exception("dvm.cancel_failed deletion=%s", raw["id"])

    async def _recover_periodically(self) -> None:
        while True:
            try:
                await self._recovery.recover()
            except Exception:  # the database or a mint is unreachable: the next round tries again
                log.exception("dvm.recovery_failed")
            await asyncio.sleep(RECOVER_EVERY_S)

    async def _handle(self, event: Any) -> None:
        async with self._slots:
            try:
                await self._service.handle(event)
            except Exception:  # the database was unreachable: the job stays untaken and is seen again later
                self._recent.forget(event.id)
                log.exception("dvm.handle_failed job=%s", event.id)
