"""Failover, with money: a key funded with ecash from a real mint, on both databases. A refused connection, a 5xx or
a 429 before any output moves the request to the next upstream and the key is charged once; a stream cut after its
first bytes is not sent anywhere else; with every upstream failing nothing is charged."""

import asyncio
import logging

import httpx
import pytest

from app.ledger.records import EntryKind
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode, key_state
from tests.payments.helpers import create
from tests.upstream.fronts import Front
from tests.upstream.routed import UPSTREAM_KEY, charged_msat, chat, entries, priced, routed_node, upstream

FUNDED_SAT = 100
FUNDED_MSAT = FUNDED_SAT * 1000


def funded_node(node_factory: NodeFactory, mint: RunningMint, fronts: list[Front]) -> tuple[RunningNode, str]:
    """fronts[0] is the cheapest, fronts[1] next, fronts[2] the dearest; the key holds 100 sat of the mint's ecash."""
    for front, price in zip(fronts, ("0.000001", "0.000002", "0.000003"), strict=True):
        priced(front, price)
    upstreams = [upstream("first", fronts[0]), upstream("second", fronts[1]), upstream("third", fronts[2])]
    node = routed_node(node_factory, upstreams, cashu_mints=[mint.url])
    key = create(node, asyncio.run(mint.make_token(FUNDED_SAT))).json()["api_key"]
    return node, key


def assert_charged_once(node: RunningNode, key: str, cost_msat: int) -> None:
    rows = [(row.kind, row.amount_msat) for row in entries(node, key)]
    assert rows == [(EntryKind.DEPOSIT, FUNDED_MSAT), (EntryKind.CHARGE, -cost_msat)]
    assert key_state(node, key) == {"balance_msat": FUNDED_MSAT - cost_msat, "reserved_msat": 0}


@pytest.mark.parametrize("failure", ["refused", 500, 503, 429])
def test_a_failure_before_output_goes_to_the_next_upstream_and_is_charged_once(
    node_factory: NodeFactory,
    mint: RunningMint,
    fronts: list[Front],
    failure: str | int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node, key = funded_node(node_factory, mint, fronts)
    if failure == "refused":
        fronts[0].stop()  # listed its models, then went away: its port refuses connections
    else:
        fronts[0].fail_status = int(failure)
    caplog.set_level(logging.INFO, logger="app.upstream")

    reply = chat(node, key)

    assert reply.status_code == 200, reply.text
    assert (fronts[0].hits, fronts[1].hits, fronts[2].hits) == (0 if failure == "refused" else 1, 1, 0)
    cost = int(reply.headers["x-routstr-cost-msats"])
    assert cost == charged_msat(reply)  # the price the catalog shows (the cheapest offer), whoever served it
    assert_charged_once(node, key, cost)
    tries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("upstream.try")]
    assert "upstream=first" in tries[0] and "upstream=second" in tries[1] and "outcome=200" in tries[1]
    assert UPSTREAM_KEY not in caplog.text


def test_a_stream_fails_over_before_its_first_byte(
    node_factory: NodeFactory, mint: RunningMint, fronts: list[Front]
) -> None:
    node, key = funded_node(node_factory, mint, fronts)
    fronts[0].fail_status = 503
    fronts[1].fail_status = 429

    with httpx.stream(
        "POST",
        node.url + "/chat/completions",
        json={"model": "standin-small", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    ) as reply:
        body = reply.read().decode()

    assert reply.status_code == 200 and body.rstrip().endswith("data: [DONE]")
    assert [front.hits for front in fronts] == [1, 1, 1]
    charges = [row for row in entries(node, key) if row.kind is EntryKind.CHARGE]
    assert len(charges) == 1 and charges[0].amount_msat < 0
    assert key_state(node, key)["reserved_msat"] == 0


def test_a_stream_cut_after_its_first_bytes_is_not_sent_elsewhere(
    node_factory: NodeFactory, mint: RunningMint, fronts: list[Front]
) -> None:
    node, key = funded_node(node_factory, mint, fronts)
    body = {
        "model": "standin-small",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "standin": {"chunks": 8, "drop_after": 3},
    }

    with httpx.stream(
        "POST", node.url + "/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30
    ) as reply:
        received = reply.read().decode()
    reserved = int(reply.headers["x-routstr-reserved-msats"])

    assert reply.status_code == 200 and "upstream_dropped" in received  # the client sees the cut, as an error event
    assert [front.hits for front in fronts] == [1, 0, 0]
    charges = [row for row in entries(node, key) if row.kind is EntryKind.CHARGE]
    assert len(charges) == 1 and 0 < -charges[0].amount_msat < reserved  # what was produced, counted
    assert key_state(node, key) == {"balance_msat": FUNDED_MSAT + charges[0].amount_msat, "reserved_msat": 0}


def test_every_upstream_failing_is_a_502_and_costs_nothing(
    node_factory: NodeFactory, mint: RunningMint, fronts: list[Front]
) -> None:
    node, key = funded_node(node_factory, mint, fronts)
    for front in fronts:
        front.fail_status = 503

    reply = chat(node, key)

    assert reply.status_code == 502 and reply.json()["error"]["type"] == "upstream_error"
    assert [front.hits for front in fronts] == [1, 1, 1]
    assert [row.kind for row in entries(node, key)] == [EntryKind.DEPOSIT]
    assert key_state(node, key) == {"balance_msat": FUNDED_MSAT, "reserved_msat": 0}


def test_a_4xx_is_the_requests_own_answer_and_not_failed_over(
    node_factory: NodeFactory, mint: RunningMint, fronts: list[Front]
) -> None:
    node, key = funded_node(node_factory, mint, fronts)
    fronts[0].fail_status = 400

    reply = chat(node, key)

    assert reply.status_code == 400 and reply.json()["error"]["type"] == "upstream_error"
    assert [front.hits for front in fronts] == [1, 0, 0]
    assert key_state(node, key) == {"balance_msat": FUNDED_MSAT, "reserved_msat": 0}


def test_a_timeout_is_not_sent_to_another_upstream(
    node_factory: NodeFactory, mint: RunningMint, fronts: list[Front]
) -> None:
    """The upstream may still be generating (and billing) the reply: asking another would pay twice."""
    for front, price in zip(fronts, ("0.000001", "0.000002", "0.000003"), strict=True):
        priced(front, price)
    upstreams = [upstream("slow", fronts[0]), upstream("second", fronts[1])]
    node = routed_node(node_factory, upstreams, cashu_mints=[mint.url], upstream_read_timeout_s=0.5)
    key = create(node, asyncio.run(mint.make_token(FUNDED_SAT))).json()["api_key"]
    fronts[0].delay_s = 2.0

    reply = chat(node, key)

    assert reply.status_code == 504 and reply.json()["error"]["code"] == "upstream_timeout"
    assert [front.hits for front in fronts] == [1, 0, 0]
    assert key_state(node, key) == {"balance_msat": FUNDED_MSAT, "reserved_msat": 0}


def test_failed_tries_are_counted_per_upstream_in_the_metrics(
    node_factory: NodeFactory, mint: RunningMint, fronts: list[Front]
) -> None:
    for front, price in zip(fronts, ("0.000001", "0.000002", "0.000003"), strict=True):
        priced(front, price)
    upstreams = [upstream("first", fronts[0]), upstream("second", fronts[1]), upstream("third", fronts[2])]
    node = routed_node(node_factory, upstreams, cashu_mints=[mint.url], metrics_enabled=True)
    key = create(node, asyncio.run(mint.make_token(FUNDED_SAT))).json()["api_key"]
    fronts[0].fail_status = 503
    fronts[1].fail_status = 429

    assert chat(node, key).status_code == 200
    metrics = httpx.get(node.root + "/metrics", timeout=10).text

    assert 'routstr_upstream_failed_tries_total{failure="503",upstream="first"} 1.0' in metrics
    assert 'routstr_upstream_failed_tries_total{failure="429",upstream="second"} 1.0' in metrics
    assert 'upstream="third"' not in metrics.split("routstr_upstream_failed_tries_total")[-1]
