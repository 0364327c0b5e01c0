"""The request fields the node reads, checked as OpenAI checks them, and the reservation as the request's maximum."""

from typing import Any

import orjson
import pytest

from app.api.errors import error_body, shown_as
from app.errors import BadRequest
from app.pricing.prices import Usage
from app.proxy.calls import RESERVE_TOKENS_PER_NON_TEXT_PART, Endpoint, LlmCall, parse_call

PROMPT = "abcdefgh"  # 8 chars: 2 tokens estimated, ceil(8/3) = 3 reserved


def call(endpoint: Endpoint = Endpoint.CHAT, **fields: Any) -> LlmCall:
    body: dict[str, Any] = {"model": "m", **fields}
    if endpoint is Endpoint.CHAT:
        body.setdefault("messages", [{"role": "user", "content": PROMPT}])
    else:
        body.setdefault("prompt" if endpoint is Endpoint.COMPLETIONS else "input", PROMPT)
    return parse_call(endpoint, orjson.dumps(body))


def refusal(endpoint: Endpoint = Endpoint.CHAT, **fields: Any) -> dict[str, Any]:
    with pytest.raises(BadRequest) as refused:
        call(endpoint, **fields).bounded(1000, 500)
    body: dict[str, Any] = error_body(refused.value)["error"]
    assert shown_as(refused.value).status == 400 and body["type"] == "invalid_request_error"
    return body


@pytest.mark.parametrize(
    ("field", "value", "code", "param"),
    [
        ("stream", "true", "invalid_type", "stream"),
        ("stream", 1, "invalid_type", "stream"),
        ("stream_options", "yes", "invalid_type", "stream_options"),
        ("stream_options", {"include_usage": "true"}, "invalid_type", "stream_options.include_usage"),
        ("max_tokens", "5", "invalid_type", "max_tokens"),
        ("max_tokens", 5.0, "invalid_type", "max_tokens"),
        ("max_tokens", True, "invalid_type", "max_tokens"),
        ("max_tokens", -1, "integer_below_min_value", "max_tokens"),
        ("max_completion_tokens", [], "invalid_type", "max_completion_tokens"),
        ("max_tokens", 9_223_372_036_854_775_807, "invalid_value", "max_tokens"),
        ("max_tokens", 1001, "invalid_value", "max_tokens"),
        ("n", 0, "integer_below_min_value", "n"),
        ("n", 129, "integer_above_max_value", "n"),
        ("n", "2", "invalid_type", "n"),
    ],
)
def test_fields_of_the_wrong_type_or_range_are_a_400_naming_the_field(
    field: str, value: Any, code: str, param: str
) -> None:
    error = refusal(**{field: value})
    assert (error["param"], error["code"]) == (param, code)


def test_stream_as_a_string_is_refused_with_openais_words() -> None:
    assert refusal(stream="true") == {
        "message": "Invalid type for 'stream': expected a boolean, but got a string instead.",
        "type": "invalid_request_error",
        "code": "invalid_type",
        "param": "stream",
    }


def test_best_of_is_checked_on_completions_only() -> None:
    assert refusal(Endpoint.COMPLETIONS, best_of=21)["param"] == "best_of"
    assert call(Endpoint.CHAT, best_of=21).choices == 1


def test_nulls_are_absent_values() -> None:
    parsed = call(stream=None, stream_options=None, max_tokens=None, n=None)
    assert (parsed.stream, parsed.client_wants_usage, parsed.requested_max_tokens, parsed.choices) == (
        False,
        False,
        None,
        1,
    )


def test_max_tokens_is_checked_against_the_context_length_when_known_else_the_operator_limit() -> None:
    assert call(max_tokens=900).bounded(context_length=1000, operator_limit=500).max_completion_tokens == 900
    with pytest.raises(BadRequest) as refused:
        call(max_tokens=501).bounded(context_length=None, operator_limit=500)
    assert refused.value.message == (
        "'max_tokens' is too large: 501. This model supports at most 500 completion tokens."
    )


def test_without_max_tokens_the_budget_is_the_room_left_in_the_context_or_the_operator_limit() -> None:
    assert call().bounded(context_length=100, operator_limit=500).max_completion_tokens == 100 - 2
    assert call().bounded(context_length=10_000, operator_limit=500).max_completion_tokens == 500
    assert call().bounded(context_length=None, operator_limit=500).max_completion_tokens == 500
    assert call().bounded(context_length=1, operator_limit=500).max_completion_tokens == 0


def test_the_reservation_multiplies_the_completion_budget_by_n_and_best_of() -> None:
    assert call(max_tokens=10, n=3).bounded(None, 500).max_usage() == Usage(3, 30)
    assert call(Endpoint.COMPLETIONS, max_tokens=10, n=2, best_of=5).bounded(None, 500).max_usage() == Usage(3, 50)
    assert call(Endpoint.COMPLETIONS, max_tokens=10, n=4, best_of=2).bounded(None, 500).max_usage() == Usage(3, 40)
    assert call(Endpoint.EMBEDDINGS).bounded(None, 500).max_usage() == Usage(3, 0)


def test_images_and_tools_are_in_the_prompt_reservation() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    messages = [{"role": "user", "content": [{"type": "text", "text": PROMPT}, image]}]
    with_image = call(messages=messages, max_tokens=0).bounded(None, 500)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    with_tools = call(tools=tools, max_tokens=0).bounded(None, 500)

    assert with_image.max_usage() == Usage(3 + RESERVE_TOKENS_PER_NON_TEXT_PART, 0)
    assert with_tools.max_usage().prompt_tokens == -(-(len(PROMPT) + len(orjson.dumps(tools))) // 3)


def test_embeddings_ignore_generation_fields() -> None:
    parsed = call(Endpoint.EMBEDDINGS, stream="true", max_tokens="x", n=0)
    assert (parsed.stream, parsed.requested_max_tokens, parsed.choices) == (False, None, 1)
