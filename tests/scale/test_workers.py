"""`WORKERS=2 python -m app serve`: two processes on one port and one PostgreSQL database, the books exact; on SQLite
the node refuses in one line."""

import asyncio
import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

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


def _workers(pid: int) -> list[int]:
    """The worker processes among `pid`'s children (not multiprocessing's resource tracker); a child that exits
    while it is looked at (a worker being replaced) is left out."""
    found = []
    for child in _children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            continue
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
        assert len(_workers(node.pid)) == 2
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


@contextmanager
def _two_workers(postgres_url: str, standin_url: str, tmp_path: Path) -> Iterator[tuple[NodeProcess, int]]:
    """A node with WORKERS=2, both workers listening; yields it and its port, stops it after."""
    node = _node(postgres_url, standin_url, tmp_path)
    node.start()
    port = urlsplit(node.url).port
    assert port is not None
    try:
        _wait_listening(port, 2)  # one socket per worker
        yield node, port
    finally:
        node.stop()


def _established_per_process(port: int, pids: list[int]) -> Counter[int]:
    """Established TCP connections on the local `port` held by each of `pids` (their sockets' inodes matched against
    the kernel's connection tables)."""
    owner: dict[str, int] = {}
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                owner[target[len("socket:[") : -1]] = pid
    return Counter(owner[inode] for state, inode in _sockets_on(port) if state == ESTABLISHED and inode in owner)


ESTABLISHED, LISTEN = "01", "0A"


def _sockets_on(port: int) -> list[tuple[str, str]]:
    """(state, inode) of every TCP socket whose local port is `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.append((fields[3], fields[9]))
    return found


def _wait_listening(port: int, sockets: int) -> None:
    """Until exactly `sockets` sockets listen on `port`: /health answers once the first worker serves, the others
    listen a moment later; a removed worker's socket stops listening once the supervisor closes it."""
    deadline = time.monotonic() + 60
    while sum(state == LISTEN for state, _ in _sockets_on(port)) != sockets:
        assert time.monotonic() < deadline, _sockets_on(port)
        time.sleep(0.05)


def test_connections_opened_at_once_are_dealt_across_the_workers(
    postgres_url: str, standin_url: str, tmp_path: Path
) -> None:
    """Keep-alive clients (nginx's upstream pool, SDK pools, wrk) open their connections in a burst and keep them: all
    of them on one worker would leave the other idle."""
    connections: list[socket.socket] = []
    with _two_workers(postgres_url, standin_url, tmp_path) as (node, port):
        connections = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(64)]
        for connection in connections:
            connection.sendall(b"GET /health HTTP/1.1\r\nhost: node\r\n\r\n")
        for connection in connections:
            assert connection.recv(65536).startswith(b"HTTP/1.1 200")  # accepted and answered, still open
        held = _established_per_process(port, _workers(node.pid))
        assert sum(held.values()) >= 64  # and the health checks' connections, if still open
        assert len(held) == 2 and min(held.values()) >= 12, held  # even odds per connection: under 12 is ~1e-7
    for connection in connections:
        connection.close()


def _get_health(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nhost: node\r\nconnection: close\r\n\r\n")
        return connection.recv(65536)


def test_a_killed_worker_is_replaced_on_its_socket_and_no_connection_is_lost(
    postgres_url: str, standin_url: str, tmp_path: Path
) -> None:
    """Connections the kernel deals to the dead worker's socket wait in its queue (kept listening by the supervisor)
    until the replacement accepts them."""
    with _two_workers(postgres_url, standin_url, tmp_path) as (node, port):
        victim = _workers(node.pid)[-1]
        os.kill(victim, signal.SIGKILL)
        with ThreadPoolExecutor(max_workers=32) as pool:
            replies = list(pool.map(lambda _: _get_health(port), range(32)))
        assert all(reply.startswith(b"HTTP/1.1 200") for reply in replies)
        _wait_listening(port, 2)
        workers = _workers(node.pid)
        assert len(workers) == 2 and victim not in workers


def _wait_workers(pid: int, count: int) -> list[int]:
    deadline = time.monotonic() + 60
    while True:
        workers = _workers(pid)
        if len(workers) == count:
            return workers
        assert time.monotonic() < deadline, workers
        time.sleep(0.05)


def test_sighup_replaces_every_worker_on_its_socket_while_requests_keep_being_answered(
    postgres_url: str, standin_url: str, tmp_path: Path
) -> None:
    """Clients keep connecting throughout the reload: a connection a retiring worker accepted just before it stopped
    accepting is answered, not reset (uvicorn's own shutdown closes one whose request it has not read yet)."""
    with _two_workers(postgres_url, standin_url, tmp_path) as (node, port):
        old = set(_wait_workers(node.pid, 2))
        os.kill(node.pid, signal.SIGHUP)
        deadline = time.monotonic() + 60

        def until_replaced() -> list[bytes]:
            replies = []
            while old & set(_workers(node.pid)) or len(_workers(node.pid)) != 2:
                assert time.monotonic() < deadline
                replies.append(_get_health(port))
            return replies

        with ThreadPoolExecutor(max_workers=8) as pool:
            replies = [reply for replies in pool.map(lambda _: until_replaced(), range(8)) for reply in replies]
        _wait_listening(port, 2)
        replies += [_get_health(port) for _ in range(16)]
        assert replies and all(reply.startswith(b"HTTP/1.1 200") for reply in replies)


def test_sigttin_and_sigttou_add_and_remove_a_worker_with_its_socket(
    postgres_url: str, standin_url: str, tmp_path: Path
) -> None:
    with _two_workers(postgres_url, standin_url, tmp_path) as (node, port):
        os.kill(node.pid, signal.SIGTTIN)
        _wait_workers(node.pid, 3)
        _wait_listening(port, 3)
        os.kill(node.pid, signal.SIGTTOU)
        _wait_workers(node.pid, 2)
        _wait_listening(port, 2)  # the removed worker's socket closed
        assert all(_get_health(port).startswith(b"HTTP/1.1 200") for _ in range(32))  # none dealt to a dead socket


def _wait_refused(node: NodeProcess) -> None:
    """Spawn the node and wait for it to exit, as a node that refuses to serve does."""
    node.spawn()
    deadline = time.monotonic() + 60
    while node.running:
        assert time.monotonic() < deadline, "the node served"
        time.sleep(0.1)


def test_a_port_in_use_stops_the_workers_in_one_line(postgres_url: str, standin_url: str, tmp_path: Path) -> None:
    node = _node(postgres_url, standin_url, tmp_path)
    with socket.create_server(("127.0.0.1", node.port)):  # another program holds the port (no SO_REUSEPORT)
        _wait_refused(node)
    assert "server.bind_failed" in node.log_tail() and "Address already in use" in node.log_tail()
    assert "Traceback" not in node.log_tail()


def test_several_workers_on_sqlite_are_refused_in_one_line(sqlite_url: str, standin_url: str, tmp_path: Path) -> None:
    node = _node(sqlite_url, standin_url, tmp_path)
    _wait_refused(node)
    assert "WORKERS>1 needs PostgreSQL" in node.log_tail()


STREAMS = 16
SLOW_STREAM = {
    "model": "standin-small",
    "messages": [{"role": "user", "content": "hi"}],
    "stream": True,
    "standin": {"chunks": 20, "delay_ms": 300},  # six seconds a stream
}


async def _stream(client: httpx.AsyncClient, url: str, key: str) -> str:
    """How the stream ended for the client: "complete" ([DONE] read) or "broken"."""
    try:
        async with client.stream("POST", url + "/chat/completions", json=SLOW_STREAM,
                                 headers={"authorization": f"Bearer {key}"}) as reply:  # fmt: skip
            body = b"".join([chunk async for chunk in reply.aiter_bytes()])
            return "complete" if reply.status_code == 200 and b"[DONE]" in body else "broken"
    except httpx.HTTPError:
        return "broken"


def test_a_worker_killed_mid_stream_charges_only_the_streams_delivered(
    postgres_url: str, standin_url: str, tmp_path: Path
) -> None:
    """SIGKILL of one worker while paid streams run on both: the dead worker's streams break, the other's finish and
    are charged, and what the dead one reserved goes back to the key once its liveness lease expires (the other
    worker's sweep): the key pays for what was delivered, to the msat."""
    with _two_workers(postgres_url, standin_url, tmp_path) as (node, port):
        created = operator_command(postgres_url, tmp_path / "cli", "keys", "create", "--balance-msat", str(GRANT))
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip()

        async def killed_mid_stream() -> list[str]:
            limits = httpx.Limits(max_keepalive_connections=0)
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                streams = [asyncio.create_task(_stream(client, node.url, key)) for _ in range(STREAMS)]
                await asyncio.sleep(2)  # every stream is paid for and running
                held = _established_per_process(port, _workers(node.pid))
                victim, _ = held.most_common(1)[0]
                assert len(held) == 2, held  # streams on both workers
                os.kill(victim, signal.SIGKILL)
                return list(await asyncio.gather(*streams))

        ended = Counter(asyncio.run(killed_mid_stream()))
        deadline = time.monotonic() + 120  # lease expiry (30 s) and the next sweep (every 30 s)
        while (state := asyncio.run(_account(postgres_url, key)))[1] != 0:
            assert time.monotonic() < deadline, state
            time.sleep(1)
    balance, _, charged, violations = state
    charges = asyncio.run(_charges(postgres_url, key))
    assert ended["complete"] > 0 and ended["broken"] > 0, ended
    assert violations == []
    assert len(charges) == ended["complete"] and len(set(charges)) == 1  # each delivered stream, at one price
    assert balance == GRANT - charged == GRANT - sum(charges)


async def _charges(database_url: str, key: str) -> list[int]:
    db = open_database(database_url)
    try:
        ledger = Ledger(db)
        account = await ledger.find(key)
        assert account is not None
        return [-e.amount_msat for e in await ledger.entries(account.id) if e.kind == "charge"]
    finally:
        await db.close()
