"""Two nodes (each its own lifespan: boot id, leases, HTTP client) serving one database, as two processes behind a
load balancer would: the same token at both at once, and an X-Cashu burst of one token across both. Every answer is
a clean status, never a 500 after money moved, and the books reconcile."""

import asyncio

import httpx

from app.cashu.tokens import decode_token
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode
from tests.payments.helpers import books

CHAT = {"model": "standin-small", "messages": [{"role": "user", "content": "hello there, node"}], "max_tokens": 8}
COST_MSAT = 5 * 1 + 8 * 2  # 5 prompt + 8 completion tokens at the test prices


def two_nodes(node_factory: NodeFactory, mint: RunningMint) -> tuple[RunningNode, RunningNode]:
    return node_factory(cashu_mints=[mint.url]), node_factory(cashu_mints=[mint.url])


async def each_node(nodes: tuple[RunningNode, ...], times: int, call: str, **kwargs: object) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60) as http:
        requests = [http.post(node.url + call, **kwargs) for node in nodes for _ in range(times)]  # type: ignore[arg-type]
        return list(await asyncio.gather(*requests))


def test_the_same_token_created_on_two_nodes_at_once_answers_one_key_everywhere(
    node_factory: NodeFactory, mint: RunningMint
) -> None:
    nodes = two_nodes(node_factory, mint)
    token = asyncio.run(mint.make_token(32))

    answers = asyncio.run(each_node(nodes, 4, "/balance/create", json={"cashu_token": token}))

    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers if a.status_code != 200]
    assert len({a.json()["api_key"] for a in answers}) == 1
    report = books(nodes[0])
    assert (report.deposited_msat, report.liabilities_msat, report.reconciles) == (32_000, 32_000, True)


def test_an_x_cashu_burst_of_one_token_across_two_nodes_is_charged_and_changed_cleanly(
    node_factory: NodeFactory, mint: RunningMint
) -> None:
    nodes = two_nodes(node_factory, mint)
    token = asyncio.run(mint.make_token(64))

    answers = asyncio.run(each_node(nodes, 6, "/chat/completions", json=CHAT, headers={"x-cashu": token}))

    assert [a.status_code for a in answers] == [200] * 12, [a.text for a in answers if a.status_code != 200]
    change_msat = sum(decode_token(a.headers["x-cashu"]).amount * 1000 for a in answers if "x-cashu" in a.headers)
    left = httpx.get(nodes[1].url + "/balance/info", headers={"x-cashu": token}, timeout=30).json()["balance"]
    assert change_msat + left + 12 * COST_MSAT == 64_000
    report = books(nodes[0])
    assert (report.refunded_msat, report.charged_msat, report.reconciles) == (change_msat, 12 * COST_MSAT, True)
    assert report.liabilities_msat == left
