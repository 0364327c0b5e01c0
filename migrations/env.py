"""Alembic environment: SQLite through pysqlite, PostgreSQL through asyncpg (the same drivers the node runs on)."""

import asyncio
import os

from alembic import context
from sqlalchemy import Connection, create_engine, pool
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.tables import metadata
from app.db.urls import driver_url, ensure_sqlite_dir, is_sqlite

config = context.config


def _database_url() -> str:
    explicit = config.attributes.get("database_url") or context.get_x_argument(as_dictionary=True).get("url")
    if explicit:
        return str(explicit)
    from app.settings import Settings

    return os.environ.get("DATABASE_URL") or Settings().database_url


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(driver_url(url), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


def run_migrations_online() -> None:
    url = _database_url()
    if is_sqlite(url):
        ensure_sqlite_dir(url)
        engine = create_engine(driver_url(url), poolclass=pool.NullPool)
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        asyncio.run(_run_async(url))


if context.is_offline_mode():
    context.configure(url=driver_url(_database_url()), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
