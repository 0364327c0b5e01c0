"""A mint that cannot be reached, or that goes silent mid-swap, never costs a depositor or a refunder money and never
credits twice: 503 `cashu_mint_unreachable` now, the same token credited exactly once when the mint is back."""

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.cashu.messages import ProofState
from tests.fixtures.gate import Gate, Mode, addressed_to, running_gate, token_states
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode
from tests.fixtures.node_process import books


@pytest.fixture
def gate(mint: RunningMint) -> Iterator[Gate]:
    with running_gate(mint.url) as started:
        yield started


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


def test_a_swap_cut_after_the_mint_did_it_is_settled_once_when_the_token_comes_back(
    node_factory: NodeFactory, mint: RunningMint, gate: Gate
) -> None:
    node = node_factory(cashu_mints=[gate.url])
    token = token_via(gate, mint, 13)
    gate.set(Mode.CUT)

    assert_unreachable(post(node, "/balance/create", cashu_token=token))
    assert token_states(token, mint.url) == {ProofState.SPENT}
    assert books(node.settings.database_url).deposited_msat == 0

    gate.set(Mode.PASS)
    created = [post(node, "/balance/create", cashu_token=token) for _ in range(2)]
    assert [r.status_code for r in created] == [200, 200], created[-1].text
    key = created[0].json()["api_key"]
    assert created[1].json()["api_key"] == key
    assert balance(node, key) == 13_000
    report = books(node.settings.database_url)
    assert (report.deposited_msat, report.assets_msat, report.open_operations) == (13_000, 13_000, 0)
    assert report.reconciles
