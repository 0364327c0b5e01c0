"""What the node reads in an upstream's reply, per API: its believable usage, the text it generated, and the bytes
that tell the meter which stream events may carry generated text (so that it parses only those it must).

Chat and legacy completions carry `usage: {prompt_tokens, completion_tokens}` and their text under `choices`; the
Responses API carries `usage: {input_tokens, output_tokens}` on the response object (in a stream: on the
`response.completed`, `response.incomplete` or `response.failed` event) and streams its text as typed `*.delta`
events."""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.pricing.prices import Usage
from app.proxy.calls import Endpoint

log = logging.getLogger(__name__)

# Reported usage above this many tokens per field is not believed (no context window comes near it).
MAX_REPORTED_TOKENS = 100_000_000


@dataclass(frozen=True, slots=True)
class WireFormat:
    usage: Callable[[Any], Usage | None]  # of a JSON reply or of one stream event
    reply_text: Callable[[Any], str]  # generated text of a whole JSON reply
    event_text: Callable[[Any], str]  # generated text of one stream event
    # Keys of the fields that carry generated text in an event, however the JSON around them is spaced: only events
    # that hold one are parsed when text needs counting.
    text_markers: tuple[bytes, ...]
    # The raw bytes of every string value under those keys: never fewer than the characters counted (escapes and
    # UTF-8 only shrink when decoded), so a cheap upper bound that spares parsing each event.
    text_values: re.Pattern[bytes]


def _token_count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_REPORTED_TOKENS:
        return value
    return None


def _believable(prompt: Any, completion: Any) -> Usage | None:
    """Usage from non-negative integers (not booleans) up to MAX_REPORTED_TOKENS; None (and a warning) otherwise."""
    prompt_tokens, completion_tokens = _token_count(prompt), _token_count(completion)
    if prompt_tokens is None or completion_tokens is None:
        log.warning("metering.usage_rejected: the upstream reported usage that is not a sane token count")
        return None
    return Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def chat_usage(payload: Any) -> Usage | None:
    """`usage` of a completion or a chunk; embeddings report no completion tokens, which counts as none."""
    usage = payload.get("usage") if isinstance(payload, dict) else None
    if not isinstance(usage, dict):
        return None
    completion = usage.get("completion_tokens")
    return _believable(usage.get("prompt_tokens"), 0 if completion is None else completion)


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


# The stream events that end a response; each carries the whole response object, usage included.
RESPONSE_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
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


def response_usage(payload: Any) -> Usage | None:
    """`usage` of a response object, or of the response a final stream event carries (no other event's)."""
    if isinstance(payload, dict) and "type" in payload:  # a stream event; a response object has no `type`
        payload = payload.get("response") if payload["type"] in RESPONSE_FINAL_EVENTS else None
    usage = payload.get("usage") if isinstance(payload, dict) else None
    if not isinstance(usage, dict):
        return None
    return _believable(usage.get("input_tokens"), usage.get("output_tokens"))


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
    usage=chat_usage,
    reply_text=chat_text,
    event_text=chat_text,
    text_markers=(b'"content"', b'"text"', b'"arguments"', b'"reasoning'),
    text_values=re.compile(rb'"(?:content|text|arguments|reasoning|reasoning_content)"\s*:\s*"((?:[^"\\]|\\.)*)"'),
)
# In a Responses stream the `*.done` events and the final event repeat the text already sent as deltas: only the
# deltas are counted.
RESPONSES_WIRE = WireFormat(
    usage=response_usage,
    reply_text=response_text,
    event_text=response_event_text,
    text_markers=(b'"delta"',),
    text_values=re.compile(rb'"delta"\s*:\s*"((?:[^"\\]|\\.)*)"'),
)


def wire_format(endpoint: Endpoint) -> WireFormat:
    return RESPONSES_WIRE if endpoint is Endpoint.RESPONSES else CHAT_WIRE
