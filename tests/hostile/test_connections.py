"""Hostile connections: what a client can make the node's HTTP server do, measured on the wire."""

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn

from app.main import create_app
from app.settings import Settings
from tests.fixtures.node import RunningNode
from tests.fixtures.node_process import READY_TIMEOUT_S as START_TIMEOUT_S
from tests.fixtures.node_process import ROOT, NodeProcess
from tests.fixtures.ports import free_port
from tests.fixtures.standin import stop_process


def _exchange(port: int, request: bytes, timeout_s: float = 10) -> bytes:
    """Send raw bytes, read until the server closes the connection (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def _head(reply: bytes) -> str:
    return reply.partition(b"\r\n\r\n")[0].decode("latin-1").lower()


def test_an_unexpected_exception_is_a_clean_500_that_closes_the_connection(
    database_url: str, standin_url: str, tmp_path: object
) -> None:
    settings = Settings(_env_file=None, database_url=database_url, upstream_base_url=standin_url, announce=False)
    api = create_app(settings)

    async def boom() -> None:
        raise RuntimeError("a bug")

    api.add_api_route("/boom", boom)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        # keep-alive asked for; the server must still say it closes, and close
        reply = _exchange(port, b"GET /boom HTTP/1.1\r\nHost: node\r\nConnection: keep-alive\r\n\r\n")
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500")
    assert "connection: close" in _head(reply)
    answer = orjson.loads(body)
    assert answer["error"] == {"message": "internal error", "type": "api_error", "code": "internal_error"}
    assert answer["request_id"] and answer["request_id"] in _head(reply)


def test_the_host_header_is_never_reflected_into_a_redirect(node: RunningNode) -> None:
    port = int(node.root.rsplit(":", 1)[1])
    reply = _exchange(port, b"GET /v1/models/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
    assert b"evil.example" not in reply
    assert "location:" not in _head(reply)


HEADER_TIMEOUT_S = 3
BODY_TIMEOUT_S = 4
MAX_CONNECTIONS = 300
SLOW_SOCKETS = 2000


@pytest.fixture
def guarded_node(tmp_path: Path) -> Iterator[NodeProcess]:
    """`python -m app serve` with small limits, so a test can reach them quickly."""
    node = NodeProcess(
        database_url=f"sqlite:///{tmp_path}/node.db",
        mint_urls=["http://127.0.0.1:9"],  # never contacted: nothing is paid here
        upstream_url="http://127.0.0.1:9/v1",
        work_dir=tmp_path,
        env={
            "HTTP_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
            "HTTP_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
            "HTTP_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
            "HTTP_KEEP_ALIVE_S": "2",
        },
    )
    node.start()
    yield node
    node.stop()


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _send_huge_header(port: int) -> tuple[bytes, float]:
    """Up to 64 MiB of one header; returns what the server answered and how long it took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: node\r\nX-Huge: ")
        chunk = b"a" * (1024 * 1024)
        try:
            for _ in range(64):
                sock.sendall(chunk)
        except OSError:
            pass  # the server closed the connection: what we want
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
        except OSError:
            pass
    return received, time.monotonic() - started


def test_a_64_mib_header_is_refused_fast(guarded_node: NodeProcess) -> None:
    received, seconds = _send_huge_header(guarded_node.port)
    assert received.startswith(b"HTTP/1.1 431") or received == b""
    assert seconds < 5
    assert httpx.get(guarded_node.root + "/health", timeout=5).status_code == 200


def test_a_request_whose_headers_never_end_is_closed_after_the_header_timeout(guarded_node: NodeProcess) -> None:
    with socket.create_connection(("127.0.0.1", guarded_node.port), timeout=HEADER_TIMEOUT_S + 10) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: node\r\n")  # and never the blank line
        assert sock.recv(1024) == b""  # closed by the server
        assert HEADER_TIMEOUT_S - 0.5 < time.monotonic() - started < HEADER_TIMEOUT_S + 5


def test_a_request_whose_body_never_ends_is_closed_after_the_body_timeout(guarded_node: NodeProcess) -> None:
    with socket.create_connection(("127.0.0.1", guarded_node.port), timeout=BODY_TIMEOUT_S + 10) as sock:
        started = time.monotonic()
        sock.sendall(b'POST /v1/balance/create HTTP/1.1\r\nHost: node\r\nContent-Length: 100\r\n\r\n{"cashu')
        while sock.recv(65536):  # the node reads the body before it answers; the connection must end
            pass
        assert BODY_TIMEOUT_S - 0.5 < time.monotonic() - started < BODY_TIMEOUT_S + 5


def test_an_idle_keep_alive_connection_is_closed(guarded_node: NodeProcess) -> None:
    with socket.create_connection(("127.0.0.1", guarded_node.port), timeout=15) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: node\r\n\r\n")
        received = b""
        while not received.endswith(b'{"status":"ok"}'):
            received += sock.recv(65536)
        assert received.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server
        assert time.monotonic() - started < 10


@pytest.mark.slow
def test_thousands_of_slow_connections_leave_normal_clients_served_and_their_fds_are_released(
    guarded_node: NodeProcess,
) -> None:
    baseline = _open_fds(guarded_node.pid)
    slow: list[socket.socket] = []
    try:
        for _ in range(SLOW_SOCKETS):  # a slowloris: a request started, never finished
            sock = socket.create_connection(("127.0.0.1", guarded_node.port), timeout=5)
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: node\r\nX-Slow: ")
            slow.append(sock)
        served = [httpx.get(guarded_node.root + "/health", timeout=5).status_code for _ in range(20)]
        assert served == [200] * 20
        assert _open_fds(guarded_node.pid) <= baseline + MAX_CONNECTIONS + 16
    finally:
        for sock in slow:
            sock.close()
    deadline = time.monotonic() + HEADER_TIMEOUT_S + 10
    while _open_fds(guarded_node.pid) > baseline + 4:
        assert time.monotonic() < deadline, f"{_open_fds(guarded_node.pid)} fds still open, {baseline} before"
        time.sleep(0.2)


def test_uvicorn_app_main_with_the_documented_flags_refuses_a_64_mib_header(tmp_path: Path, standin_url: str) -> None:
    port = free_port()
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env = base | {
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite:///{tmp_path}/node.db",
        "DATA_DIR": str(tmp_path / "data"),
        "UPSTREAM_BASE_URL": standin_url,
        "ANNOUNCE": "false",
    }
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), *DOCUMENTED_UVICORN_FLAGS]
    with (tmp_path / "uvicorn.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(f"http://127.0.0.1:{port}/health"):
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "uvicorn.log").read_text()
            time.sleep(0.05)
        received, seconds = _send_huge_header(port)
        assert received.startswith(b"HTTP/1.1 431") or received == b""
        assert seconds < 5
    finally:
        stop_process(process, 10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


# as the README shows them for `uvicorn app.main:app`
DOCUMENTED_UVICORN_FLAGS = (
    "--http",
    "app.http_server:GuardedHttpTools",
    "--limit-concurrency",
    "4096",
    "--timeout-keep-alive",
    "5",
    "--h11-max-incomplete-event-size",
    "65536",
)
