"""Ecash out: refunds as fresh tokens that another wallet (the nutshell CLI) accepts once, and top-up racing refund."""

import asyncio

import httpx
import pytest

from app.cashu.tokens import decode_token
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, create_key
from tests.payments.helpers import auth, books, create, error_code, info, refund


def test_refund_pays_out_the_whole_balance_once_and_the_cli_receives_it_once(
    node_factory: NodeFactory, mint: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    key = create(node, asyncio.run(mint.make_token(13))).json()["api_key"]

    paid = refund(node, key)
    again = refund(node, key)

    assert paid.status_code == 200, paid.text
    token = paid.json()["token"]
    assert token.startswith("cashuB") and paid.json()["msats"] == 13_000
    assert again.json()["token"] == token  # a lost reply can be fetched again; it is the same ecash
    assert info(node, key)["balance"] == 0
    report = books(node)
    assert report.reconciles and report.assets_msat == 0 and report.refunded_msat == 13_000
    assert "13" in mint.cli("receive", token)
    with pytest.raises(RuntimeError):
        mint.cli("receive", token)


def test_refund_at_a_fee_charging_mint_pays_the_fee_from_the_balance(
    node_factory: NodeFactory, mint_fee: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint_fee.url])
    key = create(node, asyncio.run(mint_fee.make_token(21, proofs=3))).json()["api_key"]  # credited 20 sat

    paid = refund(node, key).json()

    assert paid["msats"] + paid["fee_msats"] == 20_000 and paid["fee_msats"] > 0
    report = books(node)
    assert report.reconciles and report.liabilities_msat == 0


def test_nothing_to_refund_is_a_clear_400(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint.url])
    key = create_key(node, 999)  # less than one sat: ecash has no smaller unit

    empty = refund(node, key)

    assert (empty.status_code, error_code(empty)) == (400, "no_balance")
    assert info(node, key)["balance"] == 999


def test_topup_racing_refund_on_one_key_loses_nothing(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint.url])
    key = create(node, asyncio.run(mint.make_token(40))).json()["api_key"]
    topups = [asyncio.run(mint.make_token(8)) for _ in range(3)]

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=node.url, timeout=30, headers=auth(key)) as http:
            calls = [http.post("/balance/refund") for _ in range(3)]
            calls += [http.post("/balance/topup", json={"cashu_token": t}) for t in topups]
            return list(await asyncio.gather(*calls))

    responses = asyncio.run(race())

    paid_tokens = {r.json()["token"] for r in responses[:3] if r.status_code == 200}
    refunded = sum(mint_value(t) for t in paid_tokens)
    assert all(r.status_code == 200 for r in responses[3:]), [r.text for r in responses[3:]]
    assert refunded + info(node, key)["balance"] == (40 + 3 * 8) * 1000
    report = books(node)
    assert report.reconciles and report.refunded_msat == refunded


def mint_value(token: str) -> int:
    return decode_token(token).amount * 1000


def test_unknown_key_cannot_refund(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint.url])
    response = refund(node, "sk-unknown")
    assert (response.status_code, error_code(response)) == (401, "invalid_api_key")
