"""Anthropic's Messages API (`POST /v1/messages`): a message object, or its SSE events (`event: <type>` lines;
`message_start` carries the prompt's usage, `content_block_delta` the text, `message_delta` the final output count),
with no `[DONE]`. `standin.format` replays a recording instead (see standin.formats)."""

from typing import Any

import orjson

from app.errors import BadRequest
from standin import generation as gen
from standin import openai_shapes as shapes
from standin.formats import DEFAULT_COMPLETION_TOKENS, DEFAULT_PROMPT_TOKENS, RecordedUsage, replay
from standin.replies import Drop, Reply, StreamReply, json_reply
from standin.switches import Switches, parse_switches


def messages(body: dict[str, Any]) -> Reply:
    switches = parse_switches(body)
    early = gen.short_circuit(switches) or recorded(body, switches)
    if early is not None:
        return early
    given = body.get("messages")
    if not isinstance(given, list) or not given:
        raise BadRequest("messages: Field required")
    max_tokens = gen.optional_max_tokens(body, "max_tokens")
    if max_tokens is None:
        raise BadRequest("max_tokens: Field required")
    prompt_chars = _text_chars(body.get("system")) + sum(_text_chars(m.get("content")) for m in given if _is_dict(m))
    generation = gen.plan_generation(body, switches, prompt_chars, max_tokens)
    return _deliver(body, switches, generation)


def recorded(body: dict[str, Any], switches: Switches) -> Reply | None:
    """The recording named by `standin.format`, with the usage the switches give; None without the switch."""
    if switches.format is None:
        return None
    prompt, completion = switches.prompt_tokens, switches.completion_tokens
    usage = RecordedUsage(
        prompt_tokens=DEFAULT_PROMPT_TOKENS if prompt is None else prompt,
        completion_tokens=DEFAULT_COMPLETION_TOKENS if completion is None else completion,
    )
    return replay(switches.format, gen.wants_stream(body), usage, switches.chunk_bytes, switches.delay_s)


def _is_dict(value: object) -> bool:
    return isinstance(value, dict)


def _text_chars(content: object) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(b["text"]) for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return 0


def _deliver(body: dict[str, Any], switches: Switches, generation: gen.Generation) -> Reply:
    usage = generation.usage or {}
    input_tokens, output_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
    message_id = shapes.next_id("msg")
    if gen.wants_stream(body):
        events = _events(message_id, generation, input_tokens, output_tokens)
        drop_at = None if switches.drop_after is None else 3 + min(switches.drop_after, generation.tokens)
        return StreamReply(events, switches.delay_s, drop_at)
    if switches.drop_after is not None:
        return Drop()
    message = _message(message_id, generation.model, [{"type": "text", "text": generation.text}], None)
    message.update(stop_reason=_stop_reason(generation), usage=_usage(input_tokens, output_tokens))
    return json_reply(200, message, switches.delay_s)


def _message(message_id: str, model: str, content: list[dict[str, Any]], stop: str | None) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
    }


def _usage(input_tokens: int | None, output_tokens: int | None) -> dict[str, Any]:
    return {"input_tokens": input_tokens, "output_tokens": output_tokens} if input_tokens is not None else {}


def _stop_reason(generation: gen.Generation) -> str:
    return "max_tokens" if generation.finish_reason == "length" else "end_turn"


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **payload}) + b"\n\n"


def _events(message_id: str, generation: gen.Generation, input_tokens: int | None, output: int | None) -> list[bytes]:
    """message_start, content_block_start, ping, one delta per token, content_block_stop, message_delta,
    message_stop; the text starts at event 3. Without usage (`standin.usage: false`) the events carry none."""
    start = _message(message_id, generation.model, [], None) | {"usage": _usage(input_tokens, 1)}
    delta = _event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": shapes.TOKEN}})
    closing: dict[str, Any] = {"delta": {"stop_reason": _stop_reason(generation), "stop_sequence": None}}
    if output is not None:
        closing["usage"] = {"output_tokens": output}
    return [
        _event("message_start", {"message": start}),
        _event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        _event("ping", {}),
        *[delta] * generation.tokens,
        _event("content_block_stop", {"index": 0}),
        _event("message_delta", closing),
        _event("message_stop", {}),
    ]
