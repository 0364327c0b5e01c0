"""Job rows on both databases. The cancel transition: only a job waiting for payment, or one not taken yet,
becomes cancelled, only by its author, and a cancelled job is never taken afterwards. Rows anyone can make for free
are pruned once their job can no longer be admitted."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import select

from app.db.database import Database, open_database
from app.db.leases import Leases
from app.db.tables import dvm_jobs, leases
from app.dvm.admission import PRUNE_AFTER_S
from app.dvm.cancel import JobCancels
from app.dvm.publisher import JobPublisher
from app.ledger.dvm_jobs import DvmJobs
from app.lifespan import LEASE_GRACE_S
from app.nostr.event import sign_event
from app.nostr.keys import NodeKeys
from app.nostr.pool import RelayPool
from tests.dvm.conftest import DvmFactory
from tests.fixtures.relay import TestRelay
from tests.nostr.relay_helpers import fetch

T = TypeVar("T")
JOB, AUTHOR, STRANGER = "ab" * 32, NodeKeys.generate().pubkey, NodeKeys.generate().pubkey


def on_jobs(database_url: str, work: Callable[[DvmJobs, Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = open_database(database_url)
        try:
            return await work(DvmJobs(db, owner="this-process"), db)
        finally:
            await db.close()

    return asyncio.run(run())


async def state_of(db: Database, job_id: str) -> str | None:
    return await db.run(
        lambda conn: conn.execute(select(dvm_jobs.c.state).where(dvm_jobs.c.event_id == job_id)).scalar()
    )


def test_a_job_waiting_for_payment_is_cancelled_once_and_only_by_its_author(database_url: str) -> None:
    async def work(jobs: DvmJobs, db: Database) -> list[object]:
        assert await jobs.take(JOB, AUTHOR) is not None
        await jobs.mark(JOB, "payment_required")
        return [await jobs.cancel(JOB, STRANGER), await jobs.cancel(JOB, AUTHOR), await jobs.cancel(JOB, AUTHOR),
                await jobs.take(JOB, AUTHOR), await state_of(db, JOB)]  # fmt: skip

    assert on_jobs(database_url, work) == [None, "payment_required", None, None, "cancelled"]


def test_a_job_not_taken_yet_is_recorded_cancelled_and_never_taken(database_url: str) -> None:
    async def work(jobs: DvmJobs, db: Database) -> list[object]:
        return [await jobs.cancel(JOB, AUTHOR), await jobs.take(JOB, AUTHOR), await state_of(db, JOB)]

    assert on_jobs(database_url, work) == ["untaken", None, "cancelled"]


def test_a_cancel_by_someone_else_before_the_job_arrived_does_not_stop_it(database_url: str) -> None:
    async def work(jobs: DvmJobs, db: Database) -> list[object]:
        forged = await jobs.cancel(JOB, STRANGER)  # the stranger saw the id before the node took the job
        taken = await jobs.take(JOB, AUTHOR)
        return [forged, taken is not None, await state_of(db, JOB), await jobs.take(JOB, AUTHOR)]

    assert on_jobs(database_url, work) == ["untaken", True, "taken", None]


def test_a_job_taken_or_finished_is_not_cancelled(database_url: str) -> None:
    async def work(jobs: DvmJobs, db: Database) -> list[object]:
        await jobs.take(JOB, AUTHOR)
        running = await jobs.cancel(JOB, AUTHOR)
        await jobs.mark(JOB, "done")
        return [running, await jobs.cancel(JOB, AUTHOR), await state_of(db, JOB)]

    assert on_jobs(database_url, work) == [None, None, "done"]


def test_deletions_by_anyone_but_the_author_are_ignored(database_url: str, nostr_relays: list[TestRelay]) -> None:
    """Relays may refuse such deletions (nostr-sdk's does), but the node must not rely on it: fed one directly."""
    node, author, stranger = NodeKeys.generate(), NodeKeys.generate(), NodeKeys.generate()
    relay = nostr_relays[2]

    def deletion_by(keys: NodeKeys, job_id: str) -> dict[str, object]:
        return sign_event(keys, 5, [["e", job_id], ["k", "5050"]], "").to_json()

    async def work(jobs: DvmJobs, db: Database) -> list[object]:
        pool = RelayPool([relay.url])
        cancels = JobCancels(jobs, JobPublisher(node, pool, 5.0))
        try:
            await jobs.take(JOB, author.pubkey)
            await jobs.mark(JOB, "payment_required")
            queued = "cd" * 32  # received by this process from `author`, not taken yet
            ignored = [
                await cancels.handle(deletion_by(stranger, job), {queued: author.pubkey}.get) for job in (JOB, queued)
            ]
            states = [await state_of(db, JOB), await state_of(db, queued)]
            cancelled = await cancels.handle(deletion_by(author, JOB), lambda _: None)
            return [ignored, states, cancelled, await state_of(db, JOB)]
        finally:
            await pool.close()

    assert on_jobs(database_url, work) == [[0, 0], ["payment_required", None], 1, "cancelled"]
    published = asyncio.run(fetch(relay.url, [{"kinds": [7000], "#e": [JOB], "authors": [node.pubkey]}]))
    assert [tag for event in published for tag in event["tags"] if tag[0] == "status"] == [
        ["status", "error", "cancelled"]
    ]


def test_how_an_encrypted_job_is_sealed_is_kept_for_recovery(database_url: str) -> None:
    async def work(jobs: DvmJobs, db: Database) -> list[tuple[bool, str | None]]:
        await jobs.take(JOB, AUTHOR, encrypted=True, sealing="nip04")
        await jobs.take("ef" * 32, AUTHOR)
        return sorted((job.encrypted, job.sealing) for job in await jobs.unfinished())

    assert on_jobs(database_url, work) == [(False, None), (True, "nip04")]


def test_rows_of_jobs_never_paid_or_cancelled_are_pruned_once_no_such_job_can_be_admitted(database_url: str) -> None:
    """Anyone can make rows of these two states for free (an unpaid job, a deletion naming any id); they matter only
    while the job could still be admitted, so they go once they are older than that. Rows of jobs that ran stay."""
    then = time.time() - PRUNE_AFTER_S - 60

    async def work(jobs: DvmJobs, db: Database) -> list[object]:
        old = DvmJobs(db, owner="this-process", clock=lambda: then)
        unpaid, cancelled, ran, recent = "01" * 32, "02" * 32, "03" * 32, "04" * 32
        await old.take(unpaid, AUTHOR)
        await old.mark(unpaid, "payment_required")
        await old.cancel(cancelled, AUTHOR)
        await old.take(ran, AUTHOR)
        await old.mark(ran, "done")
        await jobs.take(recent, AUTHOR)
        await jobs.mark(recent, "payment_required")
        pruned = await jobs.prune_unpaid(PRUNE_AFTER_S)
        return [
            pruned,
            *[await state_of(db, job) for job in (unpaid, cancelled, ran, recent)],
            await jobs.prune_unpaid(PRUNE_AFTER_S),
        ]

    assert on_jobs(database_url, work) == [2, None, None, "done", "payment_required", 0]


def test_a_node_prunes_such_rows_and_long_expired_leases_from_its_start(
    database_url: str, start_dvm: DvmFactory
) -> None:
    rows_then, leases_then = time.time() - PRUNE_AFTER_S - 60, time.time() - LEASE_GRACE_S - 60

    async def left_behind(jobs: DvmJobs, db: Database) -> None:
        await DvmJobs(db, clock=lambda: rows_then).cancel(JOB, AUTHOR)
        await Leases(db, "a-process-long-dead", lambda: leases_then).take("nip98:" + JOB, 1)

    async def pruned(jobs: DvmJobs, db: Database) -> bool:
        lease = select(leases.c.name).where(leases.c.name == "nip98:" + JOB)
        return await state_of(db, JOB) is None and await db.run(lambda conn: conn.execute(lease).first()) is None

    on_jobs(database_url, left_behind)
    assert not on_jobs(database_url, pruned)
    start_dvm()
    deadline = time.monotonic() + 15
    while not on_jobs(database_url, pruned):
        assert time.monotonic() < deadline
        time.sleep(0.1)
