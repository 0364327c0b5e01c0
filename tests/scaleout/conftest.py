"""Fixtures of the scale-out suite: clusters of node processes on one database (see cluster.py).

A cluster is started once per topology for the whole session and shared by the scenarios that run on it (pytest
groups them by topology): starting four node processes costs more on this 2-core machine than most scenarios do.
The books are emptied before each scenario (the processes keep running), so the audits judge that scenario alone."""

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from app.db.database import open_database
from app.db.migrate import upgrade_to_head
from app.db.tables import api_keys, cashu_operations, ledger_entries, reservations, wallet_proofs
from tests.fixtures.databases import ADMIN_URL
from tests.fixtures.gate import running_gate
from tests.fixtures.mint import RunningMint
from tests.fixtures.node_process import node_processes, start_all
from tests.scaleout.cluster import SLOW_PATH_S, Cluster
from tests.scaleout.wallets import UserWallets

CLUSTER_READY_TIMEOUT_S = 120.0  # several processes importing and migrating at once on 2 shared cores
PG_2 = "pg-2procs"
PG_4 = "pg-4procs"
SQLITE_2 = "sqlite-2procs"
_SHAPES = {PG_2: ("postgresql", 2), PG_4: ("postgresql", 4), SQLITE_2: ("sqlite", 2)}


def on(*topologies: str) -> pytest.MarkDecorator:
    """Run a scenario on these clusters (database kind and number of node processes), shared per session."""
    return pytest.mark.parametrize("cluster", topologies, indirect=True, scope="session")


@pytest.fixture(scope="session")
def cluster(
    request: pytest.FixtureRequest, mint: RunningMint, standin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    kind, processes = _SHAPES[request.param]
    work_dir = tmp_path_factory.mktemp(request.param)
    with (
        _database(kind, work_dir) as database_url,
        running_gate(mint.url) as gate,
        node_processes(database_url, standin_url, work_dir, ready_timeout_s=CLUSTER_READY_TIMEOUT_S) as make,
    ):
        gate.slow_down(*SLOW_PATH_S)
        nodes = [make([mint.url], mint_proxy_url=gate.url if index == 0 else None) for index in range(processes)]
        start_all(nodes)
        yield Cluster(database_url, nodes, gate, mint.url, work_dir)


@pytest.fixture
def users(mint: RunningMint) -> UserWallets:
    return UserWallets(mint)


@pytest.fixture(autouse=True)
def _fresh_cluster(request: pytest.FixtureRequest) -> None:
    """Each scenario starts on empty books with every process up, so one that failed half-way (money lost, a node
    killed and not restarted) cannot fail the next ones: each is judged on its own."""
    if "cluster" not in request.fixturenames:
        return
    cluster: Cluster = request.getfixturevalue("cluster")
    for node in cluster.nodes:
        if not node.running:
            node.start()
    asyncio.run(_empty_books(cluster.database_url))


async def _empty_books(database_url: str) -> None:
    """Delete every row but the processes' leases, under the running nodes (they keep no books in memory)."""

    def work(conn: Connection) -> None:
        for table in (ledger_entries, reservations, wallet_proofs, cashu_operations, api_keys):
            conn.execute(table.delete())

    db = open_database(database_url)
    try:
        await db.run(work)
    finally:
        await db.close()


def _database(kind: str, work_dir: Path) -> contextlib.AbstractContextManager[str]:
    return _sqlite_file(work_dir) if kind == "sqlite" else _postgres_database()


@contextlib.contextmanager
def _sqlite_file(work_dir: Path) -> Iterator[str]:
    url = f"sqlite:///{work_dir / 'node.db'}"
    upgrade_to_head(url)
    yield url


@contextlib.contextmanager
def _postgres_database() -> Iterator[str]:
    name = f"rn_scaleout_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_to_head(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(make_url(ADMIN_URL).set(drivername="postgresql").render_as_string(False))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
