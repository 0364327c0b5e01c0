"""`python -m app ledger check` catches every kind of corruption: books written by the node pass, then one row or
balance changed by hand makes it fail, on both databases. Where a unique index would refuse the corruption, the
test drops it first: the audit must not depend on the constraints it backs up."""

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from app.db.database import open_database
from app.db.tables import ledger_entries
from app.ledger.keys import hash_key
from app.ledger.records import EntryKind
from app.ledger.service import Ledger
from tests.fixtures.databases import _truncate_all

ROOT = Path(__file__).resolve().parents[2]
COPY_ROW = (
    "INSERT INTO ledger_entries (key_id, kind, amount_msat, balance_after_msat, request_id, ref, created_at)"
    " SELECT key_id, kind, amount_msat, balance_after_msat + amount_msat, request_id, ref, created_at"
    " FROM ledger_entries WHERE {where}"
)


@dataclass(frozen=True)
class Corruption:
    name: str
    statements: list[str]
    found: str  # what the check says about it
    drop_index: str | None = None


CORRUPTIONS = [
    Corruption(
        "a positive charge",
        ["UPDATE ledger_entries SET amount_msat = -amount_msat WHERE request_id = 'req-1'"],
        "charge of 500 msat has the wrong sign",
    ),
    Corruption(
        "a balance changed without a row",
        ["UPDATE api_keys SET balance_msat = balance_msat + 1000"],
        "balance 9500 msat != ledger sum 8500 msat",
    ),
    Corruption(
        "a row's balance after edited",
        ["UPDATE ledger_entries SET balance_after_msat = 9400 WHERE request_id = 'req-1'"],
        "balance after 9400 msat != 10000 + -500 msat",
    ),
    Corruption(
        "a deposit written twice",
        [COPY_ROW.format(where="kind = 'deposit'"), "UPDATE api_keys SET balance_msat = balance_msat + 10000"],
        "deposit of operation op-1 written 2 times",
        drop_index="ux_ledger_entries_operation_kind_ref",
    ),
    Corruption(
        "a request charged twice",
        [COPY_ROW.format(where="request_id = 'req-1'"), "UPDATE api_keys SET balance_msat = balance_msat - 500"],
        "request req-1 charged 2 times",
        drop_index="ux_ledger_entries_charge_request_id",
    ),
    Corruption(
        "a refund reversed that was never refunded",
        [
            "INSERT INTO ledger_entries (key_id, kind, amount_msat, balance_after_msat, request_id, ref, created_at)"
            " SELECT id, 'refund_reversed', 700, balance_msat + 700, NULL, 'op-9', 0 FROM api_keys",
            "UPDATE api_keys SET balance_msat = balance_msat + 700",
        ],
        "reversal of 700 msat matches no refund of op-9",
    ),
]


def _ledger_check(database_url: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "app", "ledger", "check"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


async def _books_written_by_the_node(database_url: str) -> None:
    """A deposit of mint operation op-1 and two settled requests: 10,000 in, 500 charged, then 1,000 charged for a
    cost of 1,300 (capped at its reservation, 300 uncharged)."""
    db = open_database(database_url)
    ledger = Ledger(db)
    try:
        key, account = await ledger.create_key(0)
        await ledger.credit(account.id, 10_000, EntryKind.DEPOSIT, ref="op-1")
        await ledger.reserve(hash_key(key), 2_000, "req-1")
        await ledger.settle("req-1", 500)
        await ledger.reserve(hash_key(key), 1_000, "req-2")
        await ledger.settle("req-2", 1_300)
    finally:
        await db.close()


async def _execute(database_url: str, *statements: str) -> None:
    db = open_database(database_url)

    def work(conn: Connection) -> None:
        for statement in statements:
            conn.execute(text(statement))

    try:
        await db.run(work)
    finally:
        await db.close()


async def _index(database_url: str, name: str, *, create: bool) -> None:
    index = next(index for index in ledger_entries.indexes if index.name == name)
    db = open_database(database_url)
    try:
        await db.run(index.create if create else index.drop)
    finally:
        await db.close()


@contextmanager
def _without_index(database_url: str, name: str | None) -> Iterator[None]:
    """The index dropped for the test; on the shared PostgreSQL database it is put back (on emptied tables)."""
    if name is None:
        yield
        return
    asyncio.run(_index(database_url, name, create=False))
    try:
        yield
    finally:
        if database_url.startswith("postgresql"):
            asyncio.run(_truncate_all(database_url))
            asyncio.run(_index(database_url, name, create=True))


def test_books_written_by_the_node_pass(database_url: str) -> None:
    asyncio.run(_books_written_by_the_node(database_url))

    status, report = _ledger_check(database_url)

    assert status == 0 and report["ok"] and report["violations"] == []
    assert report["totals"]["charged_msat"] == 1_500 and report["totals"]["uncharged_msat"] == 300


@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=[c.name for c in CORRUPTIONS])
def test_a_corruption_fails_the_check(database_url: str, corruption: Corruption) -> None:
    asyncio.run(_books_written_by_the_node(database_url))
    with _without_index(database_url, corruption.drop_index):
        asyncio.run(_execute(database_url, *corruption.statements))

        status, report = _ledger_check(database_url)

    assert status == 1 and not report["ok"]
    problems = [violation["problem"] for violation in report["violations"]]
    assert any(corruption.found in problem for problem in problems), problems


@pytest.mark.parametrize("row", ["kind = 'deposit'", "request_id = 'req-1'"])
def test_the_database_refuses_moving_money_twice_for_one_operation(database_url: str, row: str) -> None:
    asyncio.run(_books_written_by_the_node(database_url))

    with pytest.raises(IntegrityError):
        asyncio.run(_execute(database_url, COPY_ROW.format(where=row)))
