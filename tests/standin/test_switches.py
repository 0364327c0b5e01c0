"""Every fault switch, seen with raw httpx and raw sockets: framing, usage, delays, drops, statuses, hangs."""

import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.standin.raw_http import exchange, parse_chunked, post_request, sse_payloads

MESSAGES = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def http(standin_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=standin_url, timeout=5.0) as client:
        yield client


def chat_body(**fields: Any) -> dict[str, Any]:
    return {"model": "standin-small", "messages": MESSAGES, **fields}


def stream_over_socket(standin_url: str, **fields: Any) -> tuple[list[Any], bool]:
    raw = exchange(standin_url, post_request("/v1/chat/completions", chat_body(stream=True, **fields)))
    body = parse_chunked(raw)
    assert b"transfer-encoding: chunked" in body.head.lower()
    assert b"content-type: text/event-stream" in body.head.lower()
    return sse_payloads(body.chunks), body.terminated


def test_every_sse_event_is_its_own_http_chunk(standin_url: str) -> None:
    events, terminated = stream_over_socket(standin_url, stream_options={"include_usage": True}, standin={"chunks": 3})
    assert terminated
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [event["choices"][0]["delta"] for event in events[1:4]] == [{"content": "hi "}] * 3
    assert events[4]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert events[5]["choices"] == [] and events[5]["usage"]["completion_tokens"] == 3
    assert events[6] == "[DONE]"


def test_usage_off_removes_usage_from_json_replies(http: httpx.Client) -> None:
    reply = http.post("/chat/completions", json=chat_body(standin={"usage": False}))
    assert reply.status_code == 200
    assert "usage" not in reply.json()
    assert reply.json()["choices"][0]["message"]["content"] == "hi " * 8


def test_usage_off_removes_usage_from_streams_even_when_asked(standin_url: str) -> None:
    events, terminated = stream_over_socket(
        standin_url, stream_options={"include_usage": True}, standin={"usage": False, "chunks": 2}
    )
    assert terminated
    assert events[-1] == "[DONE]"
    assert all("usage" not in event for event in events[:-1])
    assert len(events) == 1 + 2 + 1 + 1


def test_delay_holds_a_json_reply(http: httpx.Client) -> None:
    started = time.monotonic()
    reply = http.post("/chat/completions", json=chat_body(standin={"delay_ms": 150}))
    assert reply.status_code == 200
    assert time.monotonic() - started >= 0.15


@pytest.mark.parametrize("include_usage", [False, True])
def test_delay_spaces_stream_chunks_and_the_trailing_events_follow_the_finish_at_once(
    http: httpx.Client, include_usage: bool
) -> None:
    arrivals: list[float] = []
    body = chat_body(stream=True, standin={"chunks": 3, "delay_ms": 200})
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    with http.stream("POST", "/chat/completions", json=body) as reply:
        for line in reply.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic())
    paced = 1 + 3 + 1  # role, tokens, finish
    assert len(arrivals) == paced + include_usage + 1
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    # 200 ms apart at the stand-in; a busy machine may stamp one arrival late, which shortens the next gap
    assert min(gaps[: paced - 1]) >= 0.12
    assert max(gaps[paced - 1 :]) < 0.08  # as OpenAI: usage chunk and [DONE] come with the finish chunk


def test_drop_after_closes_mid_stream_without_terminating_chunk(standin_url: str) -> None:
    events, terminated = stream_over_socket(standin_url, standin={"chunks": 8, "drop_after": 2})
    assert not terminated
    assert len(events) == 1 + 2
    assert "[DONE]" not in events


def test_drop_after_is_a_protocol_error_for_an_http_client(http: httpx.Client) -> None:
    received: list[str] = []
    body = chat_body(stream=True, standin={"drop_after": 1})
    with pytest.raises(httpx.RemoteProtocolError), http.stream("POST", "/chat/completions", json=body) as reply:
        received.extend(reply.iter_lines())
    assert not any("[DONE]" in line for line in received)


def test_drop_after_on_a_json_request_closes_without_an_answer(standin_url: str) -> None:
    raw = exchange(standin_url, post_request("/v1/chat/completions", chat_body(standin={"drop_after": 0})))
    assert raw == b""


@pytest.mark.parametrize("status", [400, 429, 500, 503])
def test_status_answers_an_openai_error(http: httpx.Client, status: int) -> None:
    reply = http.post("/chat/completions", json=chat_body(standin={"status": status}))
    assert reply.status_code == status
    error = reply.json()["error"]
    assert set(error) >= {"message", "type", "code"}


def test_status_applies_to_streams_and_embeddings(http: httpx.Client) -> None:
    stream = http.post("/chat/completions", json=chat_body(stream=True, standin={"status": 502}))
    embedding = http.post("/embeddings", json={"model": "e", "input": "x", "standin": {"status": 500}})
    assert (stream.status_code, embedding.status_code) == (502, 500)
    assert stream.headers["content-type"] == "application/json"


def test_hang_reads_the_request_and_never_answers(http: httpx.Client) -> None:
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        http.post("/chat/completions", json=chat_body(standin={"hang": True}), timeout=0.3)
    assert time.monotonic() - started < 2


def test_hang_on_one_connection_does_not_block_others(http: httpx.Client, standin_url: str) -> None:
    with httpx.Client(base_url=standin_url, timeout=0.2) as hung, pytest.raises(httpx.ReadTimeout):
        hung.post("/chat/completions", json=chat_body(standin={"hang": True}))
    assert http.post("/chat/completions", json=chat_body()).status_code == 200


@pytest.mark.parametrize(
    "switches",
    [{"chunks": -1}, {"delay_ms": "5"}, {"usage": "no"}, {"status": 200}, {"hang": 1}, "loud"],
)
def test_invalid_switches_are_a_400(http: httpx.Client, switches: object) -> None:
    reply = http.post("/chat/completions", json=chat_body(standin=switches))
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"


def test_max_tokens_above_chunks_is_a_normal_stop(http: httpx.Client) -> None:
    reply = http.post("/completions", json={"model": "m", "prompt": "p", "max_tokens": 50})
    assert reply.json()["choices"][0]["finish_reason"] == "stop"
    assert orjson.loads(reply.content)["usage"]["completion_tokens"] == 8
