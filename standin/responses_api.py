"""OpenAI's Responses API (`POST /v1/responses`): a response object, or its typed SSE events (`event: <type>` then
`data: {"type": <type>, "sequence_number": n, ...}`), ending with `response.completed` (or `response.incomplete` when
`max_output_tokens` cut it short) whose response carries the usage. There is no `[DONE]`."""

from dataclasses import replace
from typing import Any

import orjson

from app.errors import BadRequest
from standin import generation as gen
from standin import openai_shapes as shapes
from standin.hostile import LYING_USAGE
from standin.replies import Drop, EndlessStream, Reply, StreamReply, json_reply
from standin.switches import Switches, parse_switches

# Events before the first text delta: created, in_progress, output_item.added, content_part.added.
TEXT_STARTS_AT = 4


def responses(body: dict[str, Any]) -> Reply:
    switches = parse_switches(body)
    early = gen.short_circuit(switches)
    if early is not None:
        return early
    prompt_chars = _instructions_chars(body.get("instructions")) + _input_chars(body.get("input"))
    max_tokens = gen.optional_max_tokens(body, "max_output_tokens")
    generation = gen.plan_generation(body, switches, prompt_chars, max_tokens)
    if switches.hostile is not None:
        return _hostile(switches.hostile, body, switches, generation)
    return _deliver(body, switches, generation)


def _hostile(case: str, body: dict[str, Any], switches: Switches, generation: gen.Generation) -> Reply:
    """The lying usage cases and the endless stream; the others are played on chat and completions only."""
    if case in LYING_USAGE:
        prompt_tokens, completion_tokens = LYING_USAGE[case]
        lie = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": 0}
        return _deliver(body, switches, replace(generation, usage=lie))
    if case == "endless_stream":
        opening = _events(shapes.next_id("resp"), shapes.next_id("msg"), replace(generation, tokens=1))
        return EndlessStream(opening[TEXT_STARTS_AT], first=b"".join(opening[:TEXT_STARTS_AT]))
    raise BadRequest(f"'standin.hostile' {case} is not played on /v1/responses")


def _instructions_chars(instructions: object) -> int:
    if instructions is None:
        return 0
    if not isinstance(instructions, str):
        raise BadRequest("'instructions' must be a string")
    return len(instructions)


def _input_chars(given: object) -> int:
    if isinstance(given, str):
        return len(given)
    if not isinstance(given, list) or not given:
        raise BadRequest("'input' must be a string or a non-empty list of input items")
    return sum(map(_item_chars, given))


def _item_chars(item: object) -> int:
    if not isinstance(item, dict):
        raise BadRequest("each input item must be an object")
    content = item.get("content")
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(
            len(part["text"]) for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return 0


def _deliver(body: dict[str, Any], switches: Switches, generation: gen.Generation) -> Reply:
    response_id, message_id = shapes.next_id("resp"), shapes.next_id("msg")
    if gen.wants_stream(body):
        events = _events(response_id, message_id, generation)
        drop_at = None if switches.drop_after is None else TEXT_STARTS_AT + min(switches.drop_after, generation.tokens)
        return StreamReply(events, switches.delay_s, drop_at)
    if switches.drop_after is not None:
        return Drop()
    return json_reply(200, _final(response_id, message_id, generation), switches.delay_s)


def _final(response_id: str, message_id: str, generation: gen.Generation) -> dict[str, Any]:
    status = "completed" if generation.finish_reason == "stop" else "incomplete"
    return shapes.response_object(
        response_id, generation.model, status, [_message(message_id, "completed", [_text_part(generation.text)])],
        _usage(generation),
    )  # fmt: skip


def _usage(generation: gen.Generation) -> dict[str, Any] | None:
    if generation.usage is None:
        return None
    usage = generation.usage
    return shapes.response_usage(usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])


def _message(message_id: str, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": message_id, "type": "message", "status": status, "role": "assistant", "content": content}


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _events(response_id: str, message_id: str, generation: gen.Generation) -> list[bytes]:
    """created, in_progress, the message item and its text part opened, one delta per token, then each closed, and
    the final event with the whole response."""
    started = shapes.response_object(response_id, generation.model, "in_progress", [], None)
    at = {"item_id": message_id, "output_index": 0, "content_index": 0}
    final = _final(response_id, message_id, generation)
    payloads: list[dict[str, Any]] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
        {"type": "response.output_item.added", "output_index": 0, "item": _message(message_id, "in_progress", [])},
        {"type": "response.content_part.added", **at, "part": _text_part("")},
        *[
            {"type": "response.output_text.delta", **at, "delta": shapes.TOKEN, "logprobs": []}
            for _ in range(generation.tokens)
        ],
        {"type": "response.output_text.done", **at, "text": generation.text, "logprobs": []},
        {"type": "response.content_part.done", **at, "part": _text_part(generation.text)},
        {"type": "response.output_item.done", "output_index": 0, "item": final["output"][0]},
        {"type": f"response.{final['status']}", "response": final},
    ]
    return [_typed_event(number, payload) for number, payload in enumerate(payloads)]


def _typed_event(sequence_number: int, payload: dict[str, Any]) -> bytes:
    type_: str = payload["type"]
    data = orjson.dumps({**payload, "sequence_number": sequence_number})
    return b"event: " + type_.encode() + b"\ndata: " + data + b"\n\n"
