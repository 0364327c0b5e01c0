"""Secrets at rest: the files that hold the node's money are its user's alone, and its logs carry no ids or
secrets from request paths."""

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.fixtures.node import NodeFactory, create_key, key_state
from tests.fixtures.node_process import READY_TIMEOUT_S as START_TIMEOUT_S
from tests.fixtures.node_process import ROOT
from tests.fixtures.ports import free_port
from tests.fixtures.standin import stop_process

NOBODY = 65534
SECRET_ID = "Zq3secretInvoiceId0123456789"
TOKEN = "cashuBsecretTokenInTheQuery"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_money_files_are_private_after_the_node_wrote_money(
    node_factory: NodeFactory, database_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    database = Path(make_url(database_url).database or "") if database_url.startswith("sqlite") else None
    if database is not None:
        database.chmod(0o644)  # as a node from before this change left it
    node = node_factory(data_dir=data_dir)
    key = create_key(node, 1_000_000)
    reply = httpx.post(
        node.url + "/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "standin-small", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert reply.status_code == 200
    assert key_state(node, key)["balance_msat"] < 1_000_000  # money was written

    assert _mode(data_dir) == 0o700
    assert _mode(data_dir / "nostr.nsec") == 0o600
    if database is not None:
        companions = [database.with_name(database.name + s) for s in ("-wal", "-shm")]
        assert all(path.exists() for path in companions)
        assert {path.name: _mode(path) for path in (database, *companions)} == {
            path.name: 0o600 for path in (database, *companions)
        }


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=tmp_path,
        env=base | {"PYTHONPATH": str(ROOT), "DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_database_other_users_can_write_is_refused_in_one_line(tmp_path: Path) -> None:
    database = tmp_path / "node.db"
    database.touch()
    os.chown(database, NOBODY, NOBODY)  # another user's file is reported, never taken over
    database.chmod(0o666)
    done = _cli(tmp_path, "migrate", DATABASE_URL=f"sqlite:///{database}")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"configuration error: {database} can be written by other users (mode 666); make it the node's alone"
    )


def test_a_database_other_users_can_read_is_started_with_a_warning(tmp_path: Path) -> None:
    database = tmp_path / "node.db"
    database.touch()
    os.chown(database, NOBODY, NOBODY)
    database.chmod(0o644)
    done = _cli(tmp_path, "migrate", DATABASE_URL=f"sqlite:///{database}")
    assert done.returncode == 0, done.stderr
    assert f"storage.readable: {database} can be read by other users" in done.stderr


def _serve_and_log(command: list[str], tmp_path: Path, port: int, env: dict[str, str]) -> str:
    """Run a node, send requests with secrets in their paths and queries, stop it, return what it logged."""
    log_path = tmp_path / "node.log"
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=base | {"PYTHONPATH": str(ROOT), "DATA_DIR": str(tmp_path / "data"), "ANNOUNCE": "false", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    root = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(root, process)
        httpx.get(f"{root}/v1/balance/lightning/invoice/{SECRET_ID}/status", timeout=10)
        httpx.post(f"{root}/v1/balance/create?initial_balance_token={TOKEN}", timeout=10)
        httpx.get(f"{root}/v1/{SECRET_ID}", timeout=10)
    finally:
        stop_process(process, 10)
    return log_path.read_text()


def _wait_healthy(root: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "the node exited"
        try:
            if httpx.get(root + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("the node did not start")


def _assert_redacted(logged: str) -> None:
    assert "/v1/balance/lightning/invoice/[redacted]/status" in logged
    assert "/v1/balance/create?[redacted]" in logged
    assert "/v1/[redacted]" in logged
    assert SECRET_ID not in logged and TOKEN not in logged


@pytest.mark.slow
def test_uvicorn_app_main_access_log_carries_no_path_ids_or_tokens(tmp_path: Path, standin_url: str) -> None:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/node.db", "UPSTREAM_BASE_URL": standin_url}
    _assert_redacted(_serve_and_log(command, tmp_path, port, env))


@pytest.mark.slow
def test_serve_access_log_carries_no_path_ids_or_tokens(tmp_path: Path, standin_url: str) -> None:
    port = free_port()
    command = [sys.executable, "-m", "app", "serve", "--port", str(port)]
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/node.db",
        "UPSTREAM_BASE_URL": standin_url,
        "CASHU_MINTS": "http://127.0.0.1:9",
        "ACCESS_LOG": "true",
    }
    _assert_redacted(_serve_and_log(command, tmp_path, port, env))
