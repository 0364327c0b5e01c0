"""OpenAI's Responses API through a running node, as openai-python calls it: JSON and streams, metered from the
usage in the response (or in `response.completed`), paid by key or X-Cashu, on both databases."""

import asyncio
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from app.cashu.tokens import decode_token
from app.db.database import open_database
from app.ledger.service import Ledger
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode, create_key, key_state, wait_settled
from tests.fixtures.node import standin_small_msat as cost
from tests.fixtures.sdk import openai_client
from tests.payments.helpers import books

PROMPT = "hello there, node"  # 17 chars: the stand-in counts ceil(17 / 4) = 5 input tokens
INSTRUCTIONS = "be brief"  # 8 more: ceil(25 / 4) = 7 input tokens with both


def client(node: RunningNode, key: str, **kwargs: Any) -> OpenAI:
    return openai_client(node.url, key, timeout=20, **kwargs)


def ledger_rows(node: RunningNode, key: str) -> int:
    async def read() -> int:
        db = open_database(node.settings.database_url)
        try:
            ledger = Ledger(db)
            account = await ledger.find(key)
            assert account is not None
            return len(await ledger.entries(account.id))
        finally:
            await db.close()

    return asyncio.run(read())


def test_json_response_is_charged_its_reported_usage(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    raw = client(node, key).responses.with_raw_response.create(model="standin-small", input=PROMPT)
    response = raw.parse()

    assert response.output_text == "hi " * 8
    assert response.usage is not None and (response.usage.input_tokens, response.usage.output_tokens) == (5, 8)
    assert int(raw.headers["x-routstr-cost-msats"]) == cost(5, 8)
    assert key_state(node, key) == {"balance_msat": 100_000 - cost(5, 8), "reserved_msat": 0}


def test_input_items_with_instructions_and_max_output_tokens(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    response = client(node, key).responses.create(
        model="standin-small",
        instructions=INSTRUCTIONS,
        input=[{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}],
        max_output_tokens=3,
    )

    assert (response.status, response.output_text) == ("incomplete", "hi hi hi ")
    assert key_state(node, key) == {"balance_msat": 100_000 - cost(7, 3), "reserved_msat": 0}


def test_stream_is_charged_the_usage_of_response_completed(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    events = list(client(node, key).responses.create(model="standin-small", input=PROMPT, stream=True))

    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "hi " * 8
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    usage = events[-1].response.usage
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (5, 8)
    assert wait_settled(node, key) == {"balance_msat": 100_000 - cost(5, 8), "reserved_msat": 0}


def test_stream_cut_short_by_max_output_tokens_is_charged_the_usage_of_response_incomplete(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    events = list(
        client(node, key).responses.create(model="standin-small", input=PROMPT, stream=True, max_output_tokens=3)
    )

    assert events[-1].type == "response.incomplete"
    assert wait_settled(node, key) == {"balance_msat": 100_000 - cost(5, 3), "reserved_msat": 0}


def test_stream_without_usage_is_charged_for_the_text_it_produced(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    events = list(
        client(node, key).responses.create(
            model="standin-small", input=PROMPT, stream=True, extra_body={"standin": {"usage": False, "chunks": 6}}
        )
    )

    assert events[-1].response.usage is None  # type: ignore[union-attr]
    # 6 deltas of "hi ": max(6 events, ceil(18 / 4)) output tokens; the node's estimate of the input, ceil(17 / 4)
    assert wait_settled(node, key) == {"balance_msat": 100_000 - cost(5, 6), "reserved_msat": 0}


def test_stream_abandoned_half_way_is_charged_for_the_part_produced(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    body = {"model": "standin-small", "input": PROMPT, "stream": True, "max_output_tokens": 200}
    body["standin"] = {"chunks": 200, "delay_ms": 20}
    received = 0
    with httpx.stream(
        "POST", node.url + "/responses", json=body, headers={"authorization": f"Bearer {key}"}, timeout=10
    ) as response:
        assert int(response.headers["x-routstr-reserved-msats"]) >= cost(5, 200)
        for line in response.iter_lines():
            received += line == "event: response.output_text.delta"
            if received == 5:
                break

    state = wait_settled(node, key)
    charged = 100_000 - state["balance_msat"]
    produced_tokens = (charged - 5) // 2
    assert state["reserved_msat"] == 0
    assert 5 <= produced_tokens < 50, charged
    assert charged == cost(5, produced_tokens)


def test_the_path_without_v1_is_served_too(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    reply = httpx.post(
        node.root + "/responses",
        json={"model": "standin-small", "input": "abcd", "max_output_tokens": 2},
        headers={"authorization": f"Bearer {key}"},
        timeout=20,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["output"][0]["content"][0]["text"] == "hi hi "
    assert key_state(node, key)["balance_msat"] == 100_000 - cost(1, 2)


@pytest.mark.parametrize("bad", ["10", -1, 2.5, True, {"n": 1}, 32_769])
def test_a_bad_max_output_tokens_is_refused_before_anything_is_reserved(node: RunningNode, bad: object) -> None:
    key = create_key(node, 100_000)
    rows = ledger_rows(node, key)

    with pytest.raises(openai.BadRequestError) as refused:
        client(node, key).responses.create(model="standin-small", input=PROMPT, max_output_tokens=bad)  # type: ignore[call-overload]

    assert refused.value.param == "max_output_tokens"
    assert key_state(node, key) == {"balance_msat": 100_000, "reserved_msat": 0}
    assert ledger_rows(node, key) == rows


def test_x_cashu_pays_one_response_and_the_change_comes_back(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(5))
    sdk = client(node, "unused", default_headers={"X-Cashu": token})

    raw = sdk.responses.with_raw_response.create(model="standin-small", input=PROMPT, max_output_tokens=8)

    assert raw.parse().output_text == "hi " * 8
    assert int(raw.headers["x-routstr-cost-msats"]) == cost(5, 8)
    assert decode_token(raw.headers["x-cashu"]).amount == (5_000 - cost(5, 8)) // 1000
    report = books(node)
    assert report.reconciles and report.liabilities_msat == 5_000 - cost(5, 8) - 4_000


def test_the_route_is_in_the_openapi_document(node: RunningNode) -> None:
    document = httpx.get(node.root + "/openapi.json", timeout=20).json()
    operation = document["paths"]["/v1/responses"]["post"]
    assert {"bearer", "xcashu"} == {name for option in operation["security"] for name in option}
    assert "text/event-stream" in operation["responses"]["200"]["content"]


def test_continuing_a_stored_response_reserves_the_context_window_it_may_fill(node: RunningNode) -> None:
    poor, rich = create_key(node, 10_000), create_key(node, 100_000)
    body: dict[str, Any] = {"model": "standin-small", "input": PROMPT, "max_output_tokens": 8}
    body["previous_response_id"] = "resp_earlier"  # the upstream prepends turns the node never sees

    with pytest.raises(openai.APIStatusError) as short:
        client(node, poor).responses.create(**body)
    raw = client(node, rich).responses.with_raw_response.create(**body)

    assert short.value.status_code == 402  # standin-small's window: 32,768 - 8 prompt tokens may be billed
    assert key_state(node, poor) == {"balance_msat": 10_000, "reserved_msat": 0}
    assert int(raw.headers["x-routstr-cost-msats"]) == cost(5, 8)  # charged what the upstream reported
    assert key_state(node, rich) == {"balance_msat": 100_000 - cost(5, 8), "reserved_msat": 0}


def test_background_responses_are_refused_before_anything_is_reserved(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    rows = ledger_rows(node, key)
    with pytest.raises(openai.BadRequestError) as refused:
        client(node, key).responses.create(model="standin-small", input=PROMPT, background=True)
    assert refused.value.param == "background"
    assert ledger_rows(node, key) == rows and key_state(node, key) == {"balance_msat": 100_000, "reserved_msat": 0}
