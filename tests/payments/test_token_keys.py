"""A token's key is `sk-` + sha256(token), as Routstr's clients derive it; a token redeemed once is found by hash."""

import asyncio
import hashlib

import httpx

from tests.fixtures.gate import Gate, Mode, addressed_to
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory
from tests.payments.helpers import auth, books, create, info

CHAT = {"model": "standin-small", "messages": [{"role": "user", "content": "hello there, node"}], "max_tokens": 8}
COST_MSAT = 5 * 1 + 8 * 2


def derived_key(token: str) -> str:
    return "sk-" + hashlib.sha256(token.encode()).hexdigest()


def test_create_answers_the_key_clients_derive_and_a_retry_the_same(
    node_factory: NodeFactory, mint: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(10))

    first, again = create(node, token), create(node, token)

    assert first.status_code == again.status_code == 200, again.text
    key = first.json()["api_key"]
    assert key == again.json()["api_key"] == derived_key(token)
    assert first.json()["key_hash"] == hashlib.sha256(key.encode()).hexdigest()  # stored as the key's hash only
    assert info(node, key)["balance"] == 10_000
    assert books(node).deposited_msat == 10_000


def test_a_token_used_as_bearer_and_its_derived_key_share_one_balance(
    node_factory: NodeFactory, mint: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(10))

    paid = httpx.post(node.url + "/chat/completions", json=CHAT, headers=auth(token), timeout=30)
    shown = httpx.get(node.url + "/balance/info", headers=auth(token), timeout=30)

    assert paid.status_code == 200, paid.text
    assert shown.json()["api_key"] == derived_key(token) and token not in shown.text  # the token is never echoed
    assert info(node, derived_key(token))["balance"] == 10_000 - COST_MSAT


def test_a_redeemed_bearer_token_pays_while_its_mint_is_down(
    node_factory: NodeFactory, mint: RunningMint, gate: Gate
) -> None:
    node = node_factory(cashu_mints=[gate.url])
    token = addressed_to(asyncio.run(mint.make_token(10)), gate.url)
    assert info(node, token)["balance"] == 10_000  # redeemed here, through the gate
    gate.set(Mode.DROP)

    paid = httpx.post(node.url + "/chat/completions", json=CHAT, headers=auth(token), timeout=30)

    assert paid.status_code == 200, paid.text
    assert info(node, token)["balance"] == 10_000 - COST_MSAT
    assert books(node).deposited_msat == 10_000
