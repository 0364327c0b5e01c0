"""Leases: a named claim that one process holds until it expires, kept in the database so that every process on it
agrees. What they are for: a process's own liveness (`process:<boot id>`, renewed while it runs, so others can tell
that its reservations and mint operations are orphaned once it died), ownership of one mint operation (only one
process ever sends a given swap), and leadership of a periodic job (it runs once per database, not once per process).

A lease is taken when it is free, expired, or already ours; taking it is one statement, so two processes can never
both hold it."""

import os
import time
from collections.abc import Callable

from sqlalchemy import Connection, and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from app.db.database import Database, Work
from app.db.tables import leases

Clock = Callable[[], float]


def new_boot_id() -> str:
    """Who this process is, for leases: unique per start, so a restarted process never inherits a dead one's claims."""
    return os.urandom(8).hex()


def process_lease(boot_id: str) -> str:
    return f"process:{boot_id}"


def take(name: str, owner: str, ttl_s: float, now: float) -> Work[bool]:
    """Take or renew `name` for `owner` until now + ttl_s. False when another owner holds it unexpired."""

    def work(conn: Connection) -> bool:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(leases).values(name=name, owner=owner, expires_at=now + ttl_s)
        statement = statement.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={"owner": statement.excluded.owner, "expires_at": statement.excluded.expires_at},
            where=or_(leases.c.owner == statement.excluded.owner, leases.c.expires_at < now),
        ).returning(leases.c.owner)
        return conn.execute(statement).first() is not None

    return work


def give_up(name: str, owner: str) -> Work[bool]:
    def work(conn: Connection) -> bool:
        result = conn.execute(delete(leases).where(leases.c.name == name, leases.c.owner == owner))
        return bool(result.rowcount)

    return work


def purge_expired(before: float) -> Work[int]:
    """Delete leases that expired before `before`: to every reader an expired lease is the same as none."""

    def work(conn: Connection) -> int:
        return int(conn.execute(delete(leases).where(leases.c.expires_at < before)).rowcount)

    return work


def holder(name: str, now: float) -> Work[str | None]:
    """Who holds `name` now (None when nobody does or the lease expired)."""

    def work(conn: Connection) -> str | None:
        row = conn.execute(
            select(leases.c.owner).where(and_(leases.c.name == name, leases.c.expires_at >= now))
        ).first()
        return None if row is None else str(row[0])

    return work


class Leases:
    """The async face of the lease table for one process (`owner` is its boot id)."""

    def __init__(self, db: Database, owner: str, clock: Clock = time.time) -> None:
        self._db = db
        self.owner = owner
        self._clock = clock

    async def take(self, name: str, ttl_s: float) -> bool:
        return await self._db.run(take(name, self.owner, ttl_s, self._clock()))

    async def give_up(self, name: str) -> bool:
        return await self._db.run(give_up(name, self.owner))

    async def holder(self, name: str) -> str | None:
        return await self._db.run(holder(name, self._clock()))

    async def purge_expired(self, grace_s: float) -> int:
        return await self._db.run(purge_expired(self._clock() - grace_s))

    async def is_alive(self, boot_id: str) -> bool:
        """Whether the process `boot_id` still renews its liveness lease (this process always is)."""
        return boot_id == self.owner or await self.holder(process_lease(boot_id)) == boot_id
