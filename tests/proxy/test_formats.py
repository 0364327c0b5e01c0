"""JSON replies in every recorded format metered exactly; what an upstream leaves unreported counted with the
model's own tokenizer where one fits (OpenAI's BPE, shipped in the wheel), else at four characters a token."""

import asyncio
import warnings

import orjson
import pytest

from app.pricing.prices import Usage
from app.proxy.calls import Endpoint, parse_call
from app.proxy.metering import Metered, SseMeter, meter_json_reply
from app.proxy.tokenize import encoding_for
from standin.formats import FORMATS, RecordedUsage, filled

SENTENCE = "The quick brown fox jumps over the lazy dog, twice: the quick brown fox jumps over the lazy dog."


def _bpe_tokens(encoding: str, text: str) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai  # type: ignore[import-untyped]

        return len(bpe_openai.get_encoding(encoding).encode_ordinary(text))


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_recorded_json_reply_is_metered_exactly(name: str) -> None:
    endpoint = Endpoint.MESSAGES if name == "anthropic" else Endpoint.CHAT
    call = parse_call(endpoint, orjson.dumps({"model": "m", "max_tokens": 10, "messages": []})).bounded(None, 100)
    metered = asyncio.run(meter_json_reply(call, filled(name, "json", RecordedUsage(321, 54))))
    assert metered.usage == Usage(321, 54) and not metered.counted
    if name == "openrouter":
        assert metered.upstream_cost_usd == pytest.approx(321 * 0.15e-6 + 54 * 0.6e-6)


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("openai/gpt-4.1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
    ],
)
def test_a_stream_without_usage_is_counted_with_the_models_tokenizer(model: str, encoding: str) -> None:
    assert encoding_for(model) == encoding
    call = parse_call(
        Endpoint.CHAT,
        orjson.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": SENTENCE}]}),
    ).bounded(None, 1000)
    meter = SseMeter(call)
    meter.feed(b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": {"content": SENTENCE}}]}) + b"\n\n")
    metered = asyncio.run(meter.metered())
    assert metered is not None and metered.counted
    tokens = _bpe_tokens(encoding, SENTENCE)
    assert metered.usage == Usage(prompt_tokens=tokens, completion_tokens=tokens)
    assert tokens != -(-len(SENTENCE) // 4)  # not the four-characters rule


def test_other_models_are_counted_at_four_characters_a_token() -> None:
    assert encoding_for("claude-sonnet-4") is None and encoding_for("meta-llama/Llama-3.1-8B-Instruct") is None
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": SENTENCE}]}
    call = parse_call(Endpoint.CHAT, orjson.dumps(body)).bounded(None, 1000)
    reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": SENTENCE}}]}
    metered = asyncio.run(meter_json_reply(call, orjson.dumps(reply)))
    quarter = -(-len(SENTENCE) // 4)
    assert metered == Metered(Usage(quarter, quarter), counted=True)


def test_a_reply_reporting_only_its_completion_gets_its_prompt_counted() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "system", "content": SENTENCE}]}
    call = parse_call(Endpoint.CHAT, orjson.dumps(body)).bounded(None, 1000)
    reply = {"choices": [{"message": {"content": "hi"}}], "usage": {"completion_tokens": 7}}
    metered = asyncio.run(meter_json_reply(call, orjson.dumps(reply)))
    assert metered.usage == Usage(_bpe_tokens("o200k_base", SENTENCE), 7) and metered.counted


def test_an_anthropic_stream_cut_before_message_delta_counts_its_completion() -> None:
    """message_start's output_tokens is a placeholder: without the final count, the text is counted."""
    body = {"model": "claude-x", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    meter = SseMeter(parse_call(Endpoint.MESSAGES, orjson.dumps(body)).bounded(None, 1000))
    stream = filled("anthropic", "sse", RecordedUsage(90, 40))
    meter.feed(stream[: stream.index(b"event: message_delta")])
    metered = asyncio.run(meter.metered())
    assert metered is not None and metered.counted
    assert metered.usage == Usage(90, 9)  # nine text deltas, 32 characters: max(9, ceil(32 / 4))
