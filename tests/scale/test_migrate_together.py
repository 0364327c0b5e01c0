"""Processes that start together on one database migrate it once: the others wait, then find it current."""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.fixtures.databases import ADMIN_URL, _admin
from tests.fixtures.node_process import ROOT

PROCESSES = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/fresh.db"
        return
    name = f"rn_scale_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _version_rows(url: str) -> int:
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(make_url(url).database or "") as conn:
            return int(conn.execute("select count(*) from alembic_version").fetchone()[0])

    async def count() -> int:
        conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
        try:
            return int(await conn.fetchval("select count(*) from alembic_version"))
        finally:
            await conn.close()

    return asyncio.run(count())


def test_processes_starting_together_migrate_once(empty_database_url: str, tmp_path: Path) -> None:
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ} | {
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": empty_database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "UPSTREAM_BASE_URL": "http://127.0.0.1:9/v1",
    }
    command = [sys.executable, "-m", "app", "migrate"]
    processes = [
        subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(PROCESSES)
    ]
    outputs = [process.communicate(timeout=120)[0].decode() for process in processes]

    assert [process.returncode for process in processes] == [0] * PROCESSES, outputs
    assert _version_rows(empty_database_url) == 1
