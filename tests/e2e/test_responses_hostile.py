"""/v1/responses against a lying or runaway upstream, through a running node on both databases: the same caps and
cut-off as chat (nobody pays more than the reservation; what was delivered is metered)."""

from typing import Any

import httpx
import openai
import pytest

from tests.fixtures.node import RunningNode, create_key, wait_settled
from tests.fixtures.sdk import openai_client

GRANT = 100_000
PROMPT = "hello there, node"  # 17 chars: ceil(17 / 4) = 5 tokens estimated, ceil(17 / 3) = 6 reserved


def body(case: str, **fields: Any) -> dict[str, Any]:
    return {"model": "standin-small", "input": PROMPT, "standin": {"hostile": case}, **fields}


def post(node: RunningNode, key: str, payload: dict[str, Any]) -> httpx.Response:
    return httpx.post(node.url + "/responses", json=payload, headers={"authorization": f"Bearer {key}"}, timeout=30)


def charged(node: RunningNode, key: str) -> int:
    state = wait_settled(node, key)
    assert state["reserved_msat"] == 0
    return GRANT - state["balance_msat"]


def test_huge_usage_costs_at_most_the_reservation(node: RunningNode) -> None:
    key = create_key(node, GRANT)
    reply = post(node, key, body("huge_usage", max_output_tokens=8))

    assert reply.status_code == 200 and reply.json()["usage"]["output_tokens"] == 50_000_000
    assert int(reply.headers["x-routstr-cost-msats"]) == 6 + 8 * 2
    assert charged(node, key) == 6 + 8 * 2


def test_huge_usage_in_a_stream_costs_at_most_the_reservation(node: RunningNode) -> None:
    key = create_key(node, GRANT)
    reply = post(node, key, body("huge_usage", max_output_tokens=8, stream=True))

    assert reply.status_code == 200 and int(reply.headers["x-routstr-reserved-msats"]) == 6 + 8 * 2
    assert charged(node, key) == 6 + 8 * 2


@pytest.mark.parametrize("case", ["negative_usage", "overflow_usage"])
def test_unbelievable_usage_in_a_stream_is_replaced_by_the_deltas_delivered(node: RunningNode, case: str) -> None:
    key = create_key(node, GRANT)
    reply = post(node, key, body(case, stream=True))

    assert reply.status_code == 200 and b"event: response.completed" in reply.content
    assert charged(node, key) == 5 + 8 * 2  # 8 deltas of "hi "


def test_an_endless_stream_is_cut_off_raised_by_the_sdk_and_costs_its_reservation(node: RunningNode) -> None:
    key = create_key(node, GRANT)
    sdk = openai_client(node.url, key)
    deltas = 0
    with pytest.raises(openai.APIError, match="cut off"):
        payload = body("endless_stream", stream=True, max_output_tokens=4)
        switches = payload.pop("standin")
        for event in sdk.responses.create(**payload, extra_body={"standin": switches}):
            deltas += event.type == "response.output_text.delta"

    assert 4 <= deltas <= 4 * 2 + 16  # the budget, with the meter's slack
    assert charged(node, key) == 6 + 4 * 2
