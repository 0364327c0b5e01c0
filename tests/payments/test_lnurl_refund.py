"""A key's balance paid to a Lightning address: LNURL-pay against a local service whose invoices are real bolt11
invoices of `mint_fee`, melted by a node trusting `mint` (both FakeWallet: fee reserve 2 sat, fee paid 1 sat)."""

import asyncio

import httpx

from tests.fixtures.lnurl import LnurlService
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode
from tests.payments.helpers import auth, books, create, error_code, info, verified


def refund_to(node: RunningNode, key: str, address: str, *, alias: bool = False) -> httpx.Response:
    path = "/wallet/refund" if alias else "/balance/refund"
    return httpx.post(node.url + path, json={"lightning_address": address}, headers=auth(key), timeout=60)


def test_the_balance_is_paid_to_the_address_less_the_fees_and_the_unused_reserve_comes_back(
    node_factory: NodeFactory, mint: RunningMint, lnurl_service: LnurlService
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    key = create(node, asyncio.run(mint.make_token(100))).json()["api_key"]

    paid = refund_to(node, key, lnurl_service.address(), alias=True)

    assert paid.status_code == 200, paid.text
    body = paid.json()
    # 100 sat: an invoice of 98 sat and a 2 sat fee reserve; the payment cost 1 sat, 1 sat came back
    assert body["recipient"] == lnurl_service.address()
    assert (body["msats"], body["fee_msats"], body["returned_msats"]) == (98_000, 1_000, 1_000)
    assert "token" not in body
    assert asyncio.run(lnurl_service.last_invoice()) == (98, True)
    assert info(node, key)["balance"] == 1_000
    report = books(node)
    assert report.reconciles and report.refunded_msat == 99_000 and report.open_operations == 0
    assert verified(node).differences == []  # the melted proofs spent, the fee change held unspent


def test_a_balance_below_the_fees_is_refused_and_kept(
    node_factory: NodeFactory, mint: RunningMint, lnurl_service: LnurlService
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    key = create(node, asyncio.run(mint.make_token(2))).json()["api_key"]

    refused = refund_to(node, key, lnurl_service.address())

    assert (refused.status_code, error_code(refused)) == (422, "cashu_token_swap_fees_exceed_amount")
    assert info(node, key)["balance"] == 2_000


def test_an_address_that_gives_no_invoice_keeps_the_balance(
    node_factory: NodeFactory, mint: RunningMint, lnurl_service: LnurlService
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    key = create(node, asyncio.run(mint.make_token(10))).json()["api_key"]

    unknown = refund_to(node, key, lnurl_service.address("nobody"))
    greedy = refund_to(node, key, lnurl_service.address("greedy"))
    malformed = refund_to(node, key, "not an address")
    nowhere = refund_to(node, key, "alice@127.0.0.1:9")

    assert (unknown.status_code, error_code(unknown)) == (400, "lightning_address_failed")
    assert unknown.json()["error"]["type"] == "payment_error"
    assert (greedy.status_code, error_code(greedy)) == (400, "lightning_address_failed")
    assert (malformed.status_code, error_code(malformed)) == (400, "invalid_lightning_address")
    assert (nowhere.status_code, error_code(nowhere)) == (400, "lightning_address_failed")
    assert info(node, key)["balance"] == 10_000
    assert books(node).reconciles


def test_by_default_an_address_cannot_make_the_node_call_a_private_host(
    node_factory: NodeFactory, mint: RunningMint, lnurl_service: LnurlService
) -> None:
    node = node_factory(cashu_mints=[mint.url], allow_private_urls=False)  # the production default
    key = create(node, asyncio.run(mint.make_token(10))).json()["api_key"]

    refused = refund_to(node, key, lnurl_service.address())  # the service is on 127.0.0.1

    assert (refused.status_code, error_code(refused)) == (400, "lightning_address_failed")
    assert "private or loopback" in refused.json()["error"]["message"]
    assert lnurl_service.quotes == []  # never asked for an invoice
    assert info(node, key)["balance"] == 10_000
