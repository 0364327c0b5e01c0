"""/v1/models as Routstr's clients read it: prices per token and the most one request can cost, the model's limits,
and one model by id (ids may contain `/`)."""

import httpx
import openai
import pytest

from app.pricing.catalog import Catalog, PricingPolicy, describe, max_usage
from app.pricing.prices import Price, Usage
from app.upstream.model_list import parse_model_list
from tests.fixtures.node import TEST_PRICES, NodeFactory, RunningNode
from tests.fixtures.sdk import openai_client

BTC_USD = 100_000.0
PRICE = Price(prompt_msat_per_mtok=1_000_000, completion_msat_per_mtok=2_000_000)  # 1 and 2 msat per token
OPENROUTER_STYLE = {
    "id": "openai/gpt-4o",
    "created": 1,
    "owned_by": "openai",
    "name": "OpenAI: GPT-4o",
    "context_length": 128_000,
    "architecture": {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"]},
    "top_provider": {"context_length": 128_000, "max_completion_tokens": 16_384, "is_moderated": True},
    "per_request_limits": {"prompt_tokens": "1000"},
}


def catalog(*raw: dict[str, object]) -> Catalog:
    return Catalog.build(parse_model_list({"data": list(raw)}), PricingPolicy({}, PRICE))


def test_limits_from_the_upstream_give_routstr_s_maxima() -> None:
    model = catalog(OPENROUTER_STYLE).lookup("openai/gpt-4o")
    shown = describe(model, BTC_USD, 4096)

    # window 128k, completion limit 16,384: the dearest request is a 111,616-token prompt and a full completion
    assert shown["sats_pricing"]["max_prompt_cost"] == pytest.approx(128.0)
    assert shown["sats_pricing"]["max_completion_cost"] == pytest.approx(32.768)
    assert shown["sats_pricing"]["max_cost"] == pytest.approx(111.616 + 32.768)
    assert shown["pricing"]["max_cost"] == pytest.approx((111_616 + 32_768) / 100_000_000_000 * BTC_USD)
    assert shown["sats_pricing"]["prompt"] == pytest.approx(0.001)
    assert shown["pricing"]["completion"] == pytest.approx(2e-11 * BTC_USD)
    assert shown["context_length"] == 128_000
    assert shown["name"] == "OpenAI: GPT-4o"
    assert shown["top_provider"]["max_completion_tokens"] == 16_384
    assert shown["architecture"]["modality"] == "text->text"
    assert shown["per_request_limits"] == {"prompt_tokens": "1000"}


def test_a_window_alone_bounds_both_sides_at_the_dearer_price() -> None:
    model = catalog({"id": "m", "top_provider": {"context_length": 1000}}).lookup("m")
    bounds = max_usage(model, 4096)
    assert (bounds.prompt, bounds.completion, bounds.total) == (1000, 1000, Usage(0, 1000))
    assert describe(model, BTC_USD, 4096)["sats_pricing"]["max_cost"] == pytest.approx(2.0)


def test_without_limits_the_node_s_own_reservation_bounds_a_request() -> None:
    model = catalog({"id": "bare"}).lookup("bare")
    shown = describe(model, BTC_USD, 4096)

    assert shown["sats_pricing"]["max_completion_cost"] == pytest.approx(8.192)
    assert shown["sats_pricing"]["max_cost"] == pytest.approx(4.096 + 8.192)
    assert "context_length" not in shown and "top_provider" not in shown


def test_one_model_by_id_with_and_without_v1_and_a_slash_in_it(node_factory: NodeFactory) -> None:
    prices = TEST_PRICES[:-1] + ', "openai/gpt-4o": {"prompt_msat_per_mtok": 5, "completion_msat_per_mtok": 7}}'
    node = node_factory(model_prices=prices)
    client = openai_client(node.url, "unused")

    listed = {m["id"]: m for m in httpx.get(node.url + "/models", timeout=10).json()["data"]}
    one = httpx.get(node.url + "/models/openai/gpt-4o", timeout=10)
    bare = httpx.get(node.root + "/models/standin-small", timeout=10)
    retrieved = client.models.retrieve("standin-small")

    assert one.status_code == 200 and one.json() == listed["openai/gpt-4o"]
    assert bare.json() == listed["standin-small"] and retrieved.id == "standin-small"
    for entry in listed.values():
        for prices_of in (entry["pricing"], entry["sats_pricing"]):
            assert set(prices_of) >= {"prompt", "completion", "request", "max_prompt_cost", "max_completion_cost"}
            assert prices_of["max_cost"] > 0
    with pytest.raises(openai.NotFoundError) as unknown:
        client.models.retrieve("no/such-model")
    assert unknown.value.code == "model_not_found" and unknown.value.type == "invalid_request_error"


def test_model_list_is_the_openai_shape(node: RunningNode) -> None:
    models = {m.id: m.model_dump() for m in openai_client(node.url, "unused").models.list()}
    assert models["standin-small"]["sats_pricing"]["max_cost"] > 0
