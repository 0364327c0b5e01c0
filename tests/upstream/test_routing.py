"""Through a running node on both databases, three upstreams on their own ports: a model goes to the cheapest one,
ties to the heavier weight; a prefix map sells an upstream's models under other ids."""

import logging

import pytest

from tests.fixtures.node import NodeFactory, create_key, get
from tests.upstream.fronts import Front
from tests.upstream.routed import UPSTREAM_KEY, charged_msat, chat, priced, routed_node, upstream

GRANT = 1_000_000


def test_a_model_goes_to_the_cheapest_upstream_and_is_charged_its_price(
    node_factory: NodeFactory, fronts: list[Front], caplog: pytest.LogCaptureFixture
) -> None:
    dear, cheap, middle = priced(fronts[0], "0.000003"), priced(fronts[1], "0.000001"), priced(fronts[2], "0.000002")
    node = routed_node(node_factory, [upstream("dear", dear), upstream("cheap", cheap), upstream("middle", middle)])
    key = create_key(node, GRANT)
    caplog.set_level(logging.DEBUG, logger="app.upstream")

    replies = [chat(node, key), chat(node, key, stream=True)]

    assert [reply.status_code for reply in replies] == [200, 200]
    assert (dear.hits, cheap.hits, middle.hits) == (0, 2, 0)
    assert int(replies[0].headers["x-routstr-cost-msats"]) == charged_msat(replies[0])  # 1 and 2 msat per token
    tried = [record.getMessage() for record in caplog.records if record.getMessage().startswith("upstream.try")]
    assert len(tried) == 2 and all("upstream=cheap" in line and "attempt=1" in line for line in tried)
    assert UPSTREAM_KEY not in caplog.text


def test_equally_cheap_upstreams_go_by_weight(node_factory: NodeFactory, fronts: list[Front]) -> None:
    for front in fronts:
        priced(front, "0.000001")
    node = routed_node(
        node_factory,
        [
            upstream("light", fronts[0], weight=1),
            upstream("heavy", fronts[1], weight=5),
            upstream("medium", fronts[2], weight=2),
        ],
    )
    key = create_key(node, GRANT)

    assert chat(node, key).status_code == 200

    assert [front.hits for front in fronts] == [0, 1, 0]


def test_a_prefix_map_sells_an_upstreams_models_under_its_prefix(
    node_factory: NodeFactory, fronts: list[Front]
) -> None:
    priced(fronts[0], "0.000001")
    node = routed_node(node_factory, [upstream("acme", fronts[0], models={"acme/": ""})], unpriced_models="refuse")
    key = create_key(node, GRANT)

    listed = [model["id"] for model in get(node, "/v1/models").json()["data"]]
    reply = chat(node, key, model="acme/standin-small")
    unprefixed = chat(node, key, model="standin-small")

    assert listed == ["acme/standin-small"]  # standin-large is listed unpriced: refused
    assert reply.status_code == 200, reply.text
    assert reply.json()["model"] == "standin-small"  # the upstream was asked for its own id
    assert unprefixed.status_code == 404 and unprefixed.json()["error"]["code"] == "model_not_found"
    assert fronts[0].hits == 1


def test_a_list_of_models_sells_only_those(node_factory: NodeFactory, fronts: list[Front]) -> None:
    priced(fronts[0], "0.000001", model="standin-small")
    priced(fronts[1], "0.000002", model="standin-large")
    node = routed_node(
        node_factory,
        [
            upstream("small", fronts[0], models=["standin-small"]),
            upstream("large", fronts[1], models=["standin-large"]),
        ],
    )
    key = create_key(node, GRANT)

    listed = sorted(model["id"] for model in get(node, "/v1/models").json()["data"])
    assert listed == ["standin-large", "standin-small"]
    assert chat(node, key, model="standin-large").status_code == 200
    assert [front.hits for front in fronts] == [0, 1, 0]
