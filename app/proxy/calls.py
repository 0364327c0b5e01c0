"""One paid LLM call as the node sees it: only the fields it needs are parsed; the body goes upstream untouched,
except that streams ask the upstream for usage."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from app.errors import BadRequest
from app.pricing.prices import Usage


class Endpoint(StrEnum):
    CHAT = "/chat/completions"
    COMPLETIONS = "/completions"
    EMBEDDINGS = "/embeddings"


# Reservations assume at least one token per this many UTF-8 bytes of prompt: an upper bound for most text, so that
# the reservation, not the balance left over, covers the prompt.
RESERVE_BYTES_PER_TOKEN = 3
# Best guess when the upstream reports no usage: about four characters per token.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class LlmCall:
    endpoint: Endpoint
    model: str
    stream: bool
    client_wants_usage: bool  # stream_options.include_usage as the client sent it
    max_completion_tokens: int
    prompt_chars: int
    prompt_bytes: int
    forward_body: bytes

    def max_usage(self) -> Usage:
        prompt = -(-self.prompt_bytes // RESERVE_BYTES_PER_TOKEN)
        completion = 0 if self.endpoint is Endpoint.EMBEDDINGS else self.max_completion_tokens
        return Usage(prompt_tokens=prompt, completion_tokens=completion)

    def estimated_prompt_tokens(self) -> int:
        return -(-self.prompt_chars // CHARS_PER_TOKEN)


def parse_call(endpoint: Endpoint, body: bytes, default_max_tokens: int) -> LlmCall:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise BadRequest("request body must be a JSON object")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("`model` is required and must be a string", param="model")
    stream = payload.get("stream") is True and endpoint is not Endpoint.EMBEDDINGS
    wants_usage = _wants_usage(payload)
    prompt_text = _prompt_text(endpoint, payload)
    return LlmCall(
        endpoint=endpoint,
        model=model,
        stream=stream,
        client_wants_usage=wants_usage,
        max_completion_tokens=_max_tokens(payload, default_max_tokens),
        prompt_chars=len(prompt_text),
        prompt_bytes=len(prompt_text.encode()),
        forward_body=_with_usage_requested(payload) if stream and not wants_usage else body,
    )


def _wants_usage(payload: dict[str, Any]) -> bool:
    options = payload.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _max_tokens(payload: dict[str, Any], default: int) -> int:
    for field in ("max_completion_tokens", "max_tokens"):
        value = payload.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise BadRequest(f"`{field}` must not be negative", param=field)
            return value
    return default


def _with_usage_requested(payload: dict[str, Any]) -> bytes:
    options = payload.get("stream_options")
    payload["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    return orjson.dumps(payload)


def _prompt_text(endpoint: Endpoint, payload: dict[str, Any]) -> str:
    if endpoint is Endpoint.CHAT:
        messages = payload.get("messages")
        return "".join(_message_text(m) for m in messages) if isinstance(messages, list) else ""
    source = payload.get("prompt" if endpoint is Endpoint.COMPLETIONS else "input")
    return _text_of(source)


def _message_text(message: Any) -> str:
    return _text_of(message.get("content")) if isinstance(message, dict) else ""


def _text_of(value: Any) -> str:
    """Text in a string, a list of strings, or a list of content parts ({"type": "text", "text": ...})."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(_part_text(part) for part in value)
    return ""


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, dict) and isinstance(part.get("text"), str):
        return str(part["text"])
    return ""
