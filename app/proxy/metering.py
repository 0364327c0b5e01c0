"""What a reply actually used: the upstream's `usage` when it sends one, else a count of what it produced."""

from typing import Any

import orjson

from app.pricing.prices import Usage
from app.proxy.calls import CHARS_PER_TOKEN, LlmCall

_EVENT_END = b"\n\n"


def usage_from_payload(payload: Any) -> Usage | None:
    usage = payload.get("usage") if isinstance(payload, dict) else None
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens", 0)
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(prompt_tokens=prompt, completion_tokens=completion)


def produced_text(payload: Any) -> str:
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
    for call in body.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            parts.append(function["arguments"])
    return parts


def tokens_in(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def usage_of_json_reply(call: LlmCall, body: bytes) -> Usage:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    reported = usage_from_payload(payload)
    if reported is not None:
        return reported
    return Usage(prompt_tokens=call.estimated_prompt_tokens(), completion_tokens=tokens_in(produced_text(payload)))


class SseMeter:
    """Follows an SSE stream event by event: notes `usage`, keeps the events that carry generated text (parsed only
    if the upstream never reports usage), and drops the usage-only event when the node, not the client, asked for
    it. Returns only complete events, so the client never sees a torn one."""

    def __init__(self, call: LlmCall) -> None:
        self._call = call
        self._strip_usage_event = not call.client_wants_usage
        self._pending = b""
        self._texts: list[bytes] = []
        self.usage: Usage | None = None

    def feed(self, chunk: bytes) -> bytes:
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        data = self._pending + chunk if self._pending else chunk
        end = data.rfind(_EVENT_END)
        if end < 0:
            self._pending = data
            return b""
        self._pending = data[end + 2 :]
        complete = data[: end + 2]
        events = complete.split(_EVENT_END)[:-1]
        kept = [event for event in events if self._observe(event)]
        if len(kept) == len(events):
            return complete
        return b"".join(event + _EVENT_END for event in kept)

    def leftover(self) -> bytes:
        tail, self._pending = self._pending, b""
        return tail

    def _observe(self, event: bytes) -> bool:
        """Record what the event carries; False when it is the usage-only event the client did not ask for."""
        if any(marker in event for marker in _TEXT_MARKERS):
            self._texts.append(event)
        if b'"usage":{' not in event and b'"usage": {' not in event:
            return True
        payload = _payload_of(event)
        usage = usage_from_payload(payload)
        if usage is None:
            return True
        self.usage = usage
        return not (self._strip_usage_event and isinstance(payload, dict) and payload.get("choices") == [])

    def produced(self) -> tuple[int, int]:
        """(events with generated text, characters of it), parsed now: only needed without upstream usage."""
        texts = [produced_text(_payload_of(event)) for event in self._texts]
        return sum(1 for text in texts if text), sum(len(text) for text in texts)

    def metered_usage(self) -> Usage | None:
        """What to charge: the upstream's usage, else a count of what was produced; None if nothing was."""
        if self.usage is not None:
            return self.usage
        events, chars = self.produced()
        if not events:
            return None
        completion = max(events, -(-chars // CHARS_PER_TOKEN))
        return Usage(prompt_tokens=self._call.estimated_prompt_tokens(), completion_tokens=completion)


_TEXT_MARKERS = (b'"content":"', b'"content": "', b'"text":"', b'"text": "', b'"arguments":"', b'"reasoning')


def _payload_of(event: bytes) -> Any:
    data = _data_of(event)
    if data is None or data == b"[DONE]":
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _data_of(event: bytes) -> bytes | None:
    lines = [line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None
