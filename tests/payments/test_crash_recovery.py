"""SIGKILL of the node while a swap is in flight at the mint: after a restart on the same database the journal is
settled from the mint's own word (NUT-07/09), never guessed. Every sat is either credited once, refunded once, or
left spendable by its owner; the books reconcile to the msat."""

import asyncio
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cashu.messages import ProofState
from app.cashu.tokens import decode_token
from tests.fixtures.gate import Gate, Mode, addressed_to, running_gate, token_states
from tests.fixtures.mint import RunningMint
from tests.fixtures.node_process import NodeProcess, NodeProcessFactory, books, node_processes, wait_settled

MINT_ANSWERED_OK = b"HTTP/1.1 200"


@pytest.fixture
def gate(mint: RunningMint) -> Iterator[Gate]:
    with running_gate(mint.url) as started:
        yield started


@pytest.fixture
def node_process_factory(database_url: str, standin_url: str, tmp_path: Path) -> Iterator[NodeProcessFactory]:
    with node_processes(database_url, standin_url, tmp_path) as make:
        yield make


@pytest.fixture
def in_background() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield pool


def post(node: NodeProcess, path: str, key: str | None = None, **body: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(node.url + path, json=body, headers=headers, timeout=30)


def post_until_killed(node: NodeProcess, path: str, key: str | None = None, **body: Any) -> httpx.Response | None:
    """The request a client had in flight when the node died: None when no answer came."""
    try:
        return post(node, path, key, **body)
    except httpx.TransportError:
        return None


def balance(node: NodeProcess, key: str) -> int:
    response = httpx.get(node.url + "/balance/info", headers={"authorization": f"Bearer {key}"}, timeout=30)
    assert response.status_code == 200, response.text
    return int(response.json()["balance"])


def kill_while_held(node: NodeProcess, gate: Gate, in_flight: "Future[httpx.Response | None]") -> None:
    gate.wait_held()
    node.kill()
    assert in_flight.result(timeout=30) is None


def restart_and_settle(node: NodeProcess) -> None:
    node.start()
    wait_settled(node.database_url)


@pytest.mark.parametrize("forward", [True, False], ids=["mint-did-it", "never-reached-the-mint"])
def test_sigkill_while_a_deposit_swap_is_held(
    node_process_factory: NodeProcessFactory,
    mint: RunningMint,
    gate: Gate,
    in_background: ThreadPoolExecutor,
    forward: bool,
) -> None:
    node = node_process_factory([gate.url])
    node.start()
    token = addressed_to(asyncio.run(mint.make_token(42)), gate.url)
    gate.set(Mode.HOLD)
    in_flight = in_background.submit(post_until_killed, node, "/balance/create", cashu_token=token)
    kill_while_held(node, gate, in_flight)
    answers = gate.release(forward=forward)
    assert [answer.startswith(MINT_ANSWERED_OK) for answer in answers] == ([True] if forward else [])

    restart_and_settle(node)
    if forward:
        assert_credited_once(node, token, 42_000)
    else:
        assert_left_to_its_owner(node, mint, token)


def assert_credited_once(node: NodeProcess, token: str, amount_msat: int) -> None:
    report = books(node.database_url)
    assert (report.deposited_msat, report.assets_msat, report.liabilities_msat) == (amount_msat,) * 3
    created = [post(node, "/balance/create", cashu_token=token) for _ in range(2)]
    assert [r.status_code for r in created] == [200, 200], created[-1].text
    key = created[0].json()["api_key"]
    assert created[1].json()["api_key"] == key
    assert balance(node, key) == amount_msat
    assert books(node.database_url).reconciles


def assert_left_to_its_owner(node: NodeProcess, mint: RunningMint, token: str) -> None:
    report = books(node.database_url)
    assert (report.deposited_msat, report.assets_msat, report.liabilities_msat) == (0, 0, 0)
    assert report.reconciles
    assert token_states(token, mint.url) == {ProofState.UNSPENT}
    mint.cli("receive", addressed_to(token, mint.url))
    assert token_states(token, mint.url) == {ProofState.SPENT}


@pytest.mark.parametrize("forward", [True, False], ids=["mint-did-it", "never-reached-the-mint"])
def test_sigkill_while_a_refund_swap_is_held(
    node_process_factory: NodeProcessFactory,
    mint: RunningMint,
    gate: Gate,
    in_background: ThreadPoolExecutor,
    forward: bool,
) -> None:
    node = node_process_factory([gate.url])
    node.start()
    key = post(node, "/balance/create", cashu_token=addressed_to(asyncio.run(mint.make_token(50)), gate.url))
    key_text = key.json()["api_key"]
    gate.set(Mode.HOLD)
    in_flight = in_background.submit(post_until_killed, node, "/balance/refund", key_text)
    kill_while_held(node, gate, in_flight)
    gate.release(forward=forward)

    restart_and_settle(node)
    if forward:
        assert_refunded_once(node, mint, key_text, 50_000)
    else:
        assert_refund_undone(node, mint, key_text, 50_000)


def assert_refunded_once(node: NodeProcess, mint: RunningMint, key: str, deposited_msat: int) -> None:
    assert balance(node, key) == 0
    fetched = [post(node, "/balance/refund", key) for _ in range(2)]
    assert [r.status_code for r in fetched] == [200, 200], fetched[-1].text
    token = fetched[0].json()["token"]
    assert fetched[1].json()["token"] == token
    assert decode_token(token).amount * 1000 == deposited_msat  # no input fee on this mint
    report = books(node.database_url)
    assert (report.deposited_msat, report.refunded_msat, report.liabilities_msat) == (deposited_msat, deposited_msat, 0)
    assert report.reconciles
    mint.cli("receive", addressed_to(token, mint.url))
    assert token_states(token, mint.url) == {ProofState.SPENT}


def assert_refund_undone(node: NodeProcess, mint: RunningMint, key: str, deposited_msat: int) -> None:
    assert balance(node, key) == deposited_msat
    report = books(node.database_url)
    assert (report.refunded_msat, report.assets_msat, report.reconciles) == (0, deposited_msat, True)
    refunded = post(node, "/balance/refund", key)
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["msats"] == deposited_msat
    assert balance(node, key) == 0
    assert token_states(refunded.json()["token"], mint.url) == {ProofState.UNSPENT}
    assert books(node.database_url).reconciles
