"""Leases on both databases: one holder at a time, taken over only once expired, renewed by its holder."""

import asyncio

from app.db.database import open_database
from app.db.leases import Leases, process_lease


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_one_holder_until_it_expires(database_url: str) -> None:
    db = open_database(database_url)
    clock = Clock()
    a, b = Leases(db, "aaaa", clock), Leases(db, "bbbb", clock)
    try:
        assert await a.take("job", 10)
        assert not await b.take("job", 10)
        assert await a.take("job", 10)  # renewal by the holder
        assert await b.holder("job") == "aaaa"
        clock.now += 11
        assert await b.holder("job") is None
        assert await b.take("job", 10)
        assert not await a.take("job", 10)
        assert not await a.give_up("job")  # only the holder gives it up
        assert await b.give_up("job")
        assert await a.take("job", 10)
    finally:
        await db.close()


async def test_concurrent_takers_one_wins(database_url: str) -> None:
    db = open_database(database_url)
    clock = Clock()
    takers = [Leases(db, f"owner{i}", clock) for i in range(16)]
    try:
        won = await asyncio.gather(*(t.take("op:x", 30) for t in takers))
        assert sum(won) == 1
    finally:
        await db.close()


async def test_liveness_of_a_process(database_url: str) -> None:
    db = open_database(database_url)
    clock = Clock()
    me, other = Leases(db, "me", clock), Leases(db, "other", clock)
    try:
        assert await me.is_alive("me")
        assert not await me.is_alive("other")
        await other.take(process_lease("other"), 30)
        assert await me.is_alive("other")
        clock.now += 31
        assert not await me.is_alive("other")
    finally:
        await db.close()


async def test_leases_long_expired_are_purged_and_nothing_else(database_url: str) -> None:
    """An expired lease is as good as none to every reader: its row only takes room (NIP-98 auth events, dead
    processes' liveness leases), so it goes once expired for longer than `grace_s`."""
    db = open_database(database_url)
    clock = Clock()
    leases = Leases(db, "me", clock)
    try:
        await leases.take("nip98:old", 10)
        await leases.take("nip98:just-expired", 180)  # expired 20 s before the purge: kept for now
        await leases.take("job:live", 1_000)
        clock.now += 200
        assert await leases.purge_expired(grace_s=60) == 1
        assert await leases.holder("job:live") == "me"
        clock.now += 1_000
        assert await leases.purge_expired(grace_s=60) == 2  # the other two, long expired by now
        assert await leases.take("job:live", 10)  # as any expired lease could be taken
    finally:
        await db.close()
