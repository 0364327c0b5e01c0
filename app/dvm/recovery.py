"""Jobs left unfinished by a process that died (its liveness lease expired): an answer already stored is published
again; a job taken (and perhaps paid) but never answered is not run again: what the customer's account holds is
refunded as a token in a kind 7000 error. So a job is either answered or refunded, never both and never neither."""

import json
import logging
from collections.abc import Awaitable, Callable

from app.dvm.publisher import JobPublisher
from app.dvm.replies import feedback
from app.dvm.requests import request_id_for
from app.dvm.sealing import Sealing, seal
from app.errors import BadRequest, NodeError
from app.ledger.dvm_jobs import DvmJobs, UnfinishedJob
from app.nostr.event import Event
from app.payments.refunds import Refunds

log = logging.getLogger(__name__)

IsAlive = Callable[[str], Awaitable[bool]]
Release = Callable[[str], Awaitable[bool]]  # a reservation by request id (Ledger.release)
STOPPED = "the node stopped while running this job"


class JobRecovery:
    def __init__(
        self,
        jobs: DvmJobs,
        publisher: JobPublisher,
        refunds: Refunds,
        *,
        is_alive: IsAlive,
        release: Release,
        running: set[str],
    ) -> None:
        self._jobs = jobs
        self._release = release
        self._publisher = publisher
        self._refunds = refunds
        self._is_alive = is_alive
        self._running = running  # this process's jobs in progress

    async def recover(self) -> int:
        """Finish what dead processes left (and what an earlier round here could not); returns how many."""
        finished = 0
        for job in await self._jobs.unfinished():
            if job.event_id in self._running or not await self._orphaned(job):
                continue
            if await self._jobs.take_over(job) and await self._finish(job):
                finished += 1
        return finished

    async def _orphaned(self, job: UnfinishedJob) -> bool:
        return job.owner is None or not await self._is_alive(job.owner) or job.owner == self._jobs.owner

    async def _finish(self, job: UnfinishedJob) -> bool:
        if job.state == "answered" and job.answer:
            accepted = [await self._publisher.send(Event.from_json(raw)) for raw in json.loads(job.answer)]
            if not all(accepted):
                return False  # the relays are down: next round
            await self._jobs.mark(job.event_id, "done", answer=None)
            log.warning("dvm.recovered job=%s answer=published_again", job.event_id)
            return True
        return await self._refund(job)

    async def _refund(self, job: UnfinishedJob) -> bool:
        """False (try again later) while the customer's money is still held or being settled."""
        await self._release(request_id_for(job.event_id))  # its owner is dead: nothing will settle it
        account = await self._jobs.find_customer(job.pubkey)
        try:
            token = None if account is None else (await self._refunds.refund(account.id, refetch=False)).token
        except BadRequest:  # nothing to refund: the job was never paid
            token = None
        except NodeError as exc:
            log.info("dvm.recovery_waits job=%s reason=%s", job.event_id, exc.message)
            return False
        if token and job.encrypted:
            token = seal(self._publisher.keys, job.pubkey, token, Sealing(job.sealing or Sealing.NIP44))
        reason = f"{STOPPED}; what you paid is returned" if token else STOPPED
        await self._publisher.publish(feedback((job.event_id, job.pubkey), "error", reason, cashu=token))
        await self._jobs.mark(job.event_id, "refunded" if token else "failed")
        log.warning("dvm.recovered job=%s refunded=%s", job.event_id, token is not None)
        return True
