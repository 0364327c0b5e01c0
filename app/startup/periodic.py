"""Periodic jobs, run by every process or (`led`) by one process per database, and this process's liveness lease."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from app.db.database import Database
from app.db.leases import Leases, new_boot_id, process_lease

log = logging.getLogger(__name__)

PROCESS_LEASE_TTL_S = 30.0  # a process that stopped renewing for this long is taken for dead

Job = Callable[[], Awaitable[Any]]


async def _every(interval_s: float, job: Job, first_run_now: bool) -> None:
    if not first_run_now:
        await asyncio.sleep(interval_s)
    while True:
        try:
            await job()
        except Exception:
            log.exception("periodic.failed")
        await asyncio.sleep(interval_s)


def start_periodic(stack: AsyncExitStack, *jobs: tuple[float, Job], first_run_now: bool = False) -> None:
    tasks = [asyncio.create_task(_every(interval, job, first_run_now)) for interval, job in jobs]

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    stack.push_async_callback(stop)


def then(first: Job, second: Job) -> Callable[[], Awaitable[None]]:
    async def both() -> None:
        await first()
        await second()

    return both


def led(leases: Leases, job: str, interval_s: float, work: Job) -> Callable[[], Awaitable[None]]:
    """`work` run by one process per database, the holder of the lease `job:<job>` (renewed at each run). When the
    leader dies, its lease expires two intervals later and the next process to ask takes the job over."""

    async def run() -> None:
        if await leases.take(f"job:{job}", 2 * interval_s):
            await work()

    return run


async def hold_process_lease(db: Database, stack: AsyncExitStack) -> Leases:
    """This process's liveness lease, renewed while it runs and given up at a clean stop, so that other processes
    on the database can tell when what it held (reservations, mint operations) was orphaned by a crash."""
    leases = Leases(db, new_boot_id())
    name = process_lease(leases.owner)
    await leases.take(name, PROCESS_LEASE_TTL_S)
    stack.push_async_callback(leases.give_up, name)
    start_periodic(stack, (PROCESS_LEASE_TTL_S / 3, lambda: leases.take(name, PROCESS_LEASE_TTL_S)))
    log.info("node.process boot_id=%s", leases.owner)
    return leases
