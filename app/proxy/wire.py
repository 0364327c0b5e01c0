"""What the node reads in an upstream's reply, per API: its believable usage, the text it generated, and the bytes
that tell the meter which stream events may carry generated text (so that it parses only those it must).

Chat and legacy completions carry `usage: {prompt_tokens, completion_tokens}` and their text under `choices`; the
Responses API carries `usage: {input_tokens, output_tokens}` on the response object (in a stream: on the
`response.completed`, `response.incomplete` or `response.failed` event) and streams its text as typed `*.delta`
events."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.proxy.calls import Endpoint
from app.proxy.usage import Reported, chat_reported, message_reported, response_reported


@dataclass(frozen=True, slots=True)
class WireFormat:
    reported: Callable[[Any], Reported]  # usage of a JSON reply or of one stream event
    reply_text: Callable[[Any], str]  # generated text of a whole JSON reply
    event_text: Callable[[Any], str]  # generated text of one stream event
    # Keys of the fields that carry generated text in an event, however the JSON around them is spaced: only events
    # that hold one are parsed when text needs counting.
    text_markers: tuple[bytes, ...]
    # The raw bytes of every string value under those keys: never fewer than the characters counted (escapes and
    # UTF-8 only shrink when decoded), so a cheap upper bound that spares parsing each event.
    text_values: re.Pattern[bytes]
    # Any of text_markers, as one search: the meter asks this of every event, so one pass in C rather than a loop
    # of `in` tests in Python.
    text_marker: re.Pattern[bytes] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text_marker", re.compile(b"|".join(map(re.escape, self.text_markers))))


def chat_text(payload: Any) -> str:
    """The generated text in a reply or a stream chunk: message/delta content, tool-call arguments, completion text."""
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not isinstance(choices, list):
        return ""
    return "".join(_choice_text(c) for c in choices if isinstance(c, dict))


def _choice_text(choice: dict[str, Any]) -> str:
    parts: list[str] = []
    if isinstance(choice.get("text"), str):
        parts.append(choice["text"])
    for key in ("message", "delta"):
        body = choice.get(key)
        if isinstance(body, dict):
            parts.extend(_message_parts(body))
    return "".join(parts)


def _message_parts(body: dict[str, Any]) -> list[str]:
    parts = [body[k] for k in ("content", "reasoning", "reasoning_content") if isinstance(body.get(k), str)]
    calls = body.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            parts.append(function["arguments"])
    return parts


# The stream events whose `delta` string is generated text (audio deltas are not text and are not counted).
RESPONSE_TEXT_EVENTS = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
        "response.reasoning_text.delta",
        "response.reasoning_summary_text.delta",
    }
)


def response_event_text(payload: Any) -> str:
    if not isinstance(payload, dict) or payload.get("type") not in RESPONSE_TEXT_EVENTS:
        return ""
    delta = payload.get("delta")
    return delta if isinstance(delta, str) else ""


def response_text(payload: Any) -> str:
    """The generated text of a response object: its output items' text, refusals, reasoning and tool-call inputs."""
    output = payload.get("output") if isinstance(payload, dict) else None
    items = output if isinstance(output, list) else []
    return "".join(_output_item_text(item) for item in items if isinstance(item, dict))


def _output_item_text(item: dict[str, Any]) -> str:
    texts = [item[key] for key in ("arguments", "input") if isinstance(item.get(key), str)]
    for key in ("content", "summary"):
        parts = item.get(key)
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, dict):
                texts.extend(part[k] for k in ("text", "refusal") if isinstance(part.get(k), str))
    return "".join(texts)


CHAT_WIRE = WireFormat(
    reported=chat_reported,
    reply_text=chat_text,
    event_text=chat_text,
    text_markers=(b'"content"', b'"text"', b'"arguments"', b'"reasoning'),
    text_values=re.compile(rb'"(?:content|text|arguments|reasoning|reasoning_content)"\s*:\s*"((?:[^"\\]|\\.)*)"'),
)
# In a Responses stream the `*.done` events and the final event repeat the text already sent as deltas: only the
# deltas are counted.
RESPONSES_WIRE = WireFormat(
    reported=response_reported,
    reply_text=response_text,
    event_text=response_event_text,
    text_markers=(b'"delta"',),
    text_values=re.compile(rb'"delta"\s*:\s*"((?:[^"\\]|\\.)*)"'),
)


# Anthropic's content block deltas: text, tool input JSON and thinking are generated text (signatures are not).
_MESSAGE_DELTA_TEXT_KEYS = ("text", "partial_json", "thinking")


def message_event_text(payload: Any) -> str:
    if not isinstance(payload, dict) or payload.get("type") != "content_block_delta":
        return ""
    delta = payload.get("delta")
    if not isinstance(delta, dict):
        return ""
    return "".join(delta[key] for key in _MESSAGE_DELTA_TEXT_KEYS if isinstance(delta.get(key), str))


def message_text(payload: Any) -> str:
    """The generated text of an Anthropic message: its text and thinking blocks and its tool calls' input."""
    content = payload.get("content") if isinstance(payload, dict) else None
    blocks = [block for block in content if isinstance(block, dict)] if isinstance(content, list) else []
    texts = [block[key] for block in blocks for key in ("text", "thinking") if isinstance(block.get(key), str)]
    texts += [orjson.dumps(block["input"]).decode() for block in blocks if block.get("input") is not None]
    return "".join(texts)


# Anthropic's stream carries usage in `message_start` and `message_delta` events and its text in
# `content_block_delta` events; the blocks' start and stop events repeat nothing.
MESSAGES_WIRE = WireFormat(
    reported=message_reported,
    reply_text=message_text,
    event_text=message_event_text,
    text_markers=(b'"text"', b'"partial_json"', b'"thinking"'),
    text_values=re.compile(rb'"(?:text|partial_json|thinking)"\s*:\s*"((?:[^"\\]|\\.)*)"'),
)

_WIRES = {Endpoint.RESPONSES: RESPONSES_WIRE, Endpoint.MESSAGES: MESSAGES_WIRE}


def wire_format(endpoint: Endpoint) -> WireFormat:
    return _WIRES.get(endpoint, CHAT_WIRE)
