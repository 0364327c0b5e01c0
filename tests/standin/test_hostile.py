"""The stand-in's hostile cases on the wire: real HTTP framing, OpenAI's shapes, lying content."""

import socket

import httpx
import orjson

from standin.hostile import LEAKED_KEY, OVERFLOW_TOKENS
from tests.standin.raw_http import address, exchange, parse_chunked, post_request

MESSAGES = [{"role": "user", "content": "hello there"}]


def chat_body(case: str, **fields: object) -> dict[str, object]:
    return {"model": "standin-small", "messages": MESSAGES, "standin": {"hostile": case, "chunks": 3}, **fields}


def test_lying_usage_is_sent_in_the_ordinary_shape(standin_url: str) -> None:
    negative = httpx.post(f"{standin_url}/chat/completions", json=chat_body("negative_usage")).json()
    overflow = httpx.post(f"{standin_url}/chat/completions", json=chat_body("overflow_usage")).json()
    assert negative["usage"]["completion_tokens"] == -1000 and negative["choices"][0]["message"]["content"] == "hi " * 3
    assert overflow["usage"]["prompt_tokens"] == OVERFLOW_TOKENS


def test_json_for_stream_and_stream_for_json_swap_the_content_type(standin_url: str) -> None:
    as_json = httpx.post(f"{standin_url}/chat/completions", json=chat_body("json_for_stream", stream=True))
    as_stream = httpx.post(f"{standin_url}/chat/completions", json=chat_body("stream_for_json"))
    assert as_json.headers["content-type"] == "application/json" and as_json.json()["object"] == "chat.completion"
    assert as_stream.headers["content-type"].startswith("text/event-stream")
    assert as_stream.text.endswith("data: [DONE]\n\n")


def test_unterminated_event_ends_the_stream_without_its_blank_line(standin_url: str) -> None:
    raw = exchange(standin_url, post_request("/v1/chat/completions", chat_body("unterminated_event", stream=True)))
    body = parse_chunked(raw)
    assert body.terminated
    assert not body.chunks[-1].endswith(b"\n") and b"[DONE]" not in b"".join(body.chunks)
    last = orjson.loads(body.chunks[-1].removeprefix(b"data: "))
    assert last["choices"][0]["delta"]["content"] == "hi " * 3 and last["usage"]["completion_tokens"] == 3


def test_endless_stream_keeps_going_past_max_tokens(standin_url: str) -> None:
    request = post_request("/v1/chat/completions", chat_body("endless_stream", stream=True, max_tokens=1))
    with socket.create_connection(address(standin_url), timeout=3) as sock:
        sock.sendall(request)
        received = b""
        while received.count(b'"content":"hi "') < 1000:
            received += sock.recv(65536)
    assert b"text/event-stream" in received.partition(b"\r\n\r\n")[0]


def test_endless_json_is_a_chunked_json_body_that_never_closes_its_text(standin_url: str) -> None:
    request = post_request("/v1/chat/completions", chat_body("endless_json", max_tokens=1))
    with socket.create_connection(address(standin_url), timeout=3) as sock:
        sock.sendall(request)
        received = b""
        while received.count(b"hi ") < 1000:
            received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head and b"transfer-encoding: chunked" in head
    assert b'"message":{"role":"assistant","content":"' in body


def test_error_cases_speak_real_http(standin_url: str) -> None:
    crashed = httpx.post(f"{standin_url}/chat/completions", json=chat_body("traceback_500"))
    html = httpx.post(f"{standin_url}/chat/completions", json=chat_body("html_404"))
    moved = httpx.post(f"{standin_url}/chat/completions", json=chat_body("redirect_307"))
    followed = httpx.post(standin_url.removesuffix("/v1") + moved.headers["location"], json=chat_body("redirect_307"))

    assert crashed.status_code == 500 and LEAKED_KEY in crashed.json()["error"]["message"]
    assert html.status_code == 404 and html.headers["content-type"].startswith("text/html")
    assert moved.status_code == 307 and moved.headers["location"] == "/followed/v1/chat/completions"
    assert followed.status_code == 200 and followed.json()["choices"][0]["message"]["content"] == "hi " * 8


def test_garbage_model_list_keeps_good_entries_among_bad(standin_url: str) -> None:
    garbage = httpx.get(standin_url.replace("/v1", "/garbage/v1") + "/models").json()["data"]
    ids = [entry.get("id") if isinstance(entry, dict) else entry for entry in garbage]
    assert {"standin-small", "standin-embed", "bad-created", 12345, None} <= set(ids)
