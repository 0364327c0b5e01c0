"""Reservations left behind: those of a dead process are released as soon as its liveness lease has expired (never
a live process's), those older than the age limit as a last resort; a release racing a settlement moves the money
once."""

import asyncio

from app.db.database import open_database
from app.db.leases import Leases, process_lease
from app.ledger.keys import hash_key
from app.ledger.service import Ledger
from tests.fixtures.audit import assert_books_clean, assert_books_clean_at
from tests.fixtures.node import NodeFactory

LEASE_TTL_S = 30


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_dead_process_s_reservations_are_released_a_live_one_s_kept(database_url: str) -> None:
    clock = Clock()
    names = ("dead", "live", "me")
    dbs = {name: open_database(database_url) for name in names}  # one database client per process
    processes = {name: Leases(dbs[name], name, clock) for name in names}
    ledgers = {name: Ledger(dbs[name], clock, leases=processes[name]) for name in names}
    try:
        for leases in processes.values():
            await leases.take(process_lease(leases.owner), LEASE_TTL_S)
        key, _ = await ledgers["me"].create_key(9_000)
        for name, ledger in ledgers.items():
            await ledger.reserve(hash_key(key), 3_000, f"req-{name}")

        assert await ledgers["me"].release_orphaned() == 0  # everyone still renews
        clock.now += LEASE_TTL_S + 1
        for name in ("live", "me"):
            await processes[name].take(process_lease(name), LEASE_TTL_S)
        released = await asyncio.gather(ledgers["me"].release_orphaned(), ledgers["live"].release_orphaned())

        account = await ledgers["me"].find(key)
        assert sum(released) == 1
        assert account is not None and account.reserved_msat == 6_000
        assert await ledgers["live"].settle("req-dead", 1_000) is None
        assert (settled := await ledgers["live"].settle("req-live", 1_000)) and settled.charged_msat == 1_000
        assert await ledgers["me"].release("req-me")
        await assert_books_clean(dbs["me"])
    finally:
        for db in dbs.values():
            await db.close()


async def test_reservations_without_an_owner_wait_for_the_age_limit(database_url: str) -> None:
    db = open_database(database_url)
    clock = Clock()
    me = Leases(db, "me", clock)
    ownerless, ledger = Ledger(db, clock), Ledger(db, clock, leases=me)
    try:
        key, _ = await ledger.create_key(2_000)
        await ownerless.reserve(hash_key(key), 2_000, "req-old")
        clock.now += 3_599

        assert await ledger.release_orphaned() == 0
        assert await ledger.release_stale(max_age_s=3_600) == 0
        clock.now += 2
        assert await ledger.release_stale(max_age_s=3_600) == 1

        account = await ledger.find(key)
        assert account is not None and account.available_msat == 2_000
        assert await ledger.settle("req-old", 100) is None
        await assert_books_clean(db)
    finally:
        await db.close()


async def test_stale_release_racing_settlements_moves_each_reservation_once(database_url: str) -> None:
    db = open_database(database_url)
    clock = Clock()
    ledger = Ledger(db, clock)
    try:
        key, _ = await ledger.create_key(100_000)
        requests = [f"req-{i}" for i in range(40)]
        for request_id in requests:
            await ledger.reserve(hash_key(key), 1_000, request_id)
        clock.now += 7_200

        outcomes = await asyncio.gather(
            ledger.release_stale(max_age_s=3_600), *(ledger.settle(request_id, 400) for request_id in requests)
        )

        released, settlements = outcomes[0], outcomes[1:]
        assert isinstance(released, int)
        charged = [s for s in settlements if s is not None]
        assert released + len(charged) == len(requests)
        account = await ledger.find(key)
        assert account is not None and account.reserved_msat == 0
        assert account.balance_msat == 100_000 - 400 * len(charged)
        await assert_books_clean(db)
    finally:
        await db.close()


async def _reserve_for_a_process_that_died(database_url: str) -> str:
    db = open_database(database_url)
    ledger = Ledger(db, leases=Leases(db, "dead"))  # its liveness lease is gone: it never renews again
    try:
        key, _ = await ledger.create_key(5_000)
        await ledger.reserve(hash_key(key), 5_000, "req-orphan")
        return key
    finally:
        await db.close()


async def _reserved(database_url: str, key: str) -> int:
    db = open_database(database_url)
    try:
        account = await Ledger(db).find(key)
        assert account is not None
        return account.reserved_msat
    finally:
        await db.close()


def test_a_starting_node_releases_what_a_dead_process_held(database_url: str, node_factory: NodeFactory) -> None:
    key = asyncio.run(_reserve_for_a_process_that_died(database_url))

    node_factory()

    assert asyncio.run(_reserved(database_url, key)) == 0
    asyncio.run(assert_books_clean_at(database_url))
