"""LOG_FORMAT=json: every line the node process writes is one JSON object; lines written for a request carry its
id; and no token or key a client sends ever reaches the log, from a header, a query string or a path."""

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.mint import RunningMint
from tests.fixtures.node_process import ROOT, NodeProcess, _clean_env
from tests.fixtures.ports import free_port
from tests.fixtures.standin import stop_process

CHAT = {"model": "standin-small", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}


def _lines(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.strip()]


@pytest.mark.slow
def test_json_logs_carry_request_ids_and_never_a_token_or_key(
    tmp_path: Path, standin_url: str, mint: RunningMint
) -> None:
    deposit, per_request, topup = (asyncio.run(mint.make_token(amount)) for amount in (200, 100, 50))
    node = NodeProcess(
        database_url=f"sqlite:///{tmp_path}/node.db",
        mint_urls=[mint.url],
        upstream_url=standin_url,
        work_dir=tmp_path / "node",
        env={"LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "ACCESS_LOG": "true"},
    )
    node.start()
    try:
        created = httpx.post(f"{node.url}/balance/create", params={"cashu_token": deposit}, timeout=30)
        assert created.status_code == 200, created.text
        key = created.json()["api_key"]
        bearer = {"authorization": f"Bearer {key}"}
        replies = [
            created,
            httpx.get(f"{node.url}/balance/info", headers=bearer, timeout=10),
            httpx.post(f"{node.url}/chat/completions", json=CHAT, headers=bearer, timeout=30),
            httpx.post(f"{node.url}/chat/completions", json=CHAT, headers={"x-cashu": per_request}, timeout=30),
            httpx.post(f"{node.url}/balance/topup", params={"cashu_token": topup}, headers=bearer, timeout=30),
            httpx.get(f"{node.url}/{key}", timeout=10),  # a key in a path no route serves
            httpx.get(f"{node.url}/models", headers={"authorization": "Bearer sk-unknown-but-secret"}, timeout=10),
        ]
        assert [r.status_code for r in replies] == [200, 200, 200, 200, 200, 404, 200]
    finally:
        node.stop()

    log = node.log_path.read_text()
    for secret in (deposit, per_request, topup, key, key.removeprefix("sk-"), "sk-unknown-but-secret"):
        assert secret not in log
    lines = _lines(log)  # every line is JSON
    ids = {reply.headers["x-routstr-request-id"] for reply in replies}
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    by_id = {line["request_id"]: line for line in access}
    assert ids <= set(by_id)  # an access line per request, with its id
    assert len(access) == len(by_id)
    create_line = by_id[created.headers["x-routstr-request-id"]]
    assert (create_line["method"], create_line["path"], create_line["status"]) == (
        "POST", "/v1/balance/create?[redacted]", 200
    )  # fmt: skip
    during = [line for line in lines if line["logger"] != "uvicorn.access" and line.get("request_id") in ids]
    assert during, "no application line was written during a request"


@pytest.mark.slow
def test_uvicorn_app_main_logs_json_too(tmp_path: Path, standin_url: str) -> None:
    port = free_port()
    env = _clean_env() | {
        "PYTHONPATH": str(ROOT), "DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": f"sqlite:///{tmp_path}/node.db",
        "UPSTREAM_BASE_URL": standin_url, "ANNOUNCE": "false", "LOG_FORMAT": "json",
    }  # fmt: skip
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)]
    log_path = tmp_path / "node.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"http://127.0.0.1:{port}/health"):
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        rid = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=10).headers["x-routstr-request-id"]
    finally:
        stop_process(process, 10)
    lines = _lines(log_path.read_text())
    assert any(line["logger"] == "uvicorn.access" and line.get("request_id") == rid for line in lines)
    assert any(line["logger"] == "app.lifespan" for line in lines)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False
