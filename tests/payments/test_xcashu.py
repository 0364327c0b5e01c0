"""X-Cashu per request: refusals that need no money are answered before the token goes to the mint."""

import asyncio

import httpx

from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory
from tests.payments.helpers import books, error_code
from tests.payments.test_deposits import proof_states

CHAT = {"model": "standin-small", "messages": [{"role": "user", "content": "hello there, node"}], "max_tokens": 8}


def paid_chat(url: str, token: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(url + "/chat/completions", json=body, headers={"X-Cashu": token}, timeout=30)


def test_an_unknown_model_is_refused_with_the_token_untouched(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(3))

    refused = paid_chat(node.url, token, {**CHAT, "model": "no-such-model"})

    assert (refused.status_code, error_code(refused)) == (404, "model_not_found")
    assert "x-cashu" not in refused.headers  # nothing was redeemed, so there is no change: the token is still good
    assert asyncio.run(proof_states(mint, token)) == {"UNSPENT"}
    assert books(node).deposited_msat == 0


def test_a_token_below_the_requests_maximum_cost_is_refused_untouched(
    node_factory: NodeFactory, mint: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(1))

    refused = paid_chat(node.url, token, {**CHAT, "max_tokens": 1000})  # up to 6 + 2 * 1000 msat

    assert refused.status_code == 402, refused.text
    assert refused.json()["error"]["type"] == "minimum_balance_required"
    assert refused.json()["error"]["needed_msat"] == 2006
    assert "x-cashu" not in refused.headers
    assert asyncio.run(proof_states(mint, token)) == {"UNSPENT"}
    assert books(node).deposited_msat == 0


def test_the_minimum_counts_the_mints_fee(node_factory: NodeFactory, mint_fee: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint_fee.url])
    token = asyncio.run(mint_fee.make_token(3, proofs=2))  # 3 sat, fee 1 sat: worth 2000 msat here

    refused = paid_chat(node.url, token, {**CHAT, "max_tokens": 1000})

    assert (refused.status_code, refused.json()["error"]["available_msat"]) == (402, 2000)
    assert asyncio.run(proof_states(mint_fee, token)) == {"UNSPENT"}


def test_a_token_covering_the_maximum_pays(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(3))

    paid = paid_chat(node.url, token, {**CHAT, "max_tokens": 1000})

    assert paid.status_code == 200, paid.text
    assert asyncio.run(proof_states(mint, token)) == {"SPENT"}
    assert books(node).reconciles
