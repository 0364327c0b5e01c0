"""Ledger calls under concurrency, and the totals the wallet report reconciles against."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.db.database import open_database
from app.errors import InsufficientBalance
from app.ledger.keys import hash_key
from app.ledger.records import EntryKind
from app.ledger.service import Ledger
from tests.fixtures.audit import assert_books_clean


@pytest.fixture
async def ledger(database_url: str) -> AsyncIterator[Ledger]:
    db = open_database(database_url)
    yield Ledger(db)
    await assert_books_clean(db)
    await db.close()


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


async def test_settlement_happens_exactly_once_under_concurrency(ledger: Ledger) -> None:
    key, _ = await ledger.create_key(5_000)
    await ledger.reserve(hash_key(key), 3_000, "req-1")

    results = await asyncio.gather(*(ledger.settle("req-1", 2_000) for _ in range(8)), ledger.release("req-1"))

    settled = [r for r in results[:8] if r is not None]
    released = results[8]
    assert isinstance(released, bool)
    assert len(settled) + int(released) == 1
    account = await ledger.find(key)
    assert account is not None and account.reserved_msat == 0
    assert account.balance_msat in (3_000, 5_000)


async def test_totals_balance_deposits_against_balances_spent_and_refunds(ledger: Ledger) -> None:
    key, account = await ledger.create_key(0)
    await ledger.credit(account.id, 9_000, EntryKind.DEPOSIT, ref="token-1")
    await ledger.reserve(hash_key(key), 2_000, "r1")
    await ledger.settle("r1", 1_500)

    totals = await ledger.totals()

    assert totals.deposited_msat == 9_000
    assert totals.deposited_msat == totals.balances_msat + totals.charged_msat + totals.refunded_msat
