"""The Responses API as the node meters it: the reservation from `instructions`, `input` and `max_output_tokens`,
the usage from `response.completed` (or `.incomplete`/`.failed`), the text from `*.delta` events only, on events
shaped as OpenAI sends them (typed `event:` lines, `sequence_number`, `obfuscation`, the response repeated at the
end)."""

import asyncio
from typing import Any

import orjson
import pytest

from app.api.errors import error_body, shown_as
from app.errors import BadRequest
from app.pricing.prices import Usage
from app.proxy.calls import Endpoint, LlmCall, parse_call
from app.proxy.metering import SseMeter, meter_json_reply


def _metered(meter: SseMeter) -> Usage | None:
    metered = asyncio.run(meter.metered())
    return None if metered is None else metered.usage


def _json_usage(call: LlmCall, body: bytes) -> Usage:
    return asyncio.run(meter_json_reply(call, body)).usage


PROMPT = "abcdefgh"  # 8 characters: the node estimates 2 input tokens
# No OpenAI tokenizer fits this model, so what the upstream does not report is counted at four characters a token.
MODEL = "standin-small"


def _call(max_output_tokens: int | None = None, **extra: Any) -> LlmCall:
    body = {"model": MODEL, "input": PROMPT, "stream": True, **extra}
    if max_output_tokens is not None:
        body["max_output_tokens"] = max_output_tokens
    return parse_call(Endpoint.RESPONSES, orjson.dumps(body)).bounded(None, 1000)


def _event(payload: dict[str, Any]) -> bytes:
    kind: str = payload["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def _response(status: str, text: str, usage: dict[str, Any] | None) -> dict[str, Any]:
    output = [] if status == "in_progress" else [_message(text)]
    return {
        "id": "resp_68c1f0d2a7f4819",
        "object": "response",
        "created_at": 1757540562,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": "gpt-4.1-mini-2025-04-14",
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "metadata": {},
    }


def _message(text: str) -> dict[str, Any]:
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
    return {"id": "msg_68c1f0d3", "type": "message", "status": "completed", "content": [part], "role": "assistant"}


def _usage(input_tokens: Any, output_tokens: Any) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 19,
    }


def _stream(deltas: list[str], usage: dict[str, Any] | None, final: str = "response.completed") -> bytes:
    """The events of one text message, as OpenAI streams it."""
    text = "".join(deltas)
    at = {"item_id": "msg_68c1f0d3", "output_index": 0, "content_index": 0}
    payloads: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response("in_progress", "", None)},
        {"type": "response.in_progress", "response": _response("in_progress", "", None)},
        {"type": "response.output_item.added", "output_index": 0, "item": {**_message(""), "content": []}},
        {"type": "response.content_part.added", **at, "part": {"type": "output_text", "annotations": [], "text": ""}},
        *[
            {"type": "response.output_text.delta", **at, "delta": d, "logprobs": [], "obfuscation": "Zx9q"}
            for d in deltas
        ],
        {"type": "response.output_text.done", **at, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **at, "part": {"type": "output_text", "annotations": [], "text": text}},
        {"type": "response.output_item.done", "output_index": 0, "item": _message(text)},
        {"type": final, "response": _response(final.removeprefix("response."), text, usage)},
    ]
    return b"".join(_event({"type": p["type"], "sequence_number": n, **p}) for n, p in enumerate(payloads))


DELTAS = ["Hel", "lo", " there", "!"]  # 4 events, 12 characters
RECORDED = _stream(DELTAS, _usage(9, 4))


def _feed_in_pieces(meter: SseMeter, data: bytes, size: int) -> bytes:
    out = b"".join(meter.feed(data[i : i + size]) for i in range(0, len(data), size))
    return out + meter.flush()


def test_the_stream_passes_byte_for_byte_and_usage_comes_from_response_completed() -> None:
    for size in (1, 11, 256, len(RECORDED)):
        meter = SseMeter(_call())
        assert _feed_in_pieces(meter, RECORDED, size) == RECORDED
        assert _metered(meter) == Usage(prompt_tokens=9, completion_tokens=4)


@pytest.mark.parametrize("final", ["response.incomplete", "response.failed"])
def test_the_other_final_events_carry_usage_too(final: str) -> None:
    meter = SseMeter(_call())
    meter.feed(_stream(DELTAS, _usage(9, 2), final))
    assert _metered(meter) == Usage(9, 2)


def test_without_usage_only_the_deltas_are_counted_not_the_text_repeated_by_done_events() -> None:
    meter = SseMeter(_call())
    meter.feed(_stream(DELTAS, None))
    # max(4 delta events, ceil(12 / 4)) output tokens; the node's estimate of the input, ceil(8 / 4)
    assert _metered(meter) == Usage(prompt_tokens=2, completion_tokens=4)


def test_usage_on_an_event_that_does_not_end_the_response_is_not_believed() -> None:
    meter = SseMeter(_call())
    planted = {"type": "response.output_text.delta", "delta": "abcd", "usage": _usage(0, 0), "sequence_number": 4}
    meter.feed(_event(planted) + _event({"type": "response.in_progress", "response": _response("x", "", _usage(0, 0))}))
    assert _metered(meter) == Usage(prompt_tokens=2, completion_tokens=1)


@pytest.mark.parametrize(
    ("input_tokens", "output_tokens"),
    [(-1, 4), (9, -4), (True, 4), (9, 1.5), (9, "4"), (9, 10**8 + 1), (2**63, 4)],
)
def test_unbelievable_usage_is_ignored_and_the_deltas_are_counted(input_tokens: Any, output_tokens: Any) -> None:
    meter = SseMeter(_call())
    meter.feed(_stream(DELTAS, _usage(input_tokens, output_tokens)))
    assert _metered(meter) == Usage(prompt_tokens=2, completion_tokens=4)


def test_other_generated_text_is_counted_audio_is_not() -> None:
    meter = SseMeter(_call())
    for kind in ("function_call_arguments", "reasoning_summary_text", "refusal", "audio"):
        meter.feed(_event({"type": f"response.{kind}.delta", "delta": "abcd", "sequence_number": 1}))
    assert _metered(meter) == Usage(prompt_tokens=2, completion_tokens=3)


def test_nothing_produced_means_nothing_to_charge() -> None:
    meter = SseMeter(_call())
    meter.feed(_stream([], None)[: RECORDED.index(b"event: response.output_text.delta")])
    assert _metered(meter) is None


def test_a_stream_is_cut_at_the_delta_that_outgrows_twice_its_budget() -> None:
    meter = SseMeter(_call(max_output_tokens=4))
    ceiling = 4 * 2 + 16
    delta = _event({"type": "response.output_text.delta", "delta": "abcd", "sequence_number": 1})
    opening = RECORDED[: RECORDED.index(b"event: response.output_text.delta")]
    out = meter.feed(opening + delta * (ceiling + 10))
    assert out == opening + delta * ceiling and meter.over_budget
    assert meter.feed(delta) == b"" and meter.flush() == b""


def test_a_json_response_is_charged_its_usage_else_its_output_text() -> None:
    call = _call()
    assert _json_usage(call, orjson.dumps(_response("completed", "Hello!", _usage(9, 2)))) == Usage(9, 2)
    unreported = _response("completed", "Hello there!", None)
    unreported["output"].insert(0, {"type": "reasoning", "summary": [{"type": "summary_text", "text": "abcd"}]})
    unreported["output"].append({"type": "function_call", "name": "f", "arguments": '{"a":1}', "call_id": "c"})
    # 12 + 4 + 7 characters of generated text
    assert _json_usage(call, orjson.dumps(unreported)) == Usage(prompt_tokens=2, completion_tokens=6)


def test_a_json_reply_that_is_really_a_response_stream_is_metered_as_one() -> None:
    assert _json_usage(_call(), RECORDED) == Usage(9, 4)


def test_the_prompt_is_instructions_input_items_and_tools() -> None:
    items = [
        {"role": "system", "content": "abcd"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "efgh"}]},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "ijkl"},
        {"type": "function_call_output", "call_id": "c", "output": "mnop"},
        {"role": "user", "content": [{"type": "input_image", "image_url": "https://example.com/a.png"}]},
    ]
    body = {"model": "m", "instructions": "qrst", "input": items, "tools": [{"type": "function", "name": "f"}]}
    call = parse_call(Endpoint.RESPONSES, orjson.dumps(body))
    tools = len(orjson.dumps(body["tools"]))
    assert (call.prompt_chars, call.non_text_parts) == (20 + tools, 1)
    assert call.max_usage().prompt_tokens == -(-(20 + tools) // 3) + 2048


def test_the_body_goes_upstream_untouched_and_usage_is_never_hidden() -> None:
    body = orjson.dumps({"model": "m", "input": "hi", "stream": True, "stream_options": {"include_obfuscation": False}})
    call = parse_call(Endpoint.RESPONSES, body)
    assert call.forward_body == body and call.client_wants_usage and call.stream


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("10", "invalid_type"),
        (2.5, "invalid_type"),
        (True, "invalid_type"),
        (-1, "integer_below_min_value"),
        (1001, "invalid_value"),  # above the operator's limit, with no context length known
    ],
)
def test_max_output_tokens_is_checked_like_max_tokens(value: Any, code: str) -> None:
    with pytest.raises(BadRequest) as refused:
        _call(max_output_tokens=value)
    assert shown_as(refused.value).status == 400
    assert error_body(refused.value)["error"] | {"message": ""} == {
        "message": "",
        "type": "invalid_request_error",
        "code": code,
        "param": "max_output_tokens",
    }


def test_max_output_tokens_is_the_budget_or_the_room_left_in_the_context() -> None:
    assert _call(max_output_tokens=7).completion_budget == 7
    body = orjson.dumps({"model": "m", "input": PROMPT})
    assert parse_call(Endpoint.RESPONSES, body).bounded(100, 1000).completion_budget == 98


@pytest.mark.parametrize(
    "held_upstream",
    [
        {"previous_response_id": "resp_1"},
        {"conversation": "conv_1"},
        {"conversation": {"id": "c"}},
        {"prompt": {"id": "pmpt_1", "version": "2"}},  # a stored prompt template
        {"input": [{"type": "item_reference", "id": "msg_1"}, {"role": "user", "content": PROMPT}]},
    ],
)
def test_a_prompt_held_upstream_reserves_the_rest_of_the_context_window(held_upstream: dict[str, Any]) -> None:
    body = orjson.dumps({"model": "m", "input": PROMPT, "max_output_tokens": 100, **held_upstream})
    call = parse_call(Endpoint.RESPONSES, body)
    assert call.bounded(4096, 1000).max_usage() == Usage(prompt_tokens=4096 - 100, completion_tokens=100)
    # no window known: a prompt of the operator's limit, as /v1/models prices the most a request can cost
    assert call.bounded(None, 1000).max_usage() == Usage(prompt_tokens=1000, completion_tokens=100)


def test_a_visible_prompt_larger_than_the_rest_of_the_window_is_still_reserved_whole() -> None:
    body = orjson.dumps({"model": "m", "input": "x" * 3000, "max_output_tokens": 100, "previous_response_id": "r"})
    assert parse_call(Endpoint.RESPONSES, body).bounded(1000, 1000).max_usage().prompt_tokens == 1000


def test_a_null_previous_response_id_holds_nothing_upstream() -> None:
    body = orjson.dumps({"model": "m", "input": PROMPT, "max_output_tokens": 100, "previous_response_id": None})
    assert parse_call(Endpoint.RESPONSES, body).bounded(4096, 1000).max_usage() == Usage(3, 100)


def test_background_responses_are_refused_they_would_be_generated_after_the_reply_unmetered() -> None:
    with pytest.raises(BadRequest) as refused:
        _call(background=True)
    assert error_body(refused.value)["error"]["param"] == "background"
    assert _call(background=False).stream
