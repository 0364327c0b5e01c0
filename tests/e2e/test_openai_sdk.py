"""The node as any OpenAI SDK user meets it: real uvicorn, real stand-in upstream, both databases."""

import asyncio
import math

import httpx
import openai
import pytest
from openai import OpenAI

from tests.fixtures.node import NodeFactory, RunningNode, create_key, key_state, wait_settled
from tests.fixtures.node import standin_small_msat as cost
from tests.fixtures.sdk import openai_client

PROMPT = "hello there, node"  # 17 chars: the stand-in counts ceil(17 / 4) = 5 prompt tokens


def client(node: RunningNode, key: str, **kwargs: object) -> OpenAI:
    return openai_client(node.url, key, timeout=20, **kwargs)


def chat(**extra: object) -> dict[str, object]:
    return {"model": "standin-small", "messages": [{"role": "user", "content": PROMPT}], **extra}


def test_models_list_carries_prices_in_usd_and_sats(node: RunningNode) -> None:
    models = {m.id: m for m in client(node, "unused").models.list()}

    assert set(models) == {"standin-small", "standin-embed"}  # standin-large is unpriced and refused
    small = models["standin-small"].model_dump()
    assert small["sats_pricing"]["prompt"] == pytest.approx(0.001)
    assert small["sats_pricing"]["completion"] == pytest.approx(0.002)
    assert small["pricing"]["completion"] > 0


def test_json_chat_is_charged_its_reported_cost(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    raw = client(node, key).chat.completions.with_raw_response.create(**chat())  # type: ignore[call-overload]
    completion = raw.parse()

    assert completion.choices[0].message.content == "hi " * 8
    charged = int(raw.headers["x-routstr-cost-msats"])
    assert charged == cost(5, 8)
    assert int(raw.headers["x-routstr-input-cost-msats"]) + int(raw.headers["x-routstr-output-cost-msats"]) == charged
    assert raw.headers["x-routstr-request-id"]
    assert key_state(node, key) == {"balance_msat": 100_000 - charged, "reserved_msat": 0}


def test_balance_after_many_requests_is_start_minus_reported_costs(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    sdk = client(node, key)
    costs = []
    for n in (1, 3, 8):
        raw = sdk.chat.completions.with_raw_response.create(**chat(max_tokens=n))  # type: ignore[call-overload]
        costs.append(int(raw.headers["x-routstr-cost-msats"]))
    assert costs == [cost(5, 1), cost(5, 3), cost(5, 8)]
    assert key_state(node, key)["balance_msat"] == 100_000 - sum(costs)


def test_stream_without_usage_requested_hides_usage_but_charges_it(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    chunks = list(client(node, key).chat.completions.create(**chat(stream=True)))  # type: ignore[call-overload]

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hi " * 8
    assert all(c.usage is None for c in chunks)
    assert wait_settled(node, key) == {"balance_msat": 100_000 - cost(5, 8), "reserved_msat": 0}


def test_stream_with_usage_requested_passes_the_usage_chunk(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    stream = client(node, key).chat.completions.create(  # type: ignore[call-overload]
        **chat(stream=True, stream_options={"include_usage": True})
    )
    chunks = list(stream)

    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (5, 8)
    assert wait_settled(node, key)["balance_msat"] == 100_000 - cost(5, 8)


def test_stream_without_upstream_usage_is_charged_for_what_was_produced(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    stream = client(node, key).chat.completions.create(  # type: ignore[call-overload]
        **chat(stream=True, stream_options={"include_usage": True}), extra_body={"standin": {"usage": False}}
    )
    chunks = list(stream)

    assert all(c.usage is None for c in chunks)
    assert wait_settled(node, key)["balance_msat"] == 100_000 - cost(5, 8)


def test_stream_abandoned_half_way_is_charged_for_the_part_produced(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    body = chat(stream=True, max_tokens=200, standin={"chunks": 200, "delay_ms": 20})
    received = 0
    with httpx.stream(
        "POST", node.url + "/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=10
    ) as response:
        for line in response.iter_lines():
            if '"content":"hi "' in line:
                received += 1
            if received == 5:
                break

    state = wait_settled(node, key)
    charged = 100_000 - state["balance_msat"]
    produced_tokens = (charged - 5) // 2
    assert state["reserved_msat"] == 0
    assert 5 <= produced_tokens < 50, charged  # what the upstream produced before the node hung up, not 200
    assert charged == cost(5, produced_tokens)


def test_embeddings_are_charged_for_their_input(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    raw = client(node, key).embeddings.with_raw_response.create(model="standin-embed", input=["abcdefgh", "abcd"])
    result = raw.parse()

    assert len(result.data) == 2 and len(result.data[0].embedding) == 8
    assert int(raw.headers["x-routstr-cost-msats"]) == 3  # ceil(8/4) + ceil(4/4) prompt tokens at 1 msat
    assert key_state(node, key)["balance_msat"] == 100_000 - 3


def test_legacy_completions_work_without_the_v1_prefix(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    response = httpx.post(
        node.root + "/completions",
        json={"model": "standin-small", "prompt": "abcd", "max_tokens": 2},
        headers={"authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["text"] == "hi hi "
    assert key_state(node, key)["balance_msat"] == 100_000 - cost(1, 2)


def test_sdk_raises_typed_errors(node: RunningNode) -> None:
    poor = create_key(node, 10)
    rich = create_key(node, 100_000)

    with pytest.raises(openai.AuthenticationError):
        client(node, "sk-unknown").chat.completions.create(**chat())  # type: ignore[call-overload]
    with pytest.raises(openai.APIStatusError) as short:
        client(node, poor).chat.completions.create(**chat())  # type: ignore[call-overload]
    with pytest.raises(openai.NotFoundError):
        client(node, rich).chat.completions.create(**chat(model="no-such-model"))  # type: ignore[call-overload]

    assert short.value.status_code == 402
    assert "available" in short.value.message
    assert key_state(node, poor) == {"balance_msat": 10, "reserved_msat": 0}
    assert key_state(node, rich) == {"balance_msat": 100_000, "reserved_msat": 0}


def test_bad_bodies_get_openai_errors_and_change_nothing(node_factory: NodeFactory) -> None:
    node = node_factory(max_request_bytes=1024)
    key = create_key(node, 100_000)
    auth = {"authorization": f"Bearer {key}"}

    malformed = httpx.post(node.url + "/chat/completions", content=b"{not json", headers=auth)
    no_model = httpx.post(node.url + "/chat/completions", json={"messages": []}, headers=auth)
    too_big = httpx.post(node.url + "/chat/completions", json=chat(pad="x" * 2000), headers=auth)
    no_auth = httpx.post(node.url + "/chat/completions", json=chat())

    assert (malformed.status_code, malformed.json()["error"]["type"]) == (400, "invalid_request_error")
    assert no_model.status_code == 400 and "model" in no_model.json()["error"]["message"]
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "request_too_large"
    assert no_auth.status_code == 401 and no_auth.json()["error"]["code"] == "invalid_api_key"
    assert key_state(node, key) == {"balance_msat": 100_000, "reserved_msat": 0}


def test_upstream_4xx_passes_through_with_its_body_and_costs_nothing(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    with pytest.raises(openai.RateLimitError) as limited:
        client(node, key).chat.completions.create(**chat(), extra_body={"standin": {"status": 429}})  # type: ignore[call-overload]
    assert limited.value.status_code == 429
    assert key_state(node, key) == {"balance_msat": 100_000, "reserved_msat": 0}


def test_upstream_5xx_is_a_502_and_costs_nothing(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    with pytest.raises(openai.InternalServerError) as failed:
        client(node, key).chat.completions.create(**chat(), extra_body={"standin": {"status": 500}})  # type: ignore[call-overload]
    assert failed.value.status_code == 502
    assert key_state(node, key) == {"balance_msat": 100_000, "reserved_msat": 0}


def test_upstream_timeout_is_a_504_and_costs_nothing(node_factory: NodeFactory) -> None:
    node = node_factory(upstream_read_timeout_s=0.5)
    key = create_key(node, 100_000)
    with pytest.raises(openai.APIStatusError) as timed_out:
        client(node, key).chat.completions.create(**chat(), extra_body={"standin": {"hang": True}})  # type: ignore[call-overload]
    assert timed_out.value.status_code == 504
    assert key_state(node, key) == {"balance_msat": 100_000, "reserved_msat": 0}


def test_refused_upstream_connection_is_a_502_and_costs_nothing(node_factory: NodeFactory) -> None:
    node = node_factory(upstream_base_url="http://127.0.0.1:9/v1")
    key = create_key(node, 100_000)
    with pytest.raises(openai.InternalServerError) as refused:
        client(node, key).chat.completions.create(**chat())  # type: ignore[call-overload]
    assert refused.value.status_code == 502
    assert key_state(node, key) == {"balance_msat": 100_000, "reserved_msat": 0}


def test_mid_stream_drop_gives_an_error_and_charges_what_was_delivered(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    received = []
    with pytest.raises(openai.APIError):
        stream = client(node, key).chat.completions.create(  # type: ignore[call-overload]
            **chat(stream=True), extra_body={"standin": {"drop_after": 3}}
        )
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "hi " * 3
    assert wait_settled(node, key) == {"balance_msat": 100_000 - cost(5, 3), "reserved_msat": 0}


def test_an_upstream_silent_mid_stream_past_the_read_timeout_ends_it_with_an_error(node_factory: NodeFactory) -> None:
    node = node_factory(upstream_read_timeout_s=0.5)
    key = create_key(node, 100_000)
    received = []
    with pytest.raises(openai.APIError, match=r"upstream_timeout|timed out|timeout"):
        stream = client(node, key).chat.completions.create(  # type: ignore[call-overload]
            **chat(stream=True), extra_body={"standin": {"chunks": 3, "delay_ms": 1500}}
        )
        for chunk in stream:
            received.append(chunk.choices[0].delta)
    assert [delta.role for delta in received] == ["assistant"]  # the opening event, then 1.5 s of silence
    assert wait_settled(node, key) == {"balance_msat": 100_000, "reserved_msat": 0}  # no text was delivered


def test_a_stream_slower_than_the_read_timeout_per_chunk_but_never_silent_that_long_completes(
    node_factory: NodeFactory,
) -> None:
    node = node_factory(upstream_read_timeout_s=1.0)
    key = create_key(node, 100_000)
    stream = client(node, key).chat.completions.create(  # type: ignore[call-overload]
        **chat(stream=True), extra_body={"standin": {"chunks": 4, "delay_ms": 600}}
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == "hi " * 4
    assert wait_settled(node, key) == {"balance_msat": 100_000 - cost(5, 4), "reserved_msat": 0}


async def test_64_concurrent_requests_on_a_key_funded_for_10(node: RunningNode) -> None:
    reservation = math.ceil(len(b"ping") / 3) * 1 + 8 * 2  # prompt bytes/3 tokens + max_tokens, at TEST_PRICES
    key = await asyncio.to_thread(create_key, node, 10 * reservation)
    body = {
        "model": "standin-small",
        "messages": [{"role": "user", "content": "ping"}],
        "max_tokens": 8,
        "standin": {"delay_ms": 400},
    }
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(limits=limits, timeout=30, headers={"authorization": f"Bearer {key}"}) as http:
        responses = await asyncio.gather(*(http.post(node.url + "/chat/completions", json=body) for _ in range(64)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 10 and statuses.count(402) == 54, statuses
    spent = sum(int(r.headers["x-routstr-cost-msats"]) for r in responses if r.status_code == 200)
    state = await asyncio.to_thread(key_state, node, key)
    assert state == {"balance_msat": 10 * reservation - spent, "reserved_msat": 0}
    assert state["balance_msat"] >= 0
