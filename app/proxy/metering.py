"""What a reply actually used: the upstream's `usage` when it sends a believable one, else a count of what it
produced; and how far a reply may grow before the node cuts it off."""

import re
from dataclasses import dataclass
from typing import Any

import orjson

from app.pricing.prices import Usage
from app.proxy.calls import CHARS_PER_TOKEN, Endpoint, LlmCall
from app.proxy.sse import SseFramer, event_data
from app.proxy.tokenize import chars_rule, count_tokens, encoding_for
from app.proxy.usage import NOTHING, Reported
from app.proxy.wire import wire_format

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


@dataclass(frozen=True, slots=True)
class Metered:
    """What a reply is charged for, and what the upstream said the call cost it (OpenRouter; logged, not charged)."""

    usage: Usage
    upstream_cost_usd: float | None = None
    counted: bool = False  # some of `usage` was counted by the node, not reported by the upstream


async def meter_json_reply(call: LlmCall, body: bytes) -> Metered:
    """A reply labelled JSON: its believable usage, else its generated text counted; a body that is really an event
    stream is metered as one."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        if body.lstrip().startswith((b"data:", b"event:", b":")):
            return await _meter_events(call, body)
        # delivered but unreadable here: every byte is taken for generated text (the reservation caps it)
        usage = Usage(
            prompt_tokens=call.estimated_prompt_tokens(), completion_tokens=chars_rule(body.decode("latin-1"))
        )
        return Metered(usage, counted=True)
    wire = wire_format(call.endpoint)
    reported = wire.reported(payload)
    text = "" if reported.completion_tokens is not None else wire.reply_text(payload)
    return await _settled(call, reported, Produced(1 if text else 0, text))


async def _meter_events(call: LlmCall, body: bytes) -> Metered:
    meter = SseMeter(call)
    meter.feed(body)
    meter.flush()
    metered = await meter.metered()
    return metered or Metered(Usage(prompt_tokens=call.estimated_prompt_tokens(), completion_tokens=0), counted=True)


@dataclass(frozen=True, slots=True)
class Produced:
    """Generated text the node saw: how many events (or replies) carried some, and the text itself."""

    events: int
    text: str


async def _settled(call: LlmCall, reported: Reported, produced: Produced) -> Metered:
    """Reported fields as they are, the others counted: the prompt from the request, the completion from the text
    (at least a token per event that carried text)."""
    prompt, completion = reported.prompt_tokens, reported.completion_tokens
    if prompt is None:
        prompt = await _prompt_tokens(call)
    if completion is None:
        completion = max(produced.events, await count_tokens(call.model, produced.text))
    counted = reported.prompt_tokens is None or reported.completion_tokens is None
    usage = Usage(prompt_tokens=prompt, completion_tokens=completion)
    return Metered(usage, reported.cost_usd, counted)


async def _prompt_tokens(call: LlmCall) -> int:
    if encoding_for(call.model) is None or not call.prompt_text:
        return call.estimated_prompt_tokens()
    return await count_tokens(call.model, call.prompt_text)


# A usage object that is not null: the only events worth decoding for usage. Generous on purpose (a word "usage"
# in generated text matches too and merely costs a decode); `"usage": null` on every OpenAI chunk does not.
_MAY_CARRY_USAGE = re.compile(rb'"usage"\s*+:\s*+(?!null)')


class SseMeter:
    """Follows an SSE stream event by event: notes the usage events report, counts the generated text (bounded from
    above by the bytes of the events that may carry it, then by the raw bytes of their text values; parsed only when
    both bounds pass the budget or no usage came), and drops the usage-only event when the node, not the client,
    asked for it. Returns only whole events, as the bytes that came, so the client never sees a torn one."""

    def __init__(self, call: LlmCall) -> None:
        self._call = call
        self._wire = wire_format(call.endpoint)
        self._may_carry_text = self._wire.text_marker.search
        self._strip_usage_event = not call.client_wants_usage
        self._token_ceiling = token_ceiling(call)
        self._byte_ceiling = byte_ceiling(call)
        self._framer = SseFramer()
        self._bytes = 0
        self._texts: list[bytes] = []
        self._text_bytes = 0  # bytes of the events in _texts
        self._bounded = 0  # events of _texts whose text values' raw bytes are in _raw_text_bytes
        self._raw_text_bytes = 0
        self._counted = 0  # events of _texts already parsed into the counts below
        self._text_events = 0
        self._text_chars = 0
        self._text_parts: list[str] = []
        self.reported = NOTHING
        self.over_budget = False  # once True, nothing more is delivered

    def feed(self, chunk: bytes) -> bytes:
        self._bytes += len(chunk)
        complete, events = self._framer.feed(chunk)
        if not events:
            return b""
        kept = self._within_budget(events, len(complete))
        if len(kept) == len(events):
            return complete
        return self._framer.whole(kept)

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
        tail = self._framer.flush()
        if not tail:
            return b""
        tail = tail.rstrip(b"\r\n")
        kept = self._within_budget([tail], len(tail))
        return kept[0] + b"\n\n" if kept else b""

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
        if self._may_carry_text(event) is not None:
            self._texts.append(event)
            self._text_bytes += len(event)
        if _MAY_CARRY_USAGE.search(event) is None:
            return True
        payload = _payload_of(event)
        reported = self._wire.reported(payload)
        if not reported.anything:
            return True
        self.reported = self.reported.then(reported)
        return not (self._strip_usage_event and isinstance(payload, dict) and payload.get("choices") == [])

    def _bound_new_texts(self) -> None:
        for event in self._texts[self._bounded :]:
            self._raw_text_bytes += sum(map(len, self._wire.text_values.findall(event)))
        self._bounded = len(self._texts)

    def _count_new_texts(self) -> None:
        for event in self._texts[self._counted :]:
            text = self._wire.event_text(_payload_of(event))
            if text:
                self._text_events += 1
                self._text_chars += len(text)
                self._text_parts.append(text)
        self._counted = len(self._texts)

    async def metered(self) -> Metered | None:
        """What to charge: the upstream's usage, what it did not report counted; None if nothing was produced."""
        if self.reported.completion_tokens is None:
            self._count_new_texts()
        if not self.reported.anything and not self._text_events:
            return None
        produced = Produced(self._text_events, "".join(self._text_parts))
        return await _settled(self._call, self.reported, produced)


def _payload_of(event: bytes) -> Any:
    data = event_data(event)
    if data is None or data == b"[DONE]":
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
