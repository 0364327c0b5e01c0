"""The stand-in as a broken or malicious upstream (`"standin": {"hostile": CASE}`). Every case speaks real HTTP/1.1
and OpenAI's real wire format; only what it says is wrong.

Two path prefixes serve the same endpoints otherwise: `/garbage/v1` lists a model list full of bad entries around
good ones, and `/followed/v1` is where `redirect_307` points (it answers normally, so a client that follows the
redirect visibly succeeds)."""

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson

from standin import generation as gen
from standin import openai_shapes as shapes
from standin.replies import EndlessStream, JsonReply, Reply, StreamReply, json_reply, sse_event
from standin.switches import Switches

GARBAGE_PREFIX = "/garbage"
FOLLOWED_PREFIX = "/followed"

# What the 500 and the HTML page leak, so tests can prove none of it reaches a client.
LEAKED_KEY = "sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"
LEAKED_PATH = "/srv/llm/app/server.py"
LEAKED_PASSWORD = "hunter2"
OVERFLOW_TOKENS = 2**63

Case = Callable[[dict[str, Any], Switches, gen.Generation, bool], Reply]

# The usage each lying case reports: (prompt tokens, completion tokens).
LYING_USAGE = {
    "negative_usage": (-5, -1000),
    "huge_usage": (5, 50_000_000),
    "overflow_usage": (OVERFLOW_TOKENS, 2**64 - 1),
}


def hostile_reply(case: str, body: dict[str, Any], switches: Switches, generation: gen.Generation, chat: bool) -> Reply:
    return _CASES[case](body, switches, generation, chat)


def _lying_usage(prompt_tokens: int, completion_tokens: int) -> Case:
    def reply(body: dict[str, Any], switches: Switches, generation: gen.Generation, chat: bool) -> Reply:
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": 0}
        return gen.deliver(body, switches, replace(generation, usage=usage), chat)

    return reply


def _json_for_stream(body: dict[str, Any], switches: Switches, generation: gen.Generation, chat: bool) -> Reply:
    return json_reply(200, gen.chat_object(generation) if chat else gen.text_object(generation))


def _stream_for_json(body: dict[str, Any], switches: Switches, generation: gen.Generation, chat: bool) -> Reply:
    with_usage = replace(generation, usage_in_stream=generation.usage is not None)
    events, _ = gen.chat_events(with_usage) if chat else gen.text_events(with_usage)
    return StreamReply(events)


def _unterminated_event(body: dict[str, Any], switches: Switches, generation: gen.Generation, chat: bool) -> Reply:
    """One event holds the whole completion (and the usage), and the stream ends right after it: no blank line."""
    completion_id = shapes.next_id("chatcmpl" if chat else "cmpl")
    if chat:
        first = sse_event(
            shapes.chat_chunk(completion_id, generation.model, {"role": "assistant", "content": ""}, None)
        )
        last = shapes.chat_chunk(
            completion_id, generation.model, {"content": generation.text}, generation.finish_reason
        )
    else:
        first = b""
        last = shapes.text_completion(generation.model, generation.text, generation.finish_reason, None, completion_id)
    if generation.usage is not None:
        last["usage"] = generation.usage
    return StreamReply([event for event in (first, b"data: " + orjson.dumps(last)) if event])


def _endless_stream(body: dict[str, Any], switches: Switches, generation: gen.Generation, chat: bool) -> Reply:
    completion_id = shapes.next_id("chatcmpl" if chat else "cmpl")
    chunk: dict[str, Any]
    if chat:
        chunk = shapes.chat_chunk(completion_id, generation.model, {"content": shapes.TOKEN}, None)
    else:
        chunk = shapes.text_completion(generation.model, shapes.TOKEN, None, None, completion_id)
    return EndlessStream(sse_event(chunk))


def _endless_json(body: dict[str, Any], switches: Switches, generation: gen.Generation, chat: bool) -> Reply:
    """A JSON completion whose text never ends."""
    one_token = replace(generation, tokens=1)
    opening = gen.chat_object(one_token) if chat else gen.text_object(one_token)
    head = orjson.dumps(opening).partition(shapes.TOKEN.encode())[0]
    return EndlessStream(shapes.TOKEN.encode(), first=head, content_type=b"application/json")


def _traceback_500(body: dict[str, Any], switches: Switches, generation: gen.Generation, chat: bool) -> Reply:
    message = (
        "Internal error: Traceback (most recent call last):\n"
        f'  File "{LEAKED_PATH}", line 42, in handle\n'
        f'    client = Client(api_key="{LEAKED_KEY}")\n'
        f"KeyError: 'Authorization: Bearer {LEAKED_KEY}'"
    )
    debug = {"env": {"OPENAI_API_KEY": LEAKED_KEY, "DATABASE_URL": f"postgres://admin:{LEAKED_PASSWORD}@10.0.0.5/prod"}}
    error = {"message": message, "type": "server_error", "param": None, "code": None}
    return json_reply(500, {"error": error, "debug": debug})


def _html_404(body: dict[str, Any], switches: Switches, generation: gen.Generation, chat: bool) -> Reply:
    page = (
        "<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center>"
        f"<hr><center>nginx/1.25.3</center><!-- upstream {LEAKED_PATH} key {LEAKED_KEY} --></body></html>"
    )
    return JsonReply(404, page.encode(), content_type=b"text/html; charset=utf-8")


def _redirect_307(body: dict[str, Any], switches: Switches, generation: gen.Generation, chat: bool) -> Reply:
    path = "/chat/completions" if chat else "/completions"
    location = f"{FOLLOWED_PREFIX}/v1{path}".encode()
    return JsonReply(307, b"", content_type=b"text/plain", headers=((b"location", location),))


_CASES: dict[str, Case] = {
    **{case: _lying_usage(*usage) for case, usage in LYING_USAGE.items()},
    "json_for_stream": _json_for_stream,
    "stream_for_json": _stream_for_json,
    "unterminated_event": _unterminated_event,
    "endless_stream": _endless_stream,
    "endless_json": _endless_json,
    "traceback_500": _traceback_500,
    "html_404": _html_404,
    "redirect_307": _redirect_307,
}


def garbage_model_list() -> bytes:
    """Good entries among bad ones, as raw JSON (a float-sized integer cannot be written by orjson)."""
    good = [shapes.model_object(model_id) for model_id in shapes.MODEL_IDS]
    bad: list[object] = [
        {"id": "bad-created", "object": "model", "created": "x", "owned_by": "evil"},
        {"id": 12345, "object": "model", "created": 1, "owned_by": "evil"},
        "not an object",
        None,
        {"id": "", "created": 1},
        {"id": "bad-context", "created": 1, "context_length": -5},
        {"id": "bool-created", "created": True},
        {"id": "x" * 10_000, "created": 1},
        {"id": "bad-owner", "created": 1, "owned_by": {"name": "evil"}},
    ]
    data = orjson.dumps(good[:1] + bad + good[1:])
    overflowing = b'{"id": "float-created", "created": 18446744073709551616}'
    return b'{"object": "list", "data": [' + data[1:-1] + b", " + overflowing + b"]}"
