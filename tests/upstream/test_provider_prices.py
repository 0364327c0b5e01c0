"""Prices from the providers: the upstream's model list (OpenRouter's shape, USD per token) times the upstream's markup,
shown in /v1/models and charged; the operator's MODEL_PRICES win per model; unpriced models are refused once an
upstream gives prices (unless UNPRICED_MODELS says otherwise); the lists are read again periodically."""

import time
from typing import Any

import pytest

from app.upstream.model_list import UsdPrice, parse_model_list
from tests.fixtures.node import NodeFactory, RunningNode, create_key, get
from tests.upstream.fronts import Front, priced_model
from tests.upstream.routed import chat, priced, routed_node, upstream


def listed(node: RunningNode) -> dict[str, dict[str, Any]]:
    return {model["id"]: model for model in get(node, "/v1/models").json()["data"]}


def test_the_upstreams_prices_times_its_markup_are_shown_and_charged(
    node_factory: NodeFactory, fronts: list[Front]
) -> None:
    priced(fronts[0], "0.000001", "0.000002")
    node = routed_node(node_factory, [upstream("router", fronts[0], markup=1.5)])
    key = create_key(node, 1_000_000)

    model = listed(node)["standin-small"]
    reply = chat(node, key)

    assert model["pricing"]["prompt"] == pytest.approx(1.5e-6) and model["pricing"]["completion"] == pytest.approx(3e-6)
    assert model["sats_pricing"]["prompt"] == pytest.approx(0.0015) and model["sats_pricing"]["completion"] == 0.003
    assert model["context_length"] == 32_768
    assert model["top_provider"]["max_completion_tokens"] == 4096 and model["architecture"]["modality"] == "text->text"
    # the largest request: a 32,768-token window, 4,096 of it completion (Routstr's rule), at 1.5 and 3 msat
    assert model["sats_pricing"]["max_cost"] == pytest.approx((28_672 * 1.5 + 4_096 * 3) / 1000)
    usage = reply.json()["usage"]
    expected = -(-usage["prompt_tokens"] * 3 // 2) + usage["completion_tokens"] * 3
    assert int(reply.headers["x-routstr-cost-msats"]) == expected


def test_the_operators_price_wins_and_unpriced_models_are_refused_once_prices_come(
    node_factory: NodeFactory, fronts: list[Front]
) -> None:
    priced(fronts[0], "0.000001")  # standin-large is listed without a price
    prices = '{"standin-small": {"prompt_msat_per_mtok": 5000000, "completion_msat_per_mtok": 7000000}}'
    node = routed_node(node_factory, [upstream("router", fronts[0], markup=3)], model_prices=prices)
    key = create_key(node, 1_000_000)

    models = listed(node)

    assert sorted(models) == ["standin-small"]
    assert models["standin-small"]["sats_pricing"]["prompt"] == 0.005
    assert models["standin-small"]["top_provider"]["context_length"] == 32_768  # the upstream's facts are kept
    refused = chat(node, key, model="standin-large")
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "model_not_found"


def test_unpriced_models_default_keeps_them_at_the_default_price(
    node_factory: NodeFactory, fronts: list[Front]
) -> None:
    priced(fronts[0], "0.000001")
    node = routed_node(node_factory, [upstream("router", fronts[0])], unpriced_models="default")

    assert listed(node)["standin-large"]["sats_pricing"]["prompt"] == 0.001  # DEFAULT_PROMPT_MSAT_PER_MTOK


def test_without_any_upstream_price_unpriced_models_sell_at_the_default_as_before(
    node_factory: NodeFactory, fronts: list[Front]
) -> None:
    node = routed_node(node_factory, [upstream("plain", fronts[0])])  # the stand-in's own list: no prices

    assert {"standin-small", "standin-large"} <= set(listed(node))


def test_prices_are_read_again_periodically(node_factory: NodeFactory, fronts: list[Front]) -> None:
    priced(fronts[0], "0.000001")
    node = routed_node(node_factory, [upstream("router", fronts[0])], models_refresh_s=0.3)
    assert listed(node)["standin-small"]["sats_pricing"]["prompt"] == 0.001

    priced(fronts[0], "0.000004")
    deadline = time.monotonic() + 5
    while listed(node)["standin-small"]["sats_pricing"]["prompt"] != 0.004:
        assert time.monotonic() < deadline, "the new price never showed"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("pricing", "expected"),
    [
        ({"prompt": "0.000003", "completion": "0.000015"}, UsdPrice(3e-6, 1.5e-5)),
        ({"prompt": "0", "completion": "0"}, UsdPrice(0.0, 0.0)),
        ({"prompt": "-1", "completion": "-1"}, None),  # OpenRouter's routers: variable, so unpriced here
        ({"prompt": "abc", "completion": "0.1"}, None),
        ({"prompt": "NaN", "completion": "0.1"}, None),
        ({"prompt": "5", "completion": "0.1"}, None),  # 5 USD per token is garbage, not a price
        ({"prompt": True, "completion": "0.1"}, None),
        ({"completion": "0.1"}, None),
        ("free", None),
    ],
)
def test_a_listed_price_is_read_or_taken_for_unpriced(pricing: Any, expected: UsdPrice | None) -> None:
    [model] = parse_model_list({"data": [priced_model("m", "0", "0") | {"pricing": pricing}]})

    assert model.usd_price == expected
