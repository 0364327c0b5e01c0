"""`WORKERS=2 python -m app serve`: two processes on one port and one PostgreSQL database, the books exact; on SQLite
the node refuses in one line."""

import asyncio
import os
import time
from pathlib import Path

import httpx

from app.db.database import open_database
from app.ledger.service import Ledger
from tests.fixtures.node_process import NodeProcess, operator_command

GRANT = 10_000_000
REQUESTS = 60
PRICES = '{"standin-small": {"prompt_msat_per_mtok": 1000000, "completion_msat_per_mtok": 2000000}}'


def _node(database_url: str, standin_url: str, tmp_path: Path) -> NodeProcess:
    return NodeProcess(
        database_url=database_url,
        mint_urls=["http://127.0.0.1:9"],  # never contacted: keys are funded by the operator here
        upstream_url=standin_url,
        work_dir=tmp_path,
        env={"WORKERS": "2", "MODEL_PRICES": PRICES},
    )


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


async def _fire(url: str, key: str) -> list[int]:
    body = {"model": "standin-small", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        replies = await asyncio.gather(
            *(
                client.post(url + "/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})
                for _ in range(REQUESTS)
            )
        )
    return [reply.status_code for reply in replies]


async def _account(database_url: str, key: str) -> tuple[int, int, int, list[object]]:
    db = open_database(database_url)
    try:
        ledger = Ledger(db)
        account = await ledger.find(key)
        assert account is not None
        charges = -sum(e.amount_msat for e in await ledger.entries(account.id) if e.kind == "charge")
        return account.balance_msat, account.reserved_msat, charges, list(await ledger.check())
    finally:
        await db.close()


def test_two_workers_serve_one_port_and_the_books_stay_exact(
    postgres_url: str, standin_url: str, tmp_path: Path
) -> None:
    database_url = postgres_url
    node = _node(database_url, standin_url, tmp_path)
    node.start()
    try:
        workers = _children(node.pid)
        assert len([pid for pid in workers if Path(f"/proc/{pid}/cmdline").read_bytes()]) >= 2
        created = operator_command(database_url, tmp_path / "cli", "keys", "create", "--balance-msat", str(GRANT))
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip()

        assert asyncio.run(_fire(node.url, key)) == [200] * REQUESTS
    finally:
        node.stop()
    balance, reserved, charged, violations = asyncio.run(_account(database_url, key))
    assert violations == []
    assert reserved == 0
    assert charged > 0 and balance == GRANT - charged


def test_several_workers_on_sqlite_are_refused_in_one_line(sqlite_url: str, standin_url: str, tmp_path: Path) -> None:
    node = _node(sqlite_url, standin_url, tmp_path)
    node.spawn()
    deadline = time.monotonic() + 60
    while node.running:
        assert time.monotonic() < deadline, "the node served"
        time.sleep(0.1)
    assert "WORKERS>1 needs PostgreSQL" in node.log_tail()
