"""Anthropic's Messages API through the real node and the stand-in, on both databases: reserved from `max_tokens`,
charged `message_start`'s input plus `message_delta`'s output (or the JSON reply's usage), errors readable by
Anthropic's SDKs and OpenAI's alike."""

from typing import Any

import httpx
import orjson

from tests.fixtures.node import NodeFactory, RunningNode, create_key, key_state, standin_small_msat, wait_settled

PROMPT = "hello there, node"  # 17 characters: the stand-in reports ceil(17 / 4) = 5 input tokens
SYSTEM = "be brief"  # 8 more: 25 characters, 7 input tokens


def _message(**extra: Any) -> dict[str, Any]:
    return {"model": "standin-small", "max_tokens": 100, "messages": [{"role": "user", "content": PROMPT}], **extra}


def _post(node: RunningNode, key: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"x-api-key": "unused", "authorization": f"Bearer {key}", "anthropic-version": "2023-06-01"}
    return httpx.post(node.url + "/messages", json=body, headers=headers, timeout=20)


def test_a_message_is_charged_its_reported_usage(node_factory: NodeFactory) -> None:
    node = node_factory()
    key = create_key(node, 100_000)
    reply = _post(node, key, _message(system=SYSTEM))

    assert reply.status_code == 200, reply.text
    message = reply.json()
    assert message["type"] == "message" and message["content"][0]["text"] == "hi " * 8
    assert message["usage"] == {"input_tokens": 7, "output_tokens": 8}
    assert int(reply.headers["x-routstr-cost-msats"]) == standin_small_msat(7, 8)
    assert key_state(node, key) == {"balance_msat": 100_000 - standin_small_msat(7, 8), "reserved_msat": 0}


def test_a_streamed_message_is_charged_message_start_input_plus_message_delta_output(node_factory: NodeFactory) -> None:
    node = node_factory()
    key = create_key(node, 100_000)
    reply = _post(node, key, _message(stream=True, max_tokens=5, standin={"chunks": 12}))

    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/event-stream")
    names = [line.removeprefix("event: ") for line in reply.text.splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_delta") == 5  # max_tokens
    reserved = int(reply.headers["x-routstr-reserved-msats"])
    assert reserved >= standin_small_msat(5, 5)
    assert wait_settled(node, key) == {"balance_msat": 100_000 - standin_small_msat(5, 5), "reserved_msat": 0}


def test_a_stream_without_usage_is_charged_what_it_produced(node_factory: NodeFactory) -> None:
    node = node_factory()
    key = create_key(node, 100_000)
    reply = _post(node, key, _message(stream=True, standin={"usage": False, "chunks": 6}))

    assert reply.status_code == 200 and b"_tokens" not in reply.content  # no token counts anywhere
    # prompt ceil(17 / 4) = 5 tokens; six "hi " deltas: max(6 events, ceil(18 / 4)) = 6 completion tokens
    assert wait_settled(node, key) == {"balance_msat": 100_000 - standin_small_msat(5, 6), "reserved_msat": 0}


def test_the_reservation_follows_max_tokens_and_a_short_balance_is_refused(node_factory: NodeFactory) -> None:
    node = node_factory()
    key = create_key(node, 1_000)  # 1,000 msat: max_tokens 600 would reserve over 1,200
    refused = _post(node, key, _message(max_tokens=600))

    assert refused.status_code == 402
    body = refused.json()
    assert body["type"] == "error" and body["error"]["type"] == "insufficient_quota"
    assert body["error"]["message"] and body["request_id"] == refused.headers["x-routstr-request-id"]
    assert _post(node, key, _message(max_tokens=50)).status_code == 200
    assert key_state(node, key)["balance_msat"] == 1_000 - standin_small_msat(5, 8)


def test_max_tokens_is_required_as_anthropic_requires_it(node_factory: NodeFactory) -> None:
    node = node_factory()
    key = create_key(node, 100_000)
    body = _message()
    del body["max_tokens"]
    refused = _post(node, key, body)

    assert refused.status_code == 400
    error = orjson.loads(refused.content)
    assert error["type"] == "error" and error["error"]["param"] == "max_tokens"
    assert key_state(node, key) == {"balance_msat": 100_000, "reserved_msat": 0}


def test_an_unknown_key_gets_anthropics_error_type_beside_openais_envelope(node_factory: NodeFactory) -> None:
    node = node_factory()
    refused = _post(node, "sk-" + "0" * 64, _message())

    assert refused.status_code == 401
    assert refused.json()["type"] == "error" and refused.json()["error"]["code"] == "invalid_api_key"


def test_an_upstream_gone_mid_stream_ends_with_anthropics_error_event_and_charges_what_came(
    node_factory: NodeFactory,
) -> None:
    node = node_factory()
    key = create_key(node, 100_000)
    reply = _post(node, key, _message(stream=True, standin={"drop_after": 3}))

    assert reply.status_code == 200
    last = reply.text.strip().split("\n\n")[-1]
    assert last.startswith("event: error\ndata: ")
    error = orjson.loads(last.split("data: ", 1)[1])
    assert error["type"] == "error" and error["error"]["code"] == "upstream_dropped"
    # message_start's 5 input tokens; three deltas reached the node, counted as 3 completion tokens
    assert wait_settled(node, key) == {"balance_msat": 100_000 - standin_small_msat(5, 3), "reserved_msat": 0}
