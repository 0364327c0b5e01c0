"""Earnings out through the admin API and the dashboard: a token, an invoice (quoted, then paid on confirm), a
Lightning address; never more than what users are not owed, and the books and the mint agree after."""

import asyncio
from typing import Any

import httpx

from app.cashu.tokens import decode_token
from tests.admin.helpers import ADMIN_TOKEN, admin_node
from tests.fixtures.lnurl import LnurlService
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode
from tests.payments.helpers import books, verified

# 1 sat per prompt and per completion token: one chat earns the operator whole sats
PRICEY = '{"standin-small": {"prompt_msat_per_mtok": 1000000000, "completion_msat_per_mtok": 1000000000}}'
CHAT = {"model": "standin-small", "max_tokens": 8, "messages": [{"role": "user", "content": "hello there, node"}]}


def _admin(node: RunningNode, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return httpx.request(method, f"{node.root}/admin/api{path}", headers=headers, timeout=30, **kwargs)


def earning_node(node_factory: NodeFactory, mint: RunningMint) -> tuple[RunningNode, str, int]:
    """A node whose one user deposited 64 sat and paid for a chat: the operator earned what the chat cost."""
    node = admin_node(node_factory, cashu_mints=[mint.url], model_prices=PRICEY)
    token = asyncio.run(mint.make_token(64))
    key = httpx.post(f"{node.url}/balance/create", json={"cashu_token": token}, timeout=30).json()["api_key"]
    paid = httpx.post(f"{node.url}/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert paid.status_code == 200, paid.text
    earned = int(paid.headers["x-routstr-cost-msats"])
    assert earned >= 5_000
    return node, key, earned


def test_earnings_come_out_as_a_token_and_never_a_users_msat(node_factory: NodeFactory, mint: RunningMint) -> None:
    node, key, earned = earning_node(node_factory, mint)
    shown = _admin(node, "GET", "/earnings").json()
    assert shown["withdrawable_msat"] == earned // 1000 * 1000  # whole sats
    assert shown["mints"][0]["withdrawable_msat"] == shown["withdrawable_msat"]

    too_much = _admin(node, "POST", "/withdraw", json={"method": "token", "amount_sat": earned // 1000 + 1})
    done = _admin(node, "POST", "/withdraw", json={"method": "token"})

    assert (too_much.status_code, too_much.json()["error"]["code"]) == (409, "not_withdrawable")
    assert done.status_code == 200, done.text
    assert decode_token(done.json()["token"]).amount == earned // 1000 == done.json()["amount_sat"]
    user = httpx.get(f"{node.url}/balance/info", headers={"Authorization": f"Bearer {key}"}, timeout=10).json()
    assert user["balance"] == 64_000 - earned  # untouched
    assert _admin(node, "GET", "/earnings").json()["withdrawable_msat"] == 0
    assert books(node).reconciles
    assert verified(node).differences == []


def test_an_invoice_is_quoted_first_and_paid_only_on_confirm(
    node_factory: NodeFactory, mint: RunningMint, mint_fee: RunningMint
) -> None:
    node, _, earned = earning_node(node_factory, mint)
    invoice = asyncio.run(_invoice(mint_fee, 2))  # another mint's: FakeWallet settles its own invoices internally

    quoted = _admin(node, "POST", "/withdraw", json={"method": "bolt11", "bolt11": invoice})
    still = _admin(node, "GET", "/earnings").json()["withdrawable_msat"]
    paid = _admin(node, "POST", "/withdraw", json={"method": "bolt11", "bolt11": invoice, "confirm": True})

    assert quoted.status_code == 200, quoted.text
    assert (quoted.json()["paid"], quoted.json()["amount_sat"]) == (False, 2)
    assert quoted.json()["fee_reserve_sat"] >= 0
    assert still == earned // 1000 * 1000  # the quote moved nothing
    assert paid.status_code == 200, paid.text
    assert paid.json()["paid"] is True and paid.json()["amount_sat"] == 2
    assert books(node).reconciles


def test_a_lightning_address_is_resolved_then_paid(
    node_factory: NodeFactory, mint: RunningMint, lnurl_service: LnurlService
) -> None:
    node, _, _ = earning_node(node_factory, mint)
    body = {"method": "lightning_address", "lightning_address": lnurl_service.address(), "amount_sat": 2}

    quoted = _admin(node, "POST", "/withdraw", json=body)
    paid = _admin(node, "POST", "/withdraw", json={**body, "confirm": True})
    missing = _admin(node, "POST", "/withdraw", json={"method": "lightning_address", "amount_sat": 2})

    assert quoted.status_code == 200, quoted.text
    assert quoted.json()["paid"] is False and quoted.json()["bolt11"].startswith("ln")
    assert paid.status_code == 200 and paid.json()["paid"] is True, paid.text
    assert asyncio.run(lnurl_service.last_invoice()) == (2, True)
    assert missing.status_code == 400
    assert books(node).reconciles


def test_withdrawing_needs_the_admin_credential(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = admin_node(node_factory, cashu_mints=[mint.url])
    refused = httpx.post(f"{node.root}/admin/api/withdraw", json={"method": "token"}, timeout=10)
    assert refused.status_code == 401


async def _invoice(mint: RunningMint, amount_sat: int) -> str:
    from app.cashu.client import MintClient

    async with httpx.AsyncClient() as http:
        return (await MintClient(http, mint.url).mint_quote(amount_sat)).request
