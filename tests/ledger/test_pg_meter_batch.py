"""PostgreSQL group commit: a batch that fails as a whole is retried op by op, so one bad op fails alone."""

import asyncio

import asyncpg
import pytest

from app.db.database import PostgresDatabase
from app.ledger.keys import hash_key
from app.ledger.service import Ledger


async def test_a_failing_op_does_not_take_its_batch_down(postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    db = PostgresDatabase(postgres_url, batches_in_flight=1)
    ledger = Ledger(db)
    try:
        key, _ = await ledger.create_key(10_000)
        await ledger.reserve(hash_key(key), 1_000, "req-1")
        # The release takes the one batch slot; the next three queue behind it and go together: a duplicate request
        # id (its reservation insert fails the whole batch), a new reservation and a settlement.
        results = await asyncio.gather(
            ledger.release("no-such-request"),
            ledger.reserve(hash_key(key), 1_000, "req-1"),
            ledger.reserve(hash_key(key), 2_000, "req-2"),
            ledger.settle("req-1", 700),
            return_exceptions=True,
        )
        account = await ledger.find(key)
        violations = await ledger.check()
    finally:
        await db.close()

    released, duplicate, second, settled = results
    assert released is False
    assert "db.group_commit_failed size=3" in caplog.text
    assert isinstance(duplicate, asyncpg.UniqueViolationError)
    assert not isinstance(second, BaseException) and second.amount_msat == 2_000
    assert not isinstance(settled, BaseException) and settled is not None and settled.charged_msat == 700
    assert account is not None and (account.balance_msat, account.reserved_msat) == (9_300, 2_000)
    assert violations == []
