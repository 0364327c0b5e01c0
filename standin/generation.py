"""Chat and text completions: how many "hi " tokens to send, and the JSON or SSE reply that carries them."""

from dataclasses import dataclass
from typing import Any

from app.errors import BadRequest
from standin import openai_shapes as shapes
from standin.replies import DONE_EVENT, Drop, Hang, Reply, StreamReply, json_reply, sse_event
from standin.switches import Switches


@dataclass(frozen=True, slots=True)
class Generation:
    model: str
    tokens: int
    finish_reason: str
    usage: dict[str, int] | None
    usage_in_stream: bool

    @property
    def text(self) -> str:
        return shapes.TOKEN * self.tokens


def plan_generation(body: dict[str, Any], switches: Switches, prompt_chars: int, max_tokens: int | None) -> Generation:
    tokens = switches.chunks if max_tokens is None else min(max_tokens, switches.chunks)
    usage = shapes.usage(shapes.tokens_for_chars(prompt_chars), tokens) if switches.usage else None
    return Generation(
        model=require_model(body),
        tokens=tokens,
        finish_reason="length" if tokens < switches.chunks else "stop",
        usage=usage,
        usage_in_stream=usage is not None and _include_usage(body),
    )


def require_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required")
    return model


def optional_max_tokens(body: dict[str, Any], *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BadRequest(f"'{name}' must be a non-negative integer")
        return value
    return None


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def wants_stream(body: dict[str, Any]) -> bool:
    return body.get("stream") is True


def deliver(body: dict[str, Any], switches: Switches, generation: Generation, chat: bool) -> Reply:
    """The reply for a completion that passed validation, with the drop and delay switches applied."""
    if wants_stream(body):
        events, content_start = chat_events(generation) if chat else text_events(generation)
        drop_at = None
        if switches.drop_after is not None:
            drop_at = content_start + min(switches.drop_after, generation.tokens)
        trailing = len(events) - (content_start + generation.tokens + 1)  # after the finish chunk
        return StreamReply(events, switches.delay_s, drop_at, trailing)
    if switches.drop_after is not None:
        return Drop()
    return json_reply(200, chat_object(generation) if chat else text_object(generation), switches.delay_s)


def short_circuit(switches: Switches) -> Reply | None:
    """The hang and status switches answer before the request is even validated."""
    if switches.hang:
        return Hang()
    if switches.status is not None:
        return injected_error(switches.status, switches.delay_s)
    return None


def injected_error(status: int, delay_s: float) -> Reply:
    type_, code = _ERROR_KINDS.get(status, ("server_error" if status >= 500 else "invalid_request_error", "error"))
    message = f"standin: injected HTTP {status}"
    return json_reply(status, shapes.error_body(message, type_, code), delay_s)


_ERROR_KINDS = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", "server_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
}


def chat_object(generation: Generation) -> dict[str, Any]:
    return shapes.chat_completion(generation.model, generation.text, generation.finish_reason, generation.usage)


def text_object(generation: Generation) -> dict[str, Any]:
    return shapes.text_completion(generation.model, generation.text, generation.finish_reason, generation.usage)


def chat_events(generation: Generation) -> tuple[list[bytes], int]:
    """Role chunk, one chunk per token, the finish chunk, the usage chunk if asked, [DONE]; content starts at 1."""
    completion_id = shapes.next_id("chatcmpl")
    model = generation.model

    def chunk(delta: dict[str, str], finish_reason: str | None) -> bytes:
        payload = shapes.chat_chunk(completion_id, model, delta, finish_reason)
        return sse_event(_usage_placeholder(payload, generation))

    events = [chunk({"role": "assistant", "content": ""}, None)]
    events += [chunk({"content": shapes.TOKEN}, None)] * generation.tokens
    events.append(chunk({}, generation.finish_reason))
    return _close_stream(events, generation, completion_id, "chat.completion.chunk"), 1


def text_events(generation: Generation) -> tuple[list[bytes], int]:
    """One chunk per token, the finish chunk, the usage chunk if asked, [DONE]; content starts at 0."""
    completion_id = shapes.next_id("cmpl")
    model = generation.model

    def chunk(text: str, finish_reason: str | None) -> bytes:
        payload = shapes.text_completion(model, text, finish_reason, None, completion_id)
        return sse_event(_usage_placeholder(payload, generation))

    events = [chunk(shapes.TOKEN, None)] * generation.tokens
    events.append(chunk("", generation.finish_reason))
    return _close_stream(events, generation, completion_id, "text_completion"), 0


def _usage_placeholder(payload: dict[str, Any], generation: Generation) -> dict[str, Any]:
    # OpenAI sends `"usage": null` on every chunk once include_usage is on.
    if generation.usage_in_stream:
        payload["usage"] = None
    return payload


def _close_stream(events: list[bytes], generation: Generation, completion_id: str, object_: str) -> list[bytes]:
    if generation.usage_in_stream and generation.usage is not None:
        events.append(sse_event(shapes.usage_chunk(completion_id, object_, generation.model, generation.usage)))
    events.append(DONE_EVENT)
    return events
