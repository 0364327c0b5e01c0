"""Per-IP limits on the open endpoints and per-key limits on the paid ones, counted in one process's memory."""

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import Depends, FastAPI
from starlette.testclient import TestClient

from app.api.errors import install_error_handlers
from app.api.limits import ADMIN_LOGIN, rate_limited
from app.limits.limiter import MemoryCounter, Rule
from app.limits.service import RateLimits
from tests.fixtures.node import NodeFactory, RunningNode, create_key

CHAT = {"model": "standin-small", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}


def limited_node(node_factory: NodeFactory, **overrides: Any) -> RunningNode:
    """Loopback is exempt by default (the operator's own tools): these tests count it like any client."""
    return node_factory(rate_limit_exempt_ips=[], rate_limit_prefix=f"test-{uuid.uuid4().hex}", **overrides)


def assert_rate_limited(reply: httpx.Response) -> None:
    assert reply.status_code == 429, reply.text
    assert 1 <= int(reply.headers["retry-after"]) <= 60
    error = reply.json()["error"]
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert reply.json()["request_id"] == reply.headers["x-routstr-request-id"]


def test_balance_create_is_limited_per_client_ip(node_factory: NodeFactory) -> None:
    node = limited_node(node_factory, rate_limit_create_per_min=2)
    bad_token = {"cashu_token": "cashuBnot-a-token"}
    replies = [httpx.post(f"{node.url}/balance/create", json=bad_token, timeout=10) for _ in range(2)]
    assert [r.status_code for r in replies] == [400, 400]
    assert_rate_limited(httpx.post(f"{node.url}/wallet/create", json=bad_token, timeout=10))  # the alias counts too
    assert_rate_limited(httpx.post(f"{node.url}/balance/topup", json=bad_token, timeout=10))  # same group
    # another group keeps its own count
    invoice = httpx.post(f"{node.url}/balance/lightning/invoice", json={"amount_sats": 0}, timeout=10)
    assert invoice.status_code != 429


def test_lightning_invoices_and_admin_login_have_their_own_limits(node_factory: NodeFactory) -> None:
    node = limited_node(node_factory, rate_limit_invoice_per_min=1, rate_limit_login_per_min=1)
    body = {"amount_sats": 0, "purpose": "create"}
    assert httpx.post(f"{node.url}/balance/lightning/invoice", json=body, timeout=10).status_code != 429
    assert_rate_limited(httpx.post(f"{node.url}/balance/lightning/invoice", json=body, timeout=10))
    assert httpx.post(f"{node.root}/admin/api/login", json={}, timeout=10).status_code != 429
    assert_rate_limited(httpx.post(f"{node.root}/admin/api/login", json={}, timeout=10))


def test_behind_a_proxy_each_forwarded_client_ip_is_counted_and_the_proxy_itself_is_exempt(
    node_factory: NodeFactory,
) -> None:
    node = node_factory(rate_limit_create_per_min=1, rate_limit_prefix=f"test-{uuid.uuid4().hex}")

    def create(forwarded_for: str | None) -> int:
        headers = {"x-forwarded-for": forwarded_for} if forwarded_for else {}
        return httpx.post(f"{node.url}/balance/create", json={}, headers=headers, timeout=10).status_code

    # uvicorn believes X-Forwarded-For from 127.0.0.1 (FORWARDED_ALLOW_IPS), so the client is the forwarded one
    assert create("203.0.113.7") == 400
    assert create("203.0.113.7") == 429
    assert create("203.0.113.8") == 400
    assert create(None) == 400 and create(None) == 400  # the loopback caller itself is never counted


def test_loopback_is_exempt_by_default(node_factory: NodeFactory) -> None:
    node = node_factory(rate_limit_create_per_min=1)
    statuses = {httpx.post(f"{node.url}/balance/create", json={}, timeout=10).status_code for _ in range(3)}
    assert 429 not in statuses


def test_key_rpm_limits_each_key_alone(node_factory: NodeFactory) -> None:
    node = limited_node(node_factory, key_rpm=2)
    first, second = create_key(node, 1_000_000), create_key(node, 1_000_000)

    def chat(key: str) -> httpx.Response:
        return httpx.post(
            f"{node.url}/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}"}, timeout=10
        )

    assert [chat(first).status_code for _ in range(2)] == [200, 200]
    limited = chat(first)
    assert_rate_limited(limited)
    assert "x-routstr-cost-msats" not in limited.headers  # refused before anything was reserved
    assert chat(second).status_code == 200


def test_a_route_declaring_the_dependency_is_limited_by_its_group() -> None:
    api = FastAPI()
    install_error_handlers(api)
    api.state.limits = RateLimits(MemoryCounter(), {ADMIN_LOGIN: Rule(2)}, prefix="t", exempt=frozenset())

    @api.post("/admin/api/other", dependencies=[Depends(rate_limited(ADMIN_LOGIN))])
    async def other() -> dict[str, str]:
        return {"ok": "yes"}

    with TestClient(api) as client:
        assert [client.post("/admin/api/other").status_code for _ in range(2)] == [200, 200]
        refused = client.post("/admin/api/other")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(refused.headers["retry-after"]) >= 1


async def test_memory_counter_opens_a_new_window_when_the_last_one_ended() -> None:
    counter = MemoryCounter()
    rule = Rule(1, window_s=1)
    assert (await counter.hit("k", rule)).allowed
    refused = await counter.hit("k", rule)
    assert not refused.allowed and refused.retry_after_s == 1
    await asyncio.sleep(1.05)
    assert (await counter.hit("k", rule)).allowed
