"""Who talks to the mint about an operation: one owner at a time, across every process on the database.

Ownership is a lease in the database (`op:<id>`, held by this process's boot id, longer than a mint request may
take and renewed while the owner works) plus a note of which operations a coroutine of this process is working on (a
lease belongs to a process, so two requests of one process must be told apart too). Only the owner sends an
operation's swap or mint, or recovers it; everyone else reads the journal for the outcome. Periodic jobs that must
run once per database (not once per process) are led through a lease as well (`job:<name>`)."""

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from app.db.leases import Leases
from app.treasury.errors import ProofsTaken

Decided = TypeVar("Decided")
Result = TypeVar("Result")

log = logging.getLogger(__name__)


def _lease(op_id: str) -> str:
    return f"op:{op_id}"


class Ownership:
    def __init__(self, leases: Leases, *, ttl_s: float) -> None:
        self._leases = leases
        self._ttl_s = ttl_s
        self._working: set[str] = set()

    @asynccontextmanager
    async def own(self, op_id: str) -> AsyncIterator[bool]:
        """Inside: True when this coroutine owns the operation (until the block ends), False when someone else does."""
        if op_id in self._working:
            yield False
            return
        self._working.add(op_id)
        try:
            if not await self._leases.take(_lease(op_id), self._ttl_s):
                yield False
                return
            async with self._renewed(op_id):
                yield True
        finally:
            self._working.discard(op_id)

    async def new_operation(
        self,
        begin: Callable[[str], Awaitable[Decided]],
        send: Callable[[str, Decided], Awaitable[Result]],
        *,
        tries: int,
        busy: Callable[[], Exception],
    ) -> Result:
        """A new operation of the node's wallet: owned under a fresh id *before* `begin` journals it (so no other
        process can send it), then `send` talks to the mint. Planned again under a new id when a concurrent
        operation took the proofs `begin` chose; `busy()` is raised after `tries` such collisions."""
        for _ in range(tries):
            op_id = os.urandom(16).hex()
            async with self.own(op_id):
                try:
                    decided = await begin(op_id)
                except ProofsTaken:
                    continue
                return await send(op_id, decided)
        raise busy()

    async def owned_elsewhere(self, op_id: str) -> bool:
        """Whether another coroutine or another live lease holder is working on the operation right now."""
        if op_id in self._working:
            return True
        holder = await self._leases.holder(_lease(op_id))
        return holder is not None and holder != self._leases.owner

    async def lead(self, job: str, ttl_s: float) -> bool:
        """Take or keep the leadership of a periodic job: True for one process on the database at a time."""
        return await self._leases.take(f"job:{job}", ttl_s)

    @asynccontextmanager
    async def _renewed(self, op_id: str) -> AsyncIterator[None]:
        renewal = asyncio.create_task(self._renew(op_id))
        try:
            yield
        finally:
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)
            await self._leases.give_up(_lease(op_id))

    async def _renew(self, op_id: str) -> None:
        while True:
            await asyncio.sleep(self._ttl_s / 3)
            if not await self._leases.take(_lease(op_id), self._ttl_s):
                log.error("ownership.lost op=%s", op_id)  # stalled past the lease: another process may take over
                return
