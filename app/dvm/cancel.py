"""NIP-09 deletions as job cancellations: a kind 5 event by a job's author, naming the job (`["e", id]`) and its kind
(`["k", "5050"]`), cancels it while it has not run: a job waiting for payment, or one not taken yet. It is then never
run, whatever payment arrives later; what the customer paid stays on their balance. A job already taken runs on:
the deletion is ignored, without feedback (NIP-90 says nothing here, and a client waiting for its result should not
read an `error` that is not final)."""

import logging
from collections.abc import Callable
from typing import Any

from app.dvm.publisher import JobPublisher
from app.dvm.replies import feedback
from app.dvm.requests import JOB_KIND
from app.ledger.dvm_jobs import DvmJobs
from app.nostr.errors import InvalidEvent
from app.nostr.event import Event, verify_event

log = logging.getLogger(__name__)

DELETION_KIND = 5
MAX_CANCELLED_PER_EVENT = 16  # e tags read from one deletion
CANCELLED_REASON = "cancelled"

Seen = Callable[[str], str | None]  # the author of a job event this process received (None: not received)


def deletion_filter(since: int) -> dict[str, Any]:
    return {"kinds": [DELETION_KIND], "#k": [str(JOB_KIND)], "since": since}


def is_deletion(raw: dict[str, Any]) -> bool:
    return raw.get("kind") == DELETION_KIND


def cancelled_job_ids(raw: object) -> tuple[Event, list[str]] | None:
    """The verified deletion and the job ids it names; None when it is not a signed deletion of kind 5050 jobs."""
    try:
        event = Event.from_json(raw)
    except InvalidEvent:
        return None
    if event.kind != DELETION_KIND or str(JOB_KIND) not in event.tag_values("k") or not verify_event(event):
        return None
    ids = [value.lower() for value in event.tag_values("e") if _is_event_id(value)]
    return event, list(dict.fromkeys(ids))[:MAX_CANCELLED_PER_EVENT]


def _is_event_id(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value)


class JobCancels:
    def __init__(self, jobs: DvmJobs, publisher: JobPublisher) -> None:
        self._jobs = jobs
        self._publisher = publisher

    async def handle(self, raw: object, seen: Seen) -> int:
        """Cancel what the deletion names and may cancel; returns how many jobs were cancelled."""
        parsed = cancelled_job_ids(raw)
        if parsed is None:
            return 0
        deletion, job_ids = parsed
        cancelled = 0
        for job_id in job_ids:
            if await self._cancel(job_id, deletion.pubkey, seen):
                cancelled += 1
        return cancelled

    async def _cancel(self, job_id: str, author: str, seen: Seen) -> bool:
        received_from = seen(job_id)
        if received_from is not None and received_from != author:
            return False  # not the job's author
        left = await self._jobs.cancel(job_id, author)
        if left is None:
            return False
        log.info("dvm.cancelled job=%s was=%s", job_id, left)
        # a deletion of a job this node never received may be for another DVM: it is recorded, not answered
        if left == "payment_required" or received_from is not None:
            await self._publisher.publish(feedback((job_id, author), "error", CANCELLED_REASON))
        return True
