"""What a reply actually used: the upstream's `usage` when it sends a believable one, else a count of what it
produced; and how far a reply may grow before the node cuts it off."""

from typing import Any

import orjson

from app.pricing.prices import Usage
from app.proxy.calls import CHARS_PER_TOKEN, Endpoint, LlmCall
from app.proxy.wire import wire_format

_EVENT_END = b"\n\n"
# An honest upstream stays within the request's completion budget, but its tokens can be longer than the meter's
# four characters: a reply is cut off only once its count passes twice the budget plus this many tokens.
BUDGET_SLACK_FACTOR = 2
BUDGET_SLACK_TOKENS = 16
# Bytes a reply may take: room for JSON framing and logprobs around every token of the budget.
REPLY_BASE_BYTES = 256 * 1024
REPLY_BYTES_PER_TOKEN = 2048
EMBEDDINGS_REPLY_BYTES = 256 * 1024 * 1024  # vectors are large and their count is the client's choice


def token_ceiling(call: LlmCall) -> int:
    """Completion tokens (as the meter counts them) past which a reply is cut off."""
    return call.completion_budget * BUDGET_SLACK_FACTOR + BUDGET_SLACK_TOKENS


def byte_ceiling(call: LlmCall) -> int:
    if call.endpoint is Endpoint.EMBEDDINGS:
        return EMBEDDINGS_REPLY_BYTES
    return REPLY_BASE_BYTES + call.completion_budget * REPLY_BYTES_PER_TOKEN


def tokens_in(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def usage_of_json_reply(call: LlmCall, body: bytes) -> Usage:
    """Usage of a reply labelled JSON: its believable usage, else its generated text; a body that is really an
    event stream is metered as one."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        if body.lstrip().startswith((b"data:", b"event:")):
            return _usage_of_events(call, body)
        # delivered but unreadable here: every byte is taken for generated text (the reservation caps it)
        return Usage(prompt_tokens=call.estimated_prompt_tokens(), completion_tokens=-(-len(body) // CHARS_PER_TOKEN))
    wire = wire_format(call.endpoint)
    reported = wire.usage(payload)
    if reported is not None:
        return reported
    return Usage(prompt_tokens=call.estimated_prompt_tokens(), completion_tokens=tokens_in(wire.reply_text(payload)))


def _usage_of_events(call: LlmCall, body: bytes) -> Usage:
    meter = SseMeter(call)
    meter.feed(body)
    meter.flush()
    return meter.metered_usage() or Usage(prompt_tokens=call.estimated_prompt_tokens(), completion_tokens=0)


class SseMeter:
    """Follows an SSE stream event by event: notes `usage`, counts the generated text (bounded from above by the
    bytes of the events that may carry it, then by the raw bytes of their text values; parsed only when both bounds
    pass the budget or no usage came), and drops the
    usage-only event when the node, not the client, asked for it. Returns only complete events, so the client never
    sees a torn one."""

    def __init__(self, call: LlmCall) -> None:
        self._call = call
        self._wire = wire_format(call.endpoint)
        self._strip_usage_event = not call.client_wants_usage
        self._token_ceiling = token_ceiling(call)
        self._byte_ceiling = byte_ceiling(call)
        self._pending = b""
        self._bytes = 0
        self._texts: list[bytes] = []
        self._text_bytes = 0  # bytes of the events in _texts
        self._bounded = 0  # events of _texts whose text values' raw bytes are in _raw_text_bytes
        self._raw_text_bytes = 0
        self._counted = 0  # events of _texts already parsed into the two counts below
        self._text_events = 0
        self._text_chars = 0
        self.usage: Usage | None = None
        self.over_budget = False  # once True, nothing more is delivered

    def feed(self, chunk: bytes) -> bytes:
        self._bytes += len(chunk)
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
        kept = self._within_budget(events, len(complete))
        if len(kept) == len(events):
            return complete
        return b"".join(event + _EVENT_END for event in kept)

    def _within_budget(self, events: list[bytes], size: int) -> list[bytes]:
        """The events to deliver: all that are observed and kept, up to the one that outgrows the budget."""
        if self._cannot_outgrow(len(events), size):
            return [event for event in events if self._observe(event)]
        kept: list[bytes] = []
        for event in events:
            if self.over_budget:
                break
            keep = self._observe(event)
            self.over_budget = self._outgrown()
            if keep and not self.over_budget:
                kept.append(event)
        return kept

    def flush(self) -> bytes:
        """The last event when the upstream ended without its blank line: metered, and delivered whole."""
        tail, self._pending = self._pending.strip(b"\n"), b""
        kept = self._within_budget([tail] if tail else [], len(tail))
        return kept[0] + _EVENT_END if kept else b""

    def _cannot_outgrow(self, events: int, size: int) -> bool:
        """True when `events` more events of `size` bytes in all stay within the budget whatever they hold."""
        ceiling = self._token_ceiling
        return (
            self._bytes <= self._byte_ceiling
            and len(self._texts) + events <= ceiling
            and self._text_bytes + size <= ceiling * CHARS_PER_TOKEN
        )

    def _outgrown(self) -> bool:
        """True once the stream has produced more than the reservation can pay for (with slack)."""
        if self._bytes > self._byte_ceiling:
            return True
        ceiling, few_events = self._token_ceiling, len(self._texts) <= self._token_ceiling
        if few_events and self._text_bytes <= ceiling * CHARS_PER_TOKEN:
            return False  # the events' bytes bound their text from above
        if few_events:
            self._bound_new_texts()
            if self._raw_text_bytes <= ceiling * CHARS_PER_TOKEN:
                return False  # so do the raw bytes of their text values, a closer bound found without parsing
        self._count_new_texts()
        return max(self._text_events, -(-self._text_chars // CHARS_PER_TOKEN)) > ceiling

    def _observe(self, event: bytes) -> bool:
        """Record what the event carries; False when it is the usage-only event the client did not ask for."""
        if any(marker in event for marker in self._wire.text_markers):
            self._texts.append(event)
            self._text_bytes += len(event)
        if b'"usage":{' not in event and b'"usage": {' not in event:
            return True
        payload = _payload_of(event)
        usage = self._wire.usage(payload)
        if usage is None:
            return True
        self.usage = usage
        return not (self._strip_usage_event and isinstance(payload, dict) and payload.get("choices") == [])

    def _bound_new_texts(self) -> None:
        for event in self._texts[self._bounded :]:
            self._raw_text_bytes += sum(map(len, self._wire.text_values.findall(event)))
        self._bounded = len(self._texts)

    def _count_new_texts(self) -> None:
        for event in self._texts[self._counted :]:
            text = self._wire.event_text(_payload_of(event))
            self._text_events += 1 if text else 0
            self._text_chars += len(text)
        self._counted = len(self._texts)

    def produced(self) -> tuple[int, int]:
        """(events with generated text, characters of it): only needed without upstream usage."""
        self._count_new_texts()
        return self._text_events, self._text_chars

    def metered_usage(self) -> Usage | None:
        """What to charge: the upstream's usage, else a count of what was produced; None if nothing was."""
        if self.usage is not None:
            return self.usage
        events, chars = self.produced()
        if not events:
            return None
        completion = max(events, -(-chars // CHARS_PER_TOKEN))
        return Usage(prompt_tokens=self._call.estimated_prompt_tokens(), completion_tokens=completion)


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
