"""The SSE meter on byte streams cut at arbitrary places, as real upstreams deliver them."""

import asyncio

import orjson
import pytest

from app.pricing.prices import Usage
from app.proxy.calls import Endpoint, LlmCall, parse_call
from app.proxy.metering import SseMeter, meter_json_reply


def _metered(meter: SseMeter) -> Usage | None:
    metered = asyncio.run(meter.metered())
    return None if metered is None else metered.usage


def _json_usage(call: LlmCall, body: bytes) -> Usage:
    return asyncio.run(meter_json_reply(call, body)).usage


def _call(wants_usage: bool) -> SseMeter:
    body: dict[str, object] = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "abcdefgh"}]}
    if wants_usage:
        body["stream_options"] = {"include_usage": True}
    return SseMeter(parse_call(Endpoint.CHAT, orjson.dumps(body)).bounded(None, 100))


def _event(payload: object) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _chunk(text: str) -> bytes:
    return _event({"choices": [{"index": 0, "delta": {"content": text}}]})


USAGE = _event({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}})
STREAM = _chunk("") + _chunk("hel") + _chunk("lo ") + _chunk("you") + USAGE + b"data: [DONE]\n\n"


def _feed_in_pieces(meter: SseMeter, data: bytes, size: int) -> bytes:
    out = b"".join(meter.feed(data[i : i + size]) for i in range(0, len(data), size))
    return out + meter.flush()


def test_events_torn_across_reads_reach_the_client_whole_and_usage_is_read() -> None:
    for size in (1, 7, 64, len(STREAM)):
        meter = _call(wants_usage=True)
        out = _feed_in_pieces(meter, STREAM, size)
        assert out == STREAM
        assert _metered(meter) == Usage(7, 3)


def test_usage_the_client_did_not_ask_for_is_hidden_but_still_charged() -> None:
    meter = _call(wants_usage=False)
    out = _feed_in_pieces(meter, STREAM, 13)
    assert out == STREAM.replace(USAGE, b"")
    assert _metered(meter) == Usage(7, 3)


def test_without_usage_what_was_produced_is_counted() -> None:
    meter = _call(wants_usage=False)
    _feed_in_pieces(meter, STREAM.replace(USAGE, b""), 5)
    # 3 text events, 9 characters: max(3, ceil(9 / 4)) completion tokens; prompt ceil(8 / 4)
    assert _metered(meter) == Usage(prompt_tokens=2, completion_tokens=3)


def test_nothing_produced_means_nothing_to_charge() -> None:
    meter = _call(wants_usage=False)
    meter.feed(_chunk(""))
    assert _metered(meter) is None


def test_crlf_framing_is_understood_and_passed_on_unchanged() -> None:
    meter = _call(wants_usage=True)
    crlf = STREAM.replace(b"\n", b"\r\n")
    out = meter.feed(crlf)
    assert out == crlf and _metered(meter) == Usage(7, 3)


def _usage_event(prompt: object, completion: object) -> bytes:
    return _event({"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion}})


@pytest.mark.parametrize(
    ("prompt", "completion"),
    [(-1, 3), (7, -3), (True, 3), (7, 1.5), (7, "3"), (7, 10**8 + 1), (2**63, 3)],
)
def test_unbelievable_usage_is_ignored_and_what_was_produced_is_counted(prompt: object, completion: object) -> None:
    meter = _call(wants_usage=True)
    _feed_in_pieces(meter, _chunk("hel") + _chunk("lo ") + _usage_event(prompt, completion), 9)
    assert _metered(meter) == Usage(prompt_tokens=2, completion_tokens=2)


def test_the_largest_believable_usage_is_taken() -> None:
    meter = _call(wants_usage=True)
    meter.feed(_usage_event(10**8, 10**8))
    assert _metered(meter) == Usage(10**8, 10**8)


def test_a_field_the_upstream_leaves_out_is_counted_the_other_believed() -> None:
    meter = _call(wants_usage=True)
    _feed_in_pieces(meter, _chunk("hel") + _chunk("lo ") + _usage_event(None, 3), 9)
    assert _metered(meter) == Usage(prompt_tokens=2, completion_tokens=3)  # prompt: ceil(8 / 4)
    meter = _call(wants_usage=True)
    _feed_in_pieces(meter, _chunk("hel") + _chunk("lo ") + _usage_event(7, None), 9)
    assert _metered(meter) == Usage(prompt_tokens=7, completion_tokens=2)


def test_a_last_event_without_its_blank_line_is_metered_and_delivered_whole() -> None:
    meter = _call(wants_usage=False)
    assert meter.feed(_chunk("hello") + _chunk("world")[:-2]) == _chunk("hello")
    assert meter.flush() == _chunk("world")
    assert _metered(meter) == Usage(prompt_tokens=2, completion_tokens=3)


def test_a_stream_is_cut_at_the_event_that_outgrows_twice_its_budget() -> None:
    meter = SseMeter(parse_call(Endpoint.CHAT, orjson.dumps({"model": "m", "stream": True})).bounded(None, 4))
    ceiling = 4 * 2 + 16  # completion tokens, as the meter counts them
    out = meter.feed(_chunk("abcd") * (ceiling + 10))
    assert out == _chunk("abcd") * ceiling and meter.over_budget
    assert meter.feed(_chunk("abcd")) == b"" and meter.flush() == b""


def test_a_stream_of_events_without_text_is_cut_by_its_bytes() -> None:
    meter = SseMeter(parse_call(Endpoint.CHAT, orjson.dumps({"model": "m", "stream": True})).bounded(None, 1))
    padding = _event({"choices": [{"index": 0, "delta": {}, "padding": "x" * 1000}]})
    delivered = b"".join(meter.feed(padding) for _ in range(400))
    assert meter.over_budget and 256 * 1024 < len(delivered) + len(padding) * 4 < 300 * 1024


def test_usage_of_a_json_reply_that_is_really_a_stream_or_unreadable() -> None:
    call = parse_call(Endpoint.CHAT, orjson.dumps({"model": "m", "messages": [{"content": "abcdefgh"}]}))
    assert _json_usage(call, _chunk("hello") + _chunk("world")) == Usage(2, 3)
    unreadable = b'{"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 1e400}}'
    assert _json_usage(call, unreadable) == Usage(2, -(-len(unreadable) // 4))


def _budget_meter(max_tokens: int) -> SseMeter:
    body = {"model": "m", "stream": True, "max_tokens": max_tokens}
    return SseMeter(parse_call(Endpoint.CHAT, orjson.dumps(body)).bounded(None, 1000))


def test_bulky_events_with_little_text_are_not_cut() -> None:
    meter = _budget_meter(4)  # ceiling: 24 tokens, 96 characters
    logprobs = {"content": [{"token": "a", "logprob": -0.1, "top_logprobs": [{"token": "b" * 40}] * 20}]}
    event = _event({"choices": [{"index": 0, "delta": {"content": "a"}, "logprobs": logprobs}]})
    stream = event * 4 + _chunk("") * 100  # empty keep-alive chunks: many events, no text
    assert _feed_in_pieces(meter, stream, 300) == stream and not meter.over_budget


def test_text_hidden_in_escapes_is_still_counted_for_the_cut() -> None:
    meter = _budget_meter(4)
    out = meter.feed(_chunk('\\"}' * 20) * 3)
    assert meter.over_budget and out == _chunk('\\"}' * 20)  # 60 + 60 characters pass 96
