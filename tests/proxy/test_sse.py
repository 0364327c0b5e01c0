"""The incremental SSE parser: framing on LF, CRLF and lone CR, chunk boundaries anywhere, fields as the spec reads
them; and the meter on top of it, over every recorded upstream format cut at every byte."""

import asyncio

import orjson
import pytest

from app.pricing.prices import Usage
from app.proxy.calls import Endpoint, parse_call
from app.proxy.metering import _MAY_CARRY_USAGE, Metered, SseMeter
from app.proxy.sse import SseFramer, event_data, event_fields
from standin.formats import FORMATS, RecordedUsage, filled

USAGE = RecordedUsage(prompt_tokens=123, completion_tokens=45)


def _frame(data: bytes, size: int) -> tuple[bytes, list[bytes], bytes]:
    framer = SseFramer()
    passed, events = b"", []
    for i in range(0, len(data), size):
        complete, more = framer.feed(data[i : i + size])
        assert complete == framer.whole(more)
        passed += complete
        events += more
    return passed, events, framer.flush()


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"])
def test_events_end_at_a_blank_line_whatever_the_line_ends_and_wherever_the_chunks_are_cut(line_end: bytes) -> None:
    events = [
        b"data: one",
        b": comment" + line_end + b"event: two" + line_end + b'data: {"a"' + line_end + b"data: :1}",
    ]
    stream = b"".join(event + line_end * 2 for event in events)
    for size in range(1, len(stream) + 1):
        passed, framed, tail = _frame(stream, size)
        # with lone-CR line ends a last CR may still begin a CRLF: that event is only sure at the stream's end
        assert passed + tail == stream and (tail == b"" or line_end == b"\r"), size
        framed += [tail] if tail else []
        assert [event_data(e) for e in framed] == [b"one", b'{"a"\n:1}']
        assert event_fields(framed[1]).name == b"two"


def test_a_crlf_torn_between_its_cr_and_its_lf_is_one_line_end() -> None:
    framer = SseFramer()
    assert framer.feed(b"data: a\r\n\r") == (b"", [])
    whole = b"data: a\r\n\r\ndata: b\r\n\r\n"
    assert framer.feed(b"\ndata: b\r\n\r\n") == (whole, [b"data: a\r\n\r\n", b"data: b\r\n\r\n"])
    assert framer.flush() == b""


def test_fields_as_the_spec_reads_them() -> None:
    event = b":comment\nid: 7\nretry: 10\nevent:delta\ndata\ndata:x\ndata:  two spaces\nignored line\n\n"
    fields = event_fields(event)
    assert fields.name == b"delta"
    assert fields.data == b"\nx\n two spaces"  # a bare "data" line is an empty line; one leading space goes
    assert event_data(b": only a comment\n\n") is None


def test_an_unterminated_last_event_is_left_for_flush() -> None:
    framer = SseFramer()
    assert framer.feed(b"data: 1\n\ndata: 2") == (b"data: 1\n\n", [b"data: 1"])
    assert framer.flush() == b"data: 2"
    assert framer.flush() == b""


def _meter(endpoint: Endpoint, model: str = "standin-small", client_wants_usage: bool = True) -> SseMeter:
    body: dict[str, object] = {"model": model, "stream": True, "max_tokens": 100}
    body["messages"] = [{"role": "user", "content": "abcdefgh"}]
    if client_wants_usage and endpoint is Endpoint.CHAT:
        body["stream_options"] = {"include_usage": True}
    return SseMeter(parse_call(endpoint, orjson.dumps(body)).bounded(None, 1000))


def _endpoint(name: str) -> Endpoint:
    return Endpoint.MESSAGES if name == "anthropic" else Endpoint.CHAT


def _metered(meter: SseMeter) -> Metered:
    metered = asyncio.run(meter.metered())
    assert metered is not None
    return metered


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_recorded_format_is_metered_exactly_wherever_its_chunks_are_cut(name: str) -> None:
    stream = filled(name, "sse", USAGE)
    for size in (*range(1, 40), 97, 512, len(stream)):
        meter = _meter(_endpoint(name))
        out = b"".join(meter.feed(stream[i : i + size]) for i in range(0, len(stream), size)) + meter.flush()
        metered = _metered(meter)
        assert metered.usage == Usage(123, 45), (name, size)
        assert not metered.counted
        assert out == stream, (name, size)


def test_the_usage_chunk_the_node_asked_for_is_hidden_from_a_client_that_did_not() -> None:
    stream = filled("openai", "sse", USAGE)
    meter = _meter(Endpoint.CHAT, client_wants_usage=False)
    out = b"".join(meter.feed(stream[i : i + 10]) for i in range(0, len(stream), 10)) + meter.flush()
    framer = SseFramer()
    events = framer.feed(stream)[1]
    assert out == framer.whole([e for e in events if b'"choices":[]' not in e]) != stream
    assert _metered(meter).usage == Usage(123, 45)


def _events(stream: bytes) -> list[bytes]:
    return SseFramer().feed(stream)[1]


def test_openrouter_reports_its_cost_beside_the_usage() -> None:
    meter = _meter(Endpoint.CHAT)
    meter.feed(filled("openrouter", "sse", USAGE))
    assert _metered(meter).upstream_cost_usd == pytest.approx(123 * 0.15e-6 + 45 * 0.6e-6)


def test_usage_null_on_every_chunk_is_never_decoded_for_usage() -> None:
    """OpenAI sends `"usage": null` on every chunk once usage is asked for: only the last chunk is worth a decode."""
    stream = filled("openai", "sse", USAGE) + filled("pretty", "sse", USAGE)
    carriers = [e for e in _events(stream) if b'"usage"' in e]
    decoded = [e for e in carriers if _MAY_CARRY_USAGE.search(e)]
    assert len(carriers) > 10 and len(decoded) == 2
