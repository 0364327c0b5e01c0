"""Ecash in: real nutshell mints (0 and 100 ppk input fees), both databases, over HTTP as Routstr's clients call."""

import asyncio

import httpx
import pytest

from app.cashu.client import MintClient
from app.cashu.outputs import proof_y
from app.cashu.tokens import decode_token
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory
from tests.payments.helpers import auth, books, create, error_code, info, topup


def test_create_credits_the_token_and_returns_a_working_key(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(21))

    created = create(node, token)

    assert created.status_code == 200, created.text
    body = created.json()
    assert body["api_key"].startswith("sk-") and body["balance"] == 21_000
    assert info(node, body["api_key"])["balance"] == 21_000
    report = books(node)
    assert report.reconciles and report.assets_msat == 21_000 == report.deposited_msat


def test_credit_is_what_the_mint_gave_after_its_fee(node_factory: NodeFactory, mint_fee: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint_fee.url])
    token = asyncio.run(mint_fee.make_token(21, proofs=3))  # 3 inputs at 100 ppk: fee ceil(300/1000) = 1 sat

    created = create(node, token)

    assert created.status_code == 200, created.text
    assert created.json()["balance"] == 20_000
    assert books(node).reconciles


def test_the_same_token_20_times_at_once_is_credited_exactly_once(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(64))
    other = create(node, asyncio.run(mint.make_token(1))).json()["api_key"]

    async def attempts() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
            calls = []
            for i in range(20):
                if i % 3 == 0:
                    calls.append(http.post("/balance/create", json={"cashu_token": token}))
                elif i % 3 == 1:
                    calls.append(http.post("/balance/topup", json={"cashu_token": token}, headers=auth(other)))
                else:
                    calls.append(http.get("/balance/info", headers=auth(token)))
            return list(await asyncio.gather(*calls))

    responses = asyncio.run(attempts())

    refused = [r for r in responses if r.status_code != 200]
    assert all(error_code(r) == "cashu_token_already_spent" for r in refused), [r.text for r in refused]
    report = books(node)
    assert report.deposited_msat == 64_000 + 1_000  # the 64-sat token once, plus the 1-sat key's own deposit
    assert report.liabilities_msat == 65_000 and report.reconciles


def test_a_token_spent_elsewhere_first_is_refused_and_credits_nothing(
    node_factory: NodeFactory, mint: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(8))
    mint.cli("receive", token)

    refused = create(node, token)

    assert (refused.status_code, error_code(refused)) == (400, "cashu_token_already_spent")
    assert books(node).deposited_msat == 0


def test_bad_tokens_are_refused_with_routstr_codes_and_nothing_moves(
    node_factory: NodeFactory, mint: RunningMint, mint_fee: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url], foreign_mints="refuse")  # swapped in otherwise: test_foreign.py
    foreign = asyncio.run(mint_fee.make_token(4))

    garbage = create(node, "cashuBnot-a-token")
    untrusted = create(node, foreign)
    missing = httpx.post(node.url + "/balance/create", json={})

    assert (garbage.status_code, error_code(garbage)) == (400, "invalid_cashu_token")
    assert (untrusted.status_code, error_code(untrusted)) == (422, "cashu_foreign_mint_swap_failed")
    assert missing.status_code == 400
    assert books(node).deposited_msat == 0
    assert asyncio.run(proof_states(mint_fee, foreign)) == {"UNSPENT"}  # the refused token was never touched


def test_fees_above_the_value_are_refused(node_factory: NodeFactory, mint_fee: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint_fee.url])
    token = asyncio.run(mint_fee.make_token(1))  # 1 sat, fee 1 sat

    refused = create(node, token)

    assert (refused.status_code, error_code(refused)) == (422, "cashu_token_swap_fees_exceed_amount")
    assert books(node).deposited_msat == 0


@pytest.mark.parametrize("legacy", [False, True], ids=["cashuB", "cashuA"])
def test_tokens_from_the_nutshell_cli_deposit(node_factory: NodeFactory, mint: RunningMint, legacy: bool) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.cli_send(5, legacy=legacy))
    assert token.startswith("cashuA" if legacy else "cashuB")

    created = create(node, token)

    assert created.status_code == 200, created.text
    assert created.json()["balance"] == 5_000


def test_topup_adds_to_a_key_and_a_retried_create_reaches_the_same_key(
    node_factory: NodeFactory, mint: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    first = asyncio.run(mint.make_token(10))
    key = create(node, first).json()["api_key"]

    again = create(node, first)
    added = topup(node, key, asyncio.run(mint.make_token(7)))

    assert again.status_code == 200 and again.json()["api_key"] == key
    assert added.status_code == 200 and added.json()["msats"] == 7_000
    assert info(node, key)["balance"] == 17_000
    assert books(node).deposited_msat == 17_000


async def proof_states(mint: RunningMint, token: str) -> set[str]:
    async with httpx.AsyncClient() as http:
        states = await MintClient(http, mint.url).checkstate([proof_y(p) for p in decode_token(token).proofs])
    return {str(entry.state) for entry in states}
