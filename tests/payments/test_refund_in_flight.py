"""A refund asked while a request on the key runs is refused (it would strand what the request holds), then paid in
full once the request ends. The in-flight state is the key's open reservations, in the database. A refund that finds
the node's proofs out at the mint for another refund waits for their change."""

import asyncio
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from app.cashu.tokens import decode_token
from tests.fixtures.gate import Gate, Mode, addressed_to
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode
from tests.payments.helpers import auth, books, create, error_code, info, refund, verified

SLOW_CHAT = {
    "model": "standin-small",
    "messages": [{"role": "user", "content": "hello there, node"}],
    "max_tokens": 8,
    "standin": {"delay_ms": 1500},
}
COST_MSAT = 5 * 1 + 8 * 2


async def refund_during_request(node: RunningNode, request_headers: dict[str, str], refund_headers: dict[str, str],
                                watched_key: str) -> tuple[httpx.Response, httpx.Response]:  # fmt: skip
    async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
        request = asyncio.create_task(http.post("/chat/completions", json=SLOW_CHAT, headers=request_headers))
        await until_reserved(http, watched_key)
        refused = await http.post("/wallet/refund", headers=refund_headers)
        return await request, refused


async def until_reserved(http: httpx.AsyncClient, key: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        shown = await http.get("/balance/info", headers=auth(key))
        if shown.status_code == 200 and shown.json()["reserved"] > 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the request never reserved")


def test_a_keys_refund_waits_for_its_requests(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint.url])
    key = create(node, asyncio.run(mint.make_token(10))).json()["api_key"]

    served, refused = asyncio.run(refund_during_request(node, auth(key), auth(key), key))
    paid = httpx.post(node.url + "/wallet/refund", headers=auth(key), timeout=30)

    assert served.status_code == 200, served.text
    assert (refused.status_code, error_code(refused)) == (400, "requests_in_flight")
    assert paid.status_code == 200, paid.text
    assert paid.json()["msats"] == (10_000 - COST_MSAT) // 1000 * 1000  # all of it, in whole sats
    assert info(node, key)["balance"] == (10_000 - COST_MSAT) % 1000
    assert books(node).reconciles


def test_an_x_cashu_tokens_change_is_425_while_its_request_runs(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(10))
    token_key = "sk-" + hashlib.sha256(token.encode()).hexdigest()
    xcashu = {"X-Cashu": token}

    served, refused = asyncio.run(refund_during_request(node, xcashu, xcashu, token_key))

    assert served.status_code == 200, served.text
    assert refused.status_code == 425, refused.text
    assert error_code(refused) == "requests_in_flight" and int(refused.headers["retry-after"]) > 0
    change = decode_token(served.headers["x-cashu"]).amount  # the change the request itself sent back
    assert change == (10_000 - COST_MSAT) // 1000
    assert books(node).reconciles


def test_a_refund_waits_for_the_change_of_another_keys_refund_still_at_the_mint(
    node_factory: NodeFactory, mint: RunningMint, gate: Gate
) -> None:
    """The node holds 32+1 sat for one key and 16+8+4+2+1 for another. The first key's refund swaps 32+16 (its 33 and
    15 change); until the mint answers, the 16 sat left cannot pay the second key's 31. The node has the money: the
    second refund waits for the change instead of answering 503."""
    node = node_factory(cashu_mints=[gate.url])
    first = create(node, addressed_to(asyncio.run(mint.make_token(33)), gate.url)).json()["api_key"]
    second = create(node, addressed_to(asyncio.run(mint.make_token(31)), gate.url)).json()["api_key"]
    gate.set(Mode.HOLD)

    with ThreadPoolExecutor(2) as pool:
        first_refund = pool.submit(refund, node, first)
        gate.wait_held(1)
        second_refund = pool.submit(refund, node, second)
        time.sleep(1)
        assert not second_refund.done(), second_refund.result().text
        gate.release(forward=True)
        paid = [first_refund.result(), second_refund.result()]

    assert [r.status_code for r in paid] == [200, 200], paid[1].text
    assert [decode_token(r.json()["token"]).amount for r in paid] == [33, 31]
    assert books(node).reconciles
    assert verified(node).ok  # the journal against the mint's own word
