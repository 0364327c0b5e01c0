"""Alembic owns the schema: from empty to head and back to empty, on both databases."""

import asyncio
import uuid
from pathlib import Path

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from app.db.migrate import downgrade_to_base, upgrade_to_head
from app.db.tables import metadata
from tests.fixtures.databases import ADMIN_URL, _admin, _asyncpg_dsn

NODE_TABLES = set(metadata.tables)


def _tables_sqlite(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


async def _tables_postgres(url: str) -> set[str]:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        rows = await conn.fetch("select tablename from pg_tables where schemaname = 'public'")
    finally:
        await conn.close()
    return {row["tablename"] for row in rows} - {"alembic_version"}


def test_sqlite_upgrades_to_head_and_downgrades_to_empty(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade_to_head(url)
    assert _tables_sqlite(url) == NODE_TABLES
    downgrade_to_base(url)
    assert _tables_sqlite(url) == set()
    upgrade_to_head(url)
    assert _tables_sqlite(url) == NODE_TABLES


def test_postgres_upgrades_to_head_and_downgrades_to_empty() -> None:
    name = f"rn_migrate_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_to_head(url)
        assert asyncio.run(_tables_postgres(url)) == NODE_TABLES
        downgrade_to_base(url)
        assert asyncio.run(_tables_postgres(url)) == set()
        upgrade_to_head(url)
        assert asyncio.run(_tables_postgres(url)) == NODE_TABLES
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
