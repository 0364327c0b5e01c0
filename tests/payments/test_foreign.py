"""Tokens of a mint the node does not trust (`mint_fee`, 100 ppk) swapped into the one it trusts (`mint`) over
Lightning, both FakeWallet mints: melted at their mint into an invoice of ours, credited with what arrived, once."""

import asyncio
from dataclasses import replace

import httpx
import pytest

from app.cashu.tokens import decode_token, encode_token_v4, normalize_mint_url
from app.payments.foreign import ForeignSwapFailed, check_foreign_mint_url
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory
from tests.payments.helpers import books, create, error_code, info, topup, verified
from tests.payments.test_deposits import proof_states
from tests.payments.test_xcashu import CHAT, paid_chat

# 100 sat as 64 + 32 + 4 at 100 ppk: input fee 1 sat; nutshell's fee reserve for a 99 sat invoice is its 2 sat
# minimum, so the node asks for 100 - 1 - 2 = 97 sat.
TOKEN_SAT, CREDITED_MSAT = 100, 97_000


def test_create_with_a_foreign_token_credits_what_the_trusted_mint_issued(
    node_factory: NodeFactory, mint: RunningMint, mint_fee: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint_fee.make_token(TOKEN_SAT))

    created = create(node, token)

    assert created.status_code == 200, created.text
    assert created.json()["balance"] == CREDITED_MSAT
    assert info(node, created.json()["api_key"])["balance"] == CREDITED_MSAT
    assert asyncio.run(proof_states(mint_fee, token)) == {"SPENT"}
    report = books(node)
    assert report.reconciles and report.deposited_msat == CREDITED_MSAT
    assert [(h.mint_url, h.held_sat) for h in report.mints] == [(normalize_mint_url(mint.url), 97)]
    checked = verified(node)  # the token spent at its own mint, the 97 sat held unspent at ours
    assert checked.differences == [] and checked.proofs_checked > 0


def test_topup_with_a_foreign_token(node_factory: NodeFactory, mint: RunningMint, mint_fee: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint.url])
    key = create(node, asyncio.run(mint.make_token(5))).json()["api_key"]

    topped = topup(node, key, asyncio.run(mint_fee.make_token(TOKEN_SAT)))

    assert topped.status_code == 200, topped.text
    assert topped.json()["msats"] == CREDITED_MSAT
    assert info(node, key)["balance"] == 5_000 + CREDITED_MSAT
    assert books(node).reconciles


def test_x_cashu_with_a_foreign_token_pays_and_the_change_is_a_token_of_the_trusted_mint(
    node_factory: NodeFactory, mint: RunningMint, mint_fee: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint_fee.make_token(TOKEN_SAT))

    paid = paid_chat(node.url, token, CHAT)

    assert paid.status_code == 200, paid.text
    change = decode_token(paid.headers["x-cashu"])
    assert normalize_mint_url(change.mint) == normalize_mint_url(mint.url)
    assert 90 <= change.amount < 97  # 97 sat arrived; the request cost a few msat, the change is whole sats
    assert asyncio.run(proof_states(mint, paid.headers["x-cashu"])) == {"UNSPENT"}
    assert books(node).reconciles


def test_the_same_foreign_token_posted_again_and_at_once_is_credited_once(
    node_factory: NodeFactory, mint: RunningMint, mint_fee: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint_fee.make_token(TOKEN_SAT))

    async def at_once() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=node.url, timeout=60) as http:
            return list(await asyncio.gather(*(http.post("/balance/create", json={"cashu_token": token})
                                               for _ in range(4))))  # fmt: skip

    concurrent = asyncio.run(at_once())
    again = create(node, token)

    answers = [*concurrent, again]
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    assert {r.json()["api_key"] for r in answers} == {again.json()["api_key"]}
    assert again.json()["balance"] == CREDITED_MSAT
    report = books(node)
    assert report.deposited_msat == CREDITED_MSAT and report.reconciles


def test_refuse_keeps_foreign_tokens_out_untouched(
    node_factory: NodeFactory, mint: RunningMint, mint_fee: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url], foreign_mints="refuse")
    token = asyncio.run(mint_fee.make_token(TOKEN_SAT))

    refused = create(node, token)

    assert (refused.status_code, error_code(refused)) == (422, "cashu_foreign_mint_swap_failed")
    assert refused.json()["error"]["type"] == "mint_error"
    assert asyncio.run(proof_states(mint_fee, token)) == {"UNSPENT"}
    assert books(node).deposited_msat == 0


def test_a_foreign_token_worth_less_than_the_lightning_fees_is_refused_untouched(
    node_factory: NodeFactory, mint: RunningMint, mint_fee: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint_fee.make_token(3))  # 3 - 1 (input fee) - 2 (fee reserve) = 0

    refused = create(node, token)

    assert (refused.status_code, error_code(refused)) == (422, "cashu_token_swap_fees_exceed_amount")
    assert asyncio.run(proof_states(mint_fee, token)) == {"UNSPENT"}
    assert books(node).deposited_msat == 0


def test_by_default_a_token_cannot_make_the_node_call_a_private_address(
    node_factory: NodeFactory, mint: RunningMint, mint_fee: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url], allow_private_urls=False)  # the production default
    token = asyncio.run(mint_fee.make_token(TOKEN_SAT))  # its mint is on 127.0.0.1

    refused = create(node, token)

    assert (refused.status_code, error_code(refused)) == (422, "cashu_foreign_mint_swap_failed")
    assert "private" in refused.json()["error"]["message"]
    assert asyncio.run(proof_states(mint_fee, token)) == {"UNSPENT"}
    assert books(node).deposited_msat == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:3338",
        "http://localhost:3338",
        "https://10.1.2.3",
        "https://169.254.169.254",  # a cloud's metadata service
        "https://[::1]:3338",
        "https://[fd00::1]",
        "https://postgres:5432",  # a container by its bare name
        "https://mint.local",
        "http://mint.example.com",  # plain http to a public host: the token would travel in the clear
        "ftp://mint.example.com",
    ],
)
def test_foreign_mint_urls_a_token_may_not_name(url: str) -> None:
    with pytest.raises(ForeignSwapFailed):
        check_foreign_mint_url(url, allow_private=False)


@pytest.mark.parametrize("url", ["https://mint.example.com", "https://8.8.8.8:3338/cashu", "http://abcdef.onion"])
def test_foreign_mint_urls_a_token_may_name(url: str) -> None:
    check_foreign_mint_url(url, allow_private=False)


def test_private_foreign_mints_when_the_operator_allows_them() -> None:
    check_foreign_mint_url("http://127.0.0.1:3338", allow_private=True)
    check_foreign_mint_url("http://192.168.1.20:3338", allow_private=True)


def test_a_token_of_an_unreachable_mint_is_refused_as_a_failed_foreign_swap_not_a_node_outage(
    node_factory: NodeFactory, mint: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(8))
    nowhere = decode_token(token)
    moved = encode_token_v4(replace(nowhere, mint="http://127.0.0.1:9"))  # nothing listens on port 9

    refused = create(node, moved)

    assert (refused.status_code, error_code(refused)) == (422, "cashu_foreign_mint_swap_failed")
    assert "unreachable" in refused.json()["error"]["message"]
    assert books(node).deposited_msat == 0
