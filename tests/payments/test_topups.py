"""A top-up token posted again is refused as spent (Routstr's answer); the refusal says whether it was credited here."""

import asyncio

from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory
from tests.payments.helpers import books, create, error_code, info, topup


def test_a_topup_posted_again_is_already_spent_and_says_it_was_credited_here(
    node_factory: NodeFactory, mint: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    key = create(node, asyncio.run(mint.make_token(10))).json()["api_key"]
    other = create(node, asyncio.run(mint.make_token(1))).json()["api_key"]
    token = asyncio.run(mint.make_token(7))

    added = topup(node, key, token)
    again = topup(node, key, token)
    elsewhere = topup(node, other, token)

    assert (added.status_code, added.json()["msats"]) == (200, 7_000)
    assert (again.status_code, again.json()["error"]["type"]) == (400, "token_already_spent")
    assert error_code(again) == "cashu_token_already_spent"
    assert (again.json()["error"]["credited_msat"], again.json()["error"]["balance_msat"]) == (7_000, 17_000)
    assert (elsewhere.status_code, error_code(elsewhere)) == (400, "cashu_token_already_spent")
    assert "credited_msat" not in elsewhere.json()["error"]  # another key learns nothing about this one
    assert info(node, key)["balance"] == 17_000 and info(node, other)["balance"] == 1_000
    assert books(node).deposited_msat == 18_000
