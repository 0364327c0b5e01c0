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


async def test_a_process_opening_the_file_while_another_writes_waits_instead_of_dying(tmp_path: Path) -> None:
    """Another process's write transaction must not kill this process's writer thread when it opens its connection
    (it once set the journal mode before the busy timeout: 'database is locked', a dead thread, callers hung)."""
    import sqlite3

    path = tmp_path / "shared.db"
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("CREATE TABLE t (x INTEGER)")  # a file still in rollback-journal mode, as a fresh one is
    other.execute("BEGIN")
    other.execute("SELECT * FROM t").fetchall()  # another process in the middle of a transaction
    second = open_database(f"sqlite:///{path}")
    try:
        pending = asyncio.ensure_future(second.run(lambda conn: conn.exec_driver_sql("SELECT 1").scalar_one()))
        await asyncio.sleep(0.5)
        other.execute("COMMIT")
        assert await asyncio.wait_for(pending, 15) == 1
    finally:
        other.close()
        await second.close()
