"""Streamed X-Cashu: the stream's own `X-Cashu` header carries the token's value minus the reservation; what the
reservation leaves after settling is claimed with the same header. Nothing becomes unclaimable."""

import asyncio
import hashlib

import httpx
import orjson

from app.cashu.tokens import decode_token
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode
from tests.payments.helpers import books, info
from tests.payments.test_deposits import proof_states

# reserves 6 + 2 * 1000 = 2006 msat; the stand-in then writes 8 tokens
STREAM = {
    "model": "standin-small",
    "messages": [{"role": "user", "content": "hello there, node"}],
    "max_tokens": 1000,
    "stream": True,
    "stream_options": {"include_usage": True},
}


def stream(node: RunningNode, token: str) -> tuple[httpx.Headers, int]:
    """The stream's headers, and its cost at the test prices from the usage the stream reports."""
    with httpx.stream("POST", node.url + "/chat/completions", json=STREAM, headers={"X-Cashu": token}) as reply:
        assert reply.status_code == 200, reply.read()
        events = [orjson.loads(line[6:]) for line in reply.iter_lines() if line.startswith("data: {")]
    usage = next(event["usage"] for event in events if event.get("usage"))
    return reply.headers, usage["prompt_tokens"] * 1 + usage["completion_tokens"] * 2


def claim(node: RunningNode, token: str) -> httpx.Response:
    return httpx.post(node.url + "/wallet/refund", headers={"X-Cashu": token}, timeout=30)


def test_the_streams_header_carries_the_change_and_the_rest_is_claimed_after(
    node_factory: NodeFactory, mint: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(10))

    headers, charge_msat = stream(node, token)
    claimed = claim(node, token)

    change = headers["x-cashu"]
    assert asyncio.run(proof_states(mint, change)) == {"UNSPENT"}  # real ecash, not spent by anyone yet
    assert "7" in mint.cli("receive", change)  # 10 000 - 2006 reserved: 7 whole sats at once
    assert claimed.status_code == 200, claimed.text
    left_msat = info(node, "sk-" + hashlib.sha256(token.encode()).hexdigest())["balance"]
    assert left_msat < 1000  # less than ecash's smallest unit, still on the token's key
    header_msat, claimed_msat = decode_token(change).amount * 1000, claimed.json()["msats"]
    assert (header_msat, charge_msat) == (7_000, 21)
    assert header_msat + claimed_msat + charge_msat + left_msat == 10_000
    report = books(node)
    assert report.reconciles and report.refunded_msat == header_msat + claimed_msat


def test_no_header_when_the_reservation_holds_the_whole_token(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(3))  # 3000 - 2006 reserved: less than one sat to hand back at once

    headers, charge_msat = stream(node, token)
    claimed = claim(node, token)

    assert "x-cashu" not in headers
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["msats"] == (3_000 - charge_msat) // 1000 * 1000
    assert books(node).reconciles
