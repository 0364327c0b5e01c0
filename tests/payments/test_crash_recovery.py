"""SIGKILL of the node while a swap is in flight at the mint: after a restart on the same database the journal is
settled from the mint's own word (NUT-07/09), never guessed. Every sat is either credited once, refunded once, or
left spendable by its owner; the books reconcile to the msat."""

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cashu.messages import ProofState
from app.cashu.tokens import decode_token
from tests.fixtures.gate import Gate, Mode, addressed_to, token_states
from tests.fixtures.mint import RunningMint
from tests.fixtures.node_process import NodeProcess, NodeProcessFactory, books, node_processes, wait_settled

MINT_ANSWERED_OK = b"HTTP/1.1 200"
# the killed process's leases on its operations (MINT_TIMEOUT_S + 5) run out before the restarted one may recover them
OWNER_LEASE_EXPIRY_S = 60.0


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


def post_until_answered(node: NodeProcess, path: str, **body: Any) -> httpx.Response:
    """Ask again while the answer is "still being settled" (503): the dead process's lease on the operation has to
    run out first."""
    deadline = time.monotonic() + OWNER_LEASE_EXPIRY_S
    while (answer := post(node, path, **body)).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.5)
    return answer


def balance(node: NodeProcess, key: str) -> int:
    response = httpx.get(node.url + "/balance/info", headers={"authorization": f"Bearer {key}"}, timeout=30)
    assert response.status_code == 200, response.text
    return int(response.json()["balance"])


def kill_while_held(node: NodeProcess, gate: Gate, in_flight: "list[Future[httpx.Response | None]]") -> None:
    gate.wait_held(len(in_flight))
    node.kill()
    assert [request.result(timeout=30) for request in in_flight] == [None] * len(in_flight)


def fund_key(node: NodeProcess, gate: Gate, mint: RunningMint, amount_sat: int) -> str:
    created = post(
        node, "/balance/create", cashu_token=addressed_to(asyncio.run(mint.make_token(amount_sat)), gate.url)
    )
    assert created.status_code == 200, created.text
    return str(created.json()["api_key"])


@pytest.mark.parametrize("forward", [True, False], ids=["mint-did-it", "never-reached-the-mint"])
def test_sigkill_while_a_deposit_and_a_refund_swap_are_held(
    node_process_factory: NodeProcessFactory,
    mint: RunningMint,
    gate: Gate,
    in_background: ThreadPoolExecutor,
    forward: bool,
) -> None:
    """One crash, both money paths in flight: a create (42 sat) and a refund of a 50 sat key, held at the gate when
    the node dies; then the mint gets both swaps (or neither), and the node is started again on the same database."""
    node = node_process_factory([gate.url])
    node.start()
    refunder = fund_key(node, gate, mint, 50)
    token = addressed_to(asyncio.run(mint.make_token(42)), gate.url)
    gate.set(Mode.HOLD)
    in_flight = [
        in_background.submit(post_until_killed, node, "/balance/create", cashu_token=token),
        in_background.submit(post_until_killed, node, "/balance/refund", refunder),
    ]
    kill_while_held(node, gate, in_flight)
    answers = gate.release(forward=forward)
    assert [answer.startswith(MINT_ANSWERED_OK) for answer in answers] == ([True, True] if forward else [])

    node.start()
    # Either way both are finished as planned: a swap that never reached the mint is sent again with the same
    # outputs (undoing it could hand back inputs that a late copy of the first request still spends). A deposit's
    # swap is sent again when its token comes back: the journal never holds a token (it can be an API key).
    assert post_until_answered(node, "/balance/create", cashu_token=token).status_code == 200
    wait_settled(node.database_url, OWNER_LEASE_EXPIRY_S)
    assert_both_done_once(node, mint, token, refunder)


def test_a_refund_swap_reaching_the_mint_late_neither_pays_twice_nor_blocks_other_refunds(
    node_process_factory: NodeProcessFactory,
    mint: RunningMint,
    gate: Gate,
    in_background: ThreadPoolExecutor,
) -> None:
    node = node_process_factory([gate.url])
    node.start()
    refunder = fund_key(node, gate, mint, 50)
    other = fund_key(node, gate, mint, 20)
    gate.set(Mode.HOLD)
    kill_while_held(node, gate, [in_background.submit(post_until_killed, node, "/balance/refund", refunder)])
    gate.set(Mode.PASS)  # the held copy stays parked; new swaps go through

    node.start()
    # start-up settlement sends the planned swap again, and it completes
    wait_settled(node.database_url, OWNER_LEASE_EXPIRY_S)
    late = gate.release(forward=True)  # now the first copy reaches the mint: its inputs are already spent

    assert [answer.startswith(MINT_ANSWERED_OK) for answer in late] == [False]
    assert_refunded_once(node, mint, refunder, 50_000)
    paid = post(node, "/balance/refund", other)
    assert paid.status_code == 200, paid.text
    assert paid.json()["msats"] == 20_000
    report = books(node.database_url)
    assert (report.refunded_msat, report.liabilities_msat, report.assets_msat, report.reconciles) == (
        70_000,
        0,
        0,
        True,
    )


def assert_both_done_once(node: NodeProcess, mint: RunningMint, token: str, refunder: str) -> None:
    report = books(node.database_url)
    assert (report.deposited_msat, report.refunded_msat) == (92_000, 50_000)
    assert (report.liabilities_msat, report.assets_msat, report.reconciles) == (42_000, 42_000, True)
    assert_credited_once(node, token, 42_000)
    assert_refunded_once(node, mint, refunder, 50_000)


def assert_credited_once(node: NodeProcess, token: str, amount_msat: int) -> None:
    created = [post(node, "/balance/create", cashu_token=token) for _ in range(2)]
    assert [r.status_code for r in created] == [200, 200], created[-1].text
    key = created[0].json()["api_key"]
    assert created[1].json()["api_key"] == key
    assert balance(node, key) == amount_msat
    assert books(node.database_url).reconciles


def assert_refunded_once(node: NodeProcess, mint: RunningMint, key: str, debited_msat: int) -> None:
    assert balance(node, key) == 0
    fetched = [post(node, "/balance/refund", key) for _ in range(2)]
    assert [r.status_code for r in fetched] == [200, 200], fetched[-1].text
    token = fetched[0].json()["token"]
    assert fetched[1].json()["token"] == token
    assert decode_token(token).amount * 1000 == debited_msat  # no input fee on this mint
    mint.cli("receive", addressed_to(token, mint.url))
    assert token_states(token, mint.url) == {ProofState.SPENT}
