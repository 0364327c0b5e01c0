"""The metering rules, case by case, on both databases: the same table runs through the SQLite writer and through
PostgreSQL's generated meter_batch(). Each case starts from a key with an opening balance, runs its steps, and
checks what each step returned, the key's balance and reservation, its charge rows and the uncharged usage."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from app.db.database import open_database
from app.errors import InsufficientBalance, Unauthorized
from app.ledger.keys import hash_key
from app.ledger.metering import ALL_BITCOIN_MSAT
from app.ledger.records import EntryKind, Settlement
from app.ledger.service import Ledger
from tests.fixtures.audit import assert_books_clean

UNKNOWN_KEY = "unknown"


@dataclass(frozen=True)
class Case:
    name: str
    opening_msat: int
    # ("reserve", request id, amount[, key]) | ("settle", request id, cost) | ("release", request id), each with what
    # it returns: the amount reserved, (charged, uncharged) or None, True/False, or the exception type it raises
    steps: list[tuple[tuple[Any, ...], Any]]
    balance_msat: int
    reserved_msat: int = 0
    charges_msat: list[int] = field(default_factory=list)
    uncharged_msat: int = 0


CASES = [
    Case(
        "settle below the reservation charges the cost",
        10_000,
        [(("reserve", "r1", 4_000), 4_000), (("settle", "r1", 1_234), (1_234, 0))],
        balance_msat=8_766,
        charges_msat=[-1_234],
    ),
    Case(
        "settle of exactly the reservation",
        5_000,
        [(("reserve", "r1", 5_000), 5_000), (("settle", "r1", 5_000), (5_000, 0))],
        balance_msat=0,
        charges_msat=[-5_000],
    ),
    Case(
        "a cost above the reservation is capped at it, never taken from the rest of the balance",
        10_000,
        [(("reserve", "r1", 1_000), 1_000), (("settle", "r1", 4_000), (1_000, 3_000))],
        balance_msat=9_000,
        charges_msat=[-1_000],
        uncharged_msat=3_000,
    ),
    Case(
        "a zero cost charges nothing and writes no charge row",
        1_000,
        [(("reserve", "r1", 1_000), 1_000), (("settle", "r1", 0), (0, 0))],
        balance_msat=1_000,
    ),
    Case(
        "a negative cost never credits the key",
        1_000,
        [(("reserve", "r1", 600), 600), (("settle", "r1", -50_000), (0, 0))],
        balance_msat=1_000,
    ),
    Case(
        "an absurd cost is charged the reservation, the rest recorded as uncharged",
        1_000,
        [(("reserve", "r1", 700), 700), (("settle", "r1", 10**30), (700, ALL_BITCOIN_MSAT - 700))],
        balance_msat=300,
        charges_msat=[-700],
        uncharged_msat=ALL_BITCOIN_MSAT - 700,
    ),
    Case(
        "a release gives everything back",
        2_000,
        [(("reserve", "r1", 1_500), 1_500), (("release", "r1"), True)],
        balance_msat=2_000,
    ),
    Case(
        "a settlement happens once; a late release or settle finds nothing",
        2_000,
        [
            (("reserve", "r1", 1_500), 1_500),
            (("settle", "r1", 1_000), (1_000, 0)),
            (("settle", "r1", 1_000), None),
            (("release", "r1"), False),
        ],
        balance_msat=1_000,
        charges_msat=[-1_000],
    ),
    Case(
        "a released reservation cannot be settled",
        2_000,
        [(("reserve", "r1", 1_500), 1_500), (("release", "r1"), True), (("settle", "r1", 900), None)],
        balance_msat=2_000,
    ),
    Case(
        "reservations add up to the balance and no further",
        3_000,
        [
            (("reserve", "r1", 2_000), 2_000),
            (("reserve", "r2", 1_000), 1_000),
            (("reserve", "r3", 1), InsufficientBalance),
            (("settle", "r1", 500), (500, 0)),
        ],
        balance_msat=2_500,
        reserved_msat=1_000,
        charges_msat=[-500],
    ),
    Case(
        "a short balance is refused and nothing held",
        500,
        [(("reserve", "r1", 501), InsufficientBalance)],
        balance_msat=500,
    ),
    Case(
        "an absurd reservation is refused as short",
        500,
        [(("reserve", "r1", 10**30), InsufficientBalance)],
        balance_msat=500,
    ),
    Case(
        "a negative reservation is refused before anything is written",
        500,
        [(("reserve", "r1", -100), ValueError)],
        balance_msat=500,
    ),
    Case(
        "an unknown key is refused",
        500,
        [(("reserve", "r1", 1, UNKNOWN_KEY), Unauthorized)],
        balance_msat=500,
    ),
    Case(
        "a free request holds nothing and charges nothing",
        500,
        [(("reserve", "r1", 0), 0), (("settle", "r1", 0), (0, 0))],
        balance_msat=500,
    ),
]


@pytest.fixture
async def ledger(database_url: str) -> AsyncIterator[Ledger]:
    db = open_database(database_url)
    yield Ledger(db)
    await assert_books_clean(db)
    await db.close()


async def _run(ledger: Ledger, key: str, step: tuple[Any, ...]) -> Any:
    match step:
        case ("reserve", request_id, amount, *which):
            key_hash = hash_key("sk-nope") if which == [UNKNOWN_KEY] else hash_key(key)
            return (await ledger.reserve(key_hash, amount, request_id)).amount_msat
        case ("settle", request_id, cost):
            settled = await ledger.settle(request_id, cost)
            return _charged(settled)
        case ("release", request_id):
            return await ledger.release(request_id)
    raise AssertionError(f"no such step {step}")


def _charged(settled: Settlement | None) -> tuple[int, int] | None:
    return None if settled is None else (settled.charged_msat, settled.uncharged_msat)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_metering(ledger: Ledger, case: Case) -> None:
    key, account = await ledger.create_key(case.opening_msat)

    for step, expected in case.steps:
        if isinstance(expected, type) and issubclass(expected, Exception):
            with pytest.raises(expected):
                await _run(ledger, key, step)
        else:
            assert await _run(ledger, key, step) == expected, step

    after = await ledger.find(key)
    assert after is not None
    assert (after.balance_msat, after.reserved_msat) == (case.balance_msat, case.reserved_msat)
    entries = await ledger.entries(account.id)
    assert [e.amount_msat for e in entries if e.kind is EntryKind.CHARGE] == case.charges_msat
    assert all(e.balance_after_msat >= 0 for e in entries)
    assert (await ledger.totals()).uncharged_msat == case.uncharged_msat
