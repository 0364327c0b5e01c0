"""Bring a database to the newest schema (or back to empty) with alembic, from code.

Processes or replicas that start together upgrade one at a time: PostgreSQL through a session advisory lock held
around alembic, SQLite through an exclusive lock on a file beside the database. The second finds the schema current
and does nothing."""

import asyncio
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.urls import driver_url, ensure_sqlite_dir, is_sqlite

_ROOT = Path(__file__).resolve().parents[2]
MIGRATION_LOCK_KEY = 0x726F75747374  # "routst": one advisory lock id for this schema's migrations


def _config(database_url: str) -> Config:
    config = Config(str(_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> None:
    if is_sqlite(database_url):
        with _sqlite_file_lock(database_url):
            command.upgrade(_config(database_url), "head")
    else:
        asyncio.run(_upgrade_under_advisory_lock(database_url))


def downgrade_to_base(database_url: str) -> None:
    command.downgrade(_config(database_url), "base")


@contextmanager
def _sqlite_file_lock(database_url: str) -> Iterator[None]:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        yield
        return
    ensure_sqlite_dir(database_url)
    descriptor = os.open(f"{database}-migrate.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


async def _upgrade_under_advisory_lock(database_url: str) -> None:
    engine = create_async_engine(driver_url(database_url), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            try:
                # alembic runs its own event loop for asyncpg, so it gets a thread of its own
                await asyncio.to_thread(command.upgrade, _config(database_url), "head")
            finally:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
    finally:
        await engine.dispose()
