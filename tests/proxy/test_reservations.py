"""Through a running node on both databases: the request fields the node reads are checked before anything is
reserved, and the reservation is the most the request can cost (its completion budget times n or best_of)."""

from typing import Any

import httpx
import pytest

from tests.fixtures.node import TEST_PRICES, NodeFactory, RunningNode, create_key, key_state

GRANT = 100_000
PROMPT = "hello there, node"  # ceil(17/3) = 6 prompt tokens reserved, ceil(17/4) = 5 estimated
PROMPT_MSAT = 6  # TEST_PRICES: 1 msat per prompt token, 2 per completion token
SMALL_CONTEXT = 32_768  # the stand-in lists standin-small with this context length


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "standin-small", "messages": [{"role": "user", "content": PROMPT}], **fields}


def post(node: RunningNode, key: str, body: dict[str, Any], path: str = "/chat/completions") -> httpx.Response:
    return httpx.post(node.url + path, json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)


def reserved_for(node: RunningNode, body: dict[str, Any], path: str = "/chat/completions") -> int:
    """What a stream with this body reserves (its x-routstr-reserved-msats), after checking it all came back."""
    key = create_key(node, GRANT)
    reply = post(node, key, {**body, "stream": True}, path)
    assert reply.status_code == 200, reply.text
    return int(reply.headers["x-routstr-reserved-msats"])


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"stream": "true"}, "stream"),
        ({"stream_options": "yes", "stream": True}, "stream_options"),
        ({"max_tokens": 9_223_372_036_854_775_807}, "max_tokens"),
        ({"max_completion_tokens": SMALL_CONTEXT + 1}, "max_completion_tokens"),
        ({"max_tokens": "8"}, "max_tokens"),
        ({"n": 0}, "n"),
        ({"n": 1000}, "n"),
    ],
)
def test_bad_fields_are_a_400_and_reserve_nothing(node: RunningNode, fields: dict[str, Any], param: str) -> None:
    key = create_key(node, GRANT)
    reply = post(node, key, chat(**fields))

    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error" and reply.json()["error"]["param"] == param
    assert key_state(node, key) == {"balance_msat": GRANT, "reserved_msat": 0}


def test_max_tokens_up_to_the_context_length_is_accepted(node: RunningNode) -> None:
    assert reserved_for(node, chat(max_tokens=SMALL_CONTEXT)) == PROMPT_MSAT + SMALL_CONTEXT * 2


def test_without_max_tokens_the_operator_limit_is_reserved(node_factory: NodeFactory) -> None:
    assert reserved_for(node_factory(), chat()) == PROMPT_MSAT + 16_384 * 2
    assert reserved_for(node_factory(max_completion_tokens=100), chat()) == PROMPT_MSAT + 100 * 2


def test_default_max_tokens_is_still_read_as_the_operator_limit(node_factory: NodeFactory) -> None:
    assert reserved_for(node_factory(default_max_tokens=50), chat()) == PROMPT_MSAT + 50 * 2


def test_without_max_tokens_a_small_context_is_the_limit(node_factory: NodeFactory) -> None:
    node = node_factory(max_completion_tokens=10**6)
    assert reserved_for(node, chat()) == PROMPT_MSAT + (SMALL_CONTEXT - 5) * 2


def test_a_model_of_unknown_context_is_limited_by_the_operator(node_factory: NodeFactory) -> None:
    prices = TEST_PRICES.replace("}}", '}, "local-only": {"prompt_msat_per_mtok": 1, "completion_msat_per_mtok": 1}}')
    node = node_factory(model_prices=prices, max_completion_tokens=100)
    key = create_key(node, GRANT)

    refused = post(node, key, chat(model="local-only", max_tokens=101))
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "max_tokens"
    assert "at most 100 completion tokens" in refused.json()["error"]["message"]
    assert key_state(node, key) == {"balance_msat": GRANT, "reserved_msat": 0}


def test_n_and_best_of_multiply_the_completion_budget(node: RunningNode) -> None:
    assert reserved_for(node, chat(max_tokens=8, n=3)) == PROMPT_MSAT + 3 * 8 * 2
    completion = {"model": "standin-small", "prompt": PROMPT, "max_tokens": 8, "n": 2, "best_of": 5}
    assert reserved_for(node, completion, "/completions") == PROMPT_MSAT + 5 * 8 * 2


def test_a_key_that_cannot_cover_n_choices_is_refused(node: RunningNode) -> None:
    key = create_key(node, PROMPT_MSAT + 8 * 2)
    assert post(node, key, chat(max_tokens=8)).status_code == 200
    poorer = create_key(node, PROMPT_MSAT + 8 * 2)
    assert post(node, poorer, chat(max_tokens=8, n=2)).status_code == 402
    assert key_state(node, poorer) == {"balance_msat": PROMPT_MSAT + 8 * 2, "reserved_msat": 0}
