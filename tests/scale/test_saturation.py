"""A saturated node says so: 503 with Retry-After before anything is reserved, never a 504 for a healthy upstream."""

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from app.http_server import GuardedHttpTools
from tests.fixtures.node import RunningNode, create_key, key_state, node_settings
from tests.fixtures.node import start_node as serve

GRANT = 1_000_000
SLOW_STREAM = {"chunks": 40, "delay_ms": 100}  # four seconds of stream, holding its connections meanwhile


def _body(**fields: Any) -> bytes:
    return orjson.dumps(
        {"model": "standin-small", "messages": [{"role": "user", "content": "hi"}], "stream": True, **fields}
    )


@pytest.fixture
def start_node(database_url: str, standin_url: str, tmp_path: Path) -> Iterator[Any]:
    with ExitStack() as nodes:

        def start(limit_concurrency: int | None = None, **overrides: Any) -> RunningNode:
            settings = node_settings(database_url, standin_url, tmp_path, **overrides)
            running = serve(settings, http=GuardedHttpTools, limit_concurrency=limit_concurrency, log_level="critical")
            nodes.callback(running.stop)
            return running

        yield start


def _hold_stream(node: RunningNode, key: str) -> socket.socket:
    """A slow stream whose status line has arrived; the caller closes the socket."""
    port = int(node.root.rsplit(":", 1)[1])
    body = _body(standin=SLOW_STREAM)
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s" % (key.encode(), len(body), body)
    )
    assert sock.recv(12) == b"HTTP/1.1 200"
    return sock


def _post(node: RunningNode, key: str, body: bytes) -> httpx.Response:
    return httpx.post(
        node.url + "/chat/completions",
        content=body,
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
        timeout=30,
    )


def _settled(node: RunningNode, key: str) -> dict[str, int]:
    deadline = time.monotonic() + 20
    while (state := key_state(node, key))["reserved_msat"] and time.monotonic() < deadline:
        time.sleep(0.1)
    return state


def test_a_request_beyond_the_node_limit_is_a_503_with_retry_after_and_reserves_nothing(start_node: Any) -> None:
    node = start_node(limit_concurrency=3)  # uvicorn's count: two requests in flight fill it
    held = [_hold_stream(node, create_key(node, GRANT)) for _ in range(2)]
    try:
        extra = create_key(node, GRANT)
        reply = _post(node, extra, _body())

        assert reply.status_code == 503
        assert reply.headers["retry-after"] == "1"
        assert reply.json()["error"]["code"] == "service_unavailable"
        assert key_state(node, extra) == {"balance_msat": GRANT, "reserved_msat": 0}
    finally:
        for sock in held:
            sock.close()
    again = _post(node, extra, _body())
    assert again.status_code == 200
    assert _settled(node, extra)["balance_msat"] < GRANT


def test_a_request_waiting_for_a_capped_upstream_pool_is_a_503_not_a_504(start_node: Any) -> None:
    node = start_node(upstream_max_connections=1, upstream_pool_wait_s=0.5)
    held = _hold_stream(node, create_key(node, GRANT))
    try:
        waiting = create_key(node, GRANT)
        reply = _post(node, waiting, _body())

        assert reply.status_code == 503
        assert reply.headers["retry-after"] == "1"
        assert reply.json()["error"]["code"] == "upstream_pool_full"
        assert _settled(node, waiting) == {"balance_msat": GRANT, "reserved_msat": 0}
    finally:
        held.close()
