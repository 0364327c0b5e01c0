import asyncio
from collections.abc import AsyncIterator

import pytest

from app.db.database import open_database
from app.errors import InsufficientBalance, Unauthorized
from app.ledger.keys import hash_key
from app.ledger.records import EntryKind
from app.ledger.service import Ledger


@pytest.fixture
async def ledger(database_url: str) -> AsyncIterator[Ledger]:
    db = open_database(database_url)
    yield Ledger(db)
    await db.close()


async def test_reserve_then_settle_charges_actual_cost_and_releases_the_rest(ledger: Ledger) -> None:
    key, account = await ledger.create_key(10_000)

    reservation = await ledger.reserve(hash_key(key), 4_000, "req-1")
    held = await ledger.find(key)
    settlement = await ledger.settle("req-1", 1_234)
    after = await ledger.find(key)

    assert reservation.amount_msat == 4_000
    assert held is not None and held.reserved_msat == 4_000 and held.balance_msat == 10_000
    assert settlement is not None and settlement.charged_msat == 1_234 and settlement.unpaid_msat == 0
    assert after is not None and after.balance_msat == 10_000 - 1_234 and after.reserved_msat == 0
    entries = await ledger.entries(account.id)
    assert [(e.kind, e.amount_msat, e.balance_after_msat) for e in entries] == [
        (EntryKind.ADJUSTMENT, 10_000, 10_000),
        (EntryKind.CHARGE, -1_234, 8_766),
    ]
    assert await ledger.check() == []


async def test_unknown_key_is_refused_and_nothing_is_written(ledger: Ledger) -> None:
    with pytest.raises(Unauthorized):
        await ledger.reserve(hash_key("sk-nope"), 1, "req-x")
    totals = await ledger.totals()
    assert totals.balances_msat == 0 and totals.reserved_msat == 0


async def test_short_balance_is_refused_with_what_is_needed_and_available(ledger: Ledger) -> None:
    key, _ = await ledger.create_key(500)
    with pytest.raises(InsufficientBalance) as refused:
        await ledger.reserve(hash_key(key), 501, "req-1")
    assert "501" in refused.value.message and "500" in refused.value.message
    account = await ledger.find(key)
    assert account is not None and account.reserved_msat == 0 and account.balance_msat == 500


async def test_64_concurrent_reservations_on_a_key_funded_for_10(ledger: Ledger) -> None:
    cost = 1_000
    key, _ = await ledger.create_key(10 * cost)

    async def one_request(i: int) -> bool:
        try:
            await ledger.reserve(hash_key(key), cost, f"req-{i}")
        except InsufficientBalance:
            return False
        await asyncio.sleep(0)
        await ledger.settle(f"req-{i}", cost)
        return True

    outcomes = await asyncio.gather(*(one_request(i) for i in range(64)))

    assert sum(outcomes) == 10
    account = await ledger.find(key)
    assert account is not None and account.balance_msat == 0 and account.reserved_msat == 0
    assert await ledger.check() == []


async def test_settlement_happens_exactly_once_under_concurrency(ledger: Ledger) -> None:
    key, _ = await ledger.create_key(5_000)
    await ledger.reserve(hash_key(key), 3_000, "req-1")

    results = await asyncio.gather(*(ledger.settle("req-1", 2_000) for _ in range(8)), ledger.release("req-1"))

    settled = [r for r in results[:8] if r is not None]
    released = results[8]
    assert len(settled) + int(released) == 1
    account = await ledger.find(key)
    assert account is not None and account.reserved_msat == 0
    assert account.balance_msat in (3_000, 5_000)
    assert await ledger.check() == []


async def test_cost_above_reservation_never_drives_the_balance_negative(ledger: Ledger) -> None:
    key, _ = await ledger.create_key(1_500)
    await ledger.reserve(hash_key(key), 1_000, "req-1")

    settlement = await ledger.settle("req-1", 4_000)

    assert settlement is not None
    assert settlement.charged_msat == 1_500 and settlement.unpaid_msat == 2_500
    account = await ledger.find(key)
    assert account is not None and account.balance_msat == 0
    assert await ledger.check() == []


async def test_stale_reservations_from_a_dead_process_are_released(database_url: str) -> None:
    db = open_database(database_url)
    now = [1_000_000.0]
    ledger = Ledger(db, clock=lambda: now[0])
    key, _ = await ledger.create_key(2_000)
    await ledger.reserve(hash_key(key), 2_000, "req-old")
    now[0] += 7200

    released = await ledger.release_stale(max_age_s=3600)

    account = await ledger.find(key)
    assert released == 1 and account is not None and account.available_msat == 2_000
    assert await ledger.settle("req-old", 100) is None
    await db.close()


async def test_totals_balance_deposits_against_balances_spent_and_refunds(ledger: Ledger) -> None:
    key, account = await ledger.create_key(0)
    await ledger.credit(account.id, 9_000, EntryKind.DEPOSIT, ref="token-1")
    await ledger.reserve(hash_key(key), 2_000, "r1")
    await ledger.settle("r1", 1_500)

    totals = await ledger.totals()

    assert totals.deposited_msat == 9_000
    assert totals.deposited_msat == totals.balances_msat + totals.charged_msat + totals.refunded_msat
