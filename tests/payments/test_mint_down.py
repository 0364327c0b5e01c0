"""A mint that cannot be reached, or that goes silent mid-swap, never costs a depositor or a refunder money and never
credits twice: 503 `cashu_mint_unreachable` while it is down, the same token credited exactly once when it is back; a
swap whose answer was lost is settled at once from the mint's own word (NUT-07/09)."""

import asyncio
from typing import Any

import httpx

from app.cashu.messages import ProofState
from app.cashu.tokens import decode_token
from tests.fixtures.gate import Gate, Mode, addressed_to, token_states
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode
from tests.fixtures.node_process import books, wait_settled


def token_via(gate: Gate, mint: RunningMint, amount_sat: int) -> str:
    return addressed_to(asyncio.run(mint.make_token(amount_sat)), gate.url)


def post(node: RunningNode, path: str, key: str | None = None, **body: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(node.url + path, json=body, headers=headers, timeout=30)


def balance(node: RunningNode, key: str) -> int:
    response = httpx.get(node.url + "/balance/info", headers={"authorization": f"Bearer {key}"}, timeout=30)
    assert response.status_code == 200, response.text
    return int(response.json()["balance"])


def assert_unreachable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "cashu_mint_unreachable"


def test_a_swap_dropped_before_the_mint_credits_nothing_and_the_same_token_deposits_once_later(
    node_factory: NodeFactory, mint: RunningMint, gate: Gate
) -> None:
    node = node_factory(cashu_mints=[gate.url])
    token = token_via(gate, mint, 21)
    gate.set(Mode.DROP)

    assert_unreachable(post(node, "/balance/create", cashu_token=token))
    assert token_states(token, mint.url) == {ProofState.UNSPENT}
    report = books(node.settings.database_url)
    assert (report.deposited_msat, report.liabilities_msat, report.assets_msat) == (0, 0, 0)

    gate.set(Mode.PASS)
    created = [post(node, "/balance/create", cashu_token=token) for _ in range(2)]
    assert [r.status_code for r in created] == [200, 200], created[-1].text
    assert created[0].json()["api_key"] == created[1].json()["api_key"]
    assert balance(node, created[0].json()["api_key"]) == 21_000
    report = books(node.settings.database_url)
    assert (report.deposited_msat, report.assets_msat, report.open_operations) == (21_000, 21_000, 0)
    assert report.reconciles


def test_a_swap_cut_after_the_mint_did_it_is_settled_at_once_from_the_mint_s_word_and_credited_once(
    node_factory: NodeFactory, mint: RunningMint, gate: Gate
) -> None:
    node = node_factory(cashu_mints=[gate.url])
    token = token_via(gate, mint, 13)
    gate.set(Mode.CUT)

    first = post(node, "/balance/create", cashu_token=token)  # no answer to the swap: NUT-07/09 settle it
    assert first.status_code == 200, first.text
    assert token_states(token, mint.url) == {ProofState.SPENT}

    gate.set(Mode.PASS)
    created = [first, post(node, "/balance/create", cashu_token=token)]
    assert [r.status_code for r in created] == [200, 200], created[-1].text
    key = created[0].json()["api_key"]
    assert created[1].json()["api_key"] == key
    assert balance(node, key) == 13_000
    report = books(node.settings.database_url)
    assert (report.deposited_msat, report.assets_msat, report.open_operations) == (13_000, 13_000, 0)
    assert report.reconciles


def test_a_stopped_mint_refuses_deposits_and_refunds_without_moving_money(
    node_factory: NodeFactory, mint_fee: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint_fee.url])
    first, second = (asyncio.run(mint_fee.make_token(amount)) for amount in (16, 8))
    key = post(node, "/balance/create", cashu_token=first).json()["api_key"]
    assert balance(node, key) == 15_000  # 16 sat less the mint's 1 sat input fee

    mint_fee.stop()
    try:
        assert_unreachable(post(node, "/balance/topup", key, cashu_token=second))
        assert_unreachable(post(node, "/balance/refund", key))
        assert balance(node, key) == 15_000
        report = books(node.settings.database_url)
        assert (report.assets_msat, report.open_operations, report.reconciles) == (15_000, 0, True)
    finally:
        mint_fee.start()

    topped = post(node, "/balance/topup", key, cashu_token=second)
    assert topped.status_code == 200, topped.text
    assert (topped.json()["msats"], balance(node, key)) == (7_000, 22_000)
    refunded = post(node, "/balance/refund", key)
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["msats"] + refunded.json()["fee_msats"] == 22_000
    assert balance(node, key) == 0
    report = books(node.settings.database_url)
    assert (report.deposited_msat, report.refunded_msat, report.assets_msat) == (22_000, 22_000, 0)
    assert report.reconciles
    assert token_states(refunded.json()["token"], mint_fee.url) == {ProofState.UNSPENT}


def test_a_top_up_cut_after_the_mint_did_it_is_credited_once_after_a_restart(
    node_factory: NodeFactory, mint: RunningMint, gate: Gate
) -> None:
    node = node_factory(cashu_mints=[gate.url])
    key = post(node, "/balance/create", cashu_token=token_via(gate, mint, 4)).json()["api_key"]
    token = token_via(gate, mint, 32)
    gate.set(Mode.CUT)
    cut = post(node, "/balance/topup", key, cashu_token=token)  # settled at once from NUT-07/09
    assert (cut.status_code, cut.json()["msats"]) == (200, 32_000), cut.text
    gate.set(Mode.PASS)
    retried = post(node, "/balance/topup", key, cashu_token=token)
    # the retry is refused as spent, saying the first attempt credited this key; it never credits twice
    assert (retried.status_code, retried.json()["error"]["credited_msat"]) == (400, 32_000), retried.text
    assert balance(node, key) == 36_000

    node.stop()
    restarted = node_factory(cashu_mints=[gate.url])
    wait_settled(restarted.settings.database_url)
    assert balance(restarted, key) == 36_000
    again = post(restarted, "/balance/topup", key, cashu_token=token)
    assert again.json()["error"]["type"] == "token_already_spent"  # the same top-up again: nothing more credited
    assert balance(restarted, key) == 36_000
    report = books(restarted.settings.database_url)
    assert (report.deposited_msat, report.assets_msat, report.reconciles) == (36_000, 36_000, True)


def test_a_refund_cut_after_the_mint_did_it_is_paid_once_after_a_restart(
    node_factory: NodeFactory, mint: RunningMint, gate: Gate
) -> None:
    node = node_factory(cashu_mints=[gate.url])
    key = post(node, "/balance/create", cashu_token=token_via(gate, mint, 24)).json()["api_key"]
    gate.set(Mode.CUT)
    cut = post(node, "/balance/refund", key)  # settled at once from NUT-07/09: the token is handed out
    assert cut.status_code == 200, cut.text
    gate.set(Mode.PASS)
    retried = post(node, "/balance/refund", key)
    # asking again hands out the same token; it never pays a second one
    assert (retried.status_code, retried.json()["token"]) == (200, cut.json()["token"]), retried.text
    assert balance(node, key) == 0

    node.stop()
    restarted = node_factory(cashu_mints=[gate.url])
    wait_settled(restarted.settings.database_url)
    fetched = [post(restarted, "/balance/refund", key) for _ in range(2)]
    assert [r.status_code for r in fetched] == [200, 200], fetched[-1].text
    token = fetched[0].json()["token"]
    assert fetched[1].json()["token"] == token
    assert retried.json()["token"] == token
    assert decode_token(token).amount == 24
    assert token_states(token, mint.url) == {ProofState.UNSPENT}
    report = books(restarted.settings.database_url)
    assert (report.deposited_msat, report.refunded_msat, report.assets_msat) == (24_000, 24_000, 0)
    assert report.reconciles
