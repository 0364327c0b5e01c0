"""Every recorded upstream format, streamed and not, through the real node with a key funded by a real mint's ecash,
on both databases: each request is charged exactly the usage the recording reports, no more, no less."""

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest

from standin.formats import FORMATS
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode
from tests.payments.helpers import auth, books, create, info

MAX_TOKENS = 200  # reserves 400 msat of completion: room for every usage below


def _usage_for(index: int) -> tuple[int, int]:
    """A different usage per format, so that no request can pass for another."""
    return 101 + index * 7, 23 + index * 3


def _cost_msat(prompt_tokens: int, completion_tokens: int) -> int:
    return prompt_tokens * 1 + completion_tokens * 2  # TEST_PRICES for standin-small


def _request(name: str, stream: bool, usage: tuple[int, int], chunk_bytes: int | None) -> tuple[str, dict[str, Any]]:
    switches: dict[str, Any] = {"format": name, "prompt_tokens": usage[0], "completion_tokens": usage[1]}
    if chunk_bytes:
        switches["chunk_bytes"] = chunk_bytes
    body: dict[str, Any] = {
        "model": "standin-small",
        "max_tokens": MAX_TOKENS,
        "stream": stream,
        "messages": [{"role": "user", "content": "hello"}],
        "standin": switches,
    }
    return ("/messages" if name == "anthropic" else "/chat/completions"), body


def _funded_key(node: RunningNode, mint: RunningMint, sats: int) -> str:
    created = create(node, asyncio.run(mint.make_token(sats)))
    assert created.status_code == 200, created.text
    key: str = created.json()["api_key"]
    return key


def _settled_balance(node: RunningNode, key: str) -> int:
    deadline = time.monotonic() + 10
    while True:
        state = info(node, key)
        if state["reserved"] == 0 or time.monotonic() > deadline:
            assert state["reserved"] == 0
            balance: int = state["balance"]
            return balance
        time.sleep(0.05)


def _charged(node: RunningNode, key: str, path: str, body: dict[str, Any]) -> int:
    before = _settled_balance(node, key)
    with httpx.stream("POST", node.url + path, json=body, headers=auth(key), timeout=30) as reply:
        assert reply.status_code == 200, reply.read()
        received = reply.read()
    assert received, "the reply reached the client"
    if not body["stream"]:
        assert int(reply.headers["x-routstr-cost-msats"]) == before - _settled_balance(node, key)
    return before - _settled_balance(node, key)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
def test_every_recorded_format_is_charged_exactly_its_usage(
    node_factory: NodeFactory, mint: RunningMint, stream: bool
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    key = _funded_key(node, mint, 50)
    for index, name in enumerate(sorted(FORMATS)):
        usage = _usage_for(index)
        path, body = _request(name, stream, usage, chunk_bytes=None)
        assert _charged(node, key, path, body) == _cost_msat(*usage), name
        if stream:  # the same stream again, cut into 7-byte chunks: boundaries inside events and line ends
            path, body = _request(name, stream, usage, chunk_bytes=7)
            assert _charged(node, key, path, body) == _cost_msat(*usage), (name, "7-byte chunks")
    assert books(node).reconciles


def test_openrouters_cost_is_recorded_with_the_request_id_and_not_charged(
    node_factory: NodeFactory, mint: RunningMint, caplog: pytest.LogCaptureFixture
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    key = _funded_key(node, mint, 5)
    path, body = _request("openrouter", False, (100, 20), chunk_bytes=None)
    with caplog.at_level(logging.INFO, logger="app.proxy.service"):
        reply = httpx.post(node.url + path, json=body, headers=auth(key), timeout=30)

    assert reply.status_code == 200 and int(reply.headers["x-routstr-cost-msats"]) == _cost_msat(100, 20)
    recorded = [r.getMessage() for r in caplog.records if r.getMessage().startswith("metering.metered")]
    request_id = reply.headers["x-routstr-request-id"]
    assert recorded == [
        f"metering.metered: request_id={request_id} prompt_tokens=100 completion_tokens=20 counted=False "
        f"upstream_cost_usd={100 * 0.15e-6 + 20 * 0.6e-6!r}"
    ]
