"""The SQLite writer thread: money movement commits with FULL sync, per-request metering with NORMAL."""

import asyncio
from pathlib import Path

from sqlalchemy import Connection

from app.db.database import open_database


def _synchronous(conn: Connection) -> int:
    return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())


async def test_durable_work_commits_with_full_sync_and_metering_with_normal(tmp_path: Path) -> None:
    db = open_database(
        f"sqlite:///{tmp_path / 'w.db'}", sqlite_synchronous="FULL", sqlite_metering_synchronous="NORMAL"
    )
    try:
        fast = await db.run(_synchronous, metering=True)
        durable = await db.run(_synchronous)
        mixed = await asyncio.gather(db.run(_synchronous, metering=True), db.run(_synchronous))
    finally:
        await db.close()

    assert (fast, durable) == (1, 2)  # NORMAL, FULL
    assert set(mixed) <= {1, 2} and 2 in mixed  # a batch with any durable work is committed durably


async def test_a_failing_item_does_not_take_its_batch_down(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'w.db'}")

    def boom(conn: Connection) -> int:
        conn.exec_driver_sql("SELECT * FROM no_such_table")
        return 0

    try:
        results = await asyncio.gather(
            db.run(lambda conn: 1), db.run(boom), db.run(lambda conn: 3), return_exceptions=True
        )
    finally:
        await db.close()

    assert results[0] == 1 and results[2] == 3
    assert isinstance(results[1], Exception)
