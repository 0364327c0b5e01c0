"""The SSE meter on byte streams cut at arbitrary places, as real upstreams deliver them."""

import orjson

from app.pricing.prices import Usage
from app.proxy.calls import Endpoint, parse_call
from app.proxy.metering import SseMeter


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
        assert meter.metered_usage() == Usage(7, 3)


def test_usage_the_client_did_not_ask_for_is_hidden_but_still_charged() -> None:
    meter = _call(wants_usage=False)
    out = _feed_in_pieces(meter, STREAM, 13)
    assert out == STREAM.replace(USAGE, b"")
    assert meter.metered_usage() == Usage(7, 3)


def test_without_usage_what_was_produced_is_counted() -> None:
    meter = _call(wants_usage=False)
    _feed_in_pieces(meter, STREAM.replace(USAGE, b""), 5)
    # 3 text events, 9 characters: max(3, ceil(9 / 4)) completion tokens; prompt ceil(8 / 4)
    assert meter.metered_usage() == Usage(prompt_tokens=2, completion_tokens=3)


def test_nothing_produced_means_nothing_to_charge() -> None:
    meter = _call(wants_usage=False)
    meter.feed(_chunk(""))
    assert meter.metered_usage() is None


def test_crlf_framing_is_understood() -> None:
    meter = _call(wants_usage=True)
    out = meter.feed(STREAM.replace(b"\n", b"\r\n"))
    assert out == STREAM and meter.metered_usage() == Usage(7, 3)
