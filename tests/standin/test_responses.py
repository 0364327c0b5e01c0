"""The stand-in's /v1/responses, seen by the OpenAI SDK (which must parse it as a real upstream's) and on the wire
(typed events, one HTTP chunk each, no [DONE]); the fault switches apply as on chat."""

import math
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.standin.raw_http import exchange, parse_chunked, post_request

CONTENT = "Say hello to the benchmark"


@pytest.fixture
def client(standin_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=standin_url, api_key="sk-standin", max_retries=0, timeout=5.0) as sdk:
        yield sdk


def tokens(*texts: str) -> int:
    return math.ceil(sum(map(len, texts)) / 4)


def test_a_response_with_usage(client: openai.OpenAI) -> None:
    response = client.responses.create(model="standin-small", input=CONTENT)
    assert (response.object, response.status, response.output_text) == ("response", "completed", "hi " * 8)
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (tokens(CONTENT), 8)
    assert response.usage.total_tokens == tokens(CONTENT) + 8


def test_input_items_and_instructions_count_as_input(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="standin-small",
        instructions="be brief",
        input=[
            {"role": "developer", "content": "abcd"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": CONTENT}]},
        ],
    )
    assert response.usage is not None and response.usage.input_tokens == tokens("be brief", "abcd", CONTENT)


def test_max_output_tokens_leaves_the_response_incomplete(client: openai.OpenAI) -> None:
    response = client.responses.create(model="standin-small", input=CONTENT, max_output_tokens=3)
    assert (response.status, response.output_text) == ("incomplete", "hi hi hi ")
    assert response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is not None and response.usage.output_tokens == 3


def test_a_stream_of_typed_events_ends_with_the_usage(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="standin-small", input=CONTENT, stream=True))
    assert [e.type for e in events[:4]] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert [e.type for e in events[-4:]] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "hi " * 8
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output_text == "hi " * 8 and final.usage is not None and final.usage.output_tokens == 8


def test_usage_off_leaves_the_usage_null(client: openai.OpenAI) -> None:
    response = client.responses.create(model="standin-small", input=CONTENT, extra_body={"standin": {"usage": False}})
    assert response.usage is None
    events = list(
        client.responses.create(
            model="standin-small", input=CONTENT, stream=True, extra_body={"standin": {"usage": False, "chunks": 2}}
        )
    )
    assert events[-1].type == "response.completed" and events[-1].response.usage is None


def test_injected_statuses_and_bad_input_are_openai_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="standin-small", input=CONTENT, extra_body={"standin": {"status": 429}})
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="standin-small", input=[])
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="standin-small", input=CONTENT, max_output_tokens=-1)


def stream_on_the_wire(standin_url: str, **fields: Any) -> tuple[list[bytes], bool]:
    body = {"model": "standin-small", "input": CONTENT, "stream": True, **fields}
    raw = parse_chunked(exchange(standin_url, post_request("/v1/responses", body)))
    assert b"content-type: text/event-stream" in raw.head.lower()
    return raw.chunks, raw.terminated


def test_each_event_is_one_chunk_named_by_its_type_without_done(standin_url: str) -> None:
    chunks, terminated = stream_on_the_wire(standin_url, standin={"chunks": 2})
    assert terminated and len(chunks) == 4 + 2 + 4
    assert chunks[4].startswith(b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta"')
    assert all(chunk.endswith(b"\n\n") and b"[DONE]" not in chunk for chunk in chunks)


def test_drop_after_closes_after_that_many_deltas(standin_url: str) -> None:
    chunks, terminated = stream_on_the_wire(standin_url, standin={"drop_after": 2})
    assert not terminated and len(chunks) == 4 + 2


def test_lying_usage_and_unplayed_hostile_cases(client: openai.OpenAI) -> None:
    huge = client.responses.create(
        model="standin-small", input=CONTENT, extra_body={"standin": {"hostile": "huge_usage"}}
    )
    assert huge.usage is not None and (huge.usage.input_tokens, huge.usage.output_tokens) == (5, 50_000_000)
    with pytest.raises(openai.BadRequestError, match="not played"):
        client.responses.create(model="standin-small", input=CONTENT, extra_body={"standin": {"hostile": "html_404"}})
