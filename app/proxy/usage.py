"""Usage as upstreams report it, per API, and the rule that combines what a stream reports over several events.

Each field is taken from the last event that reports it: OpenAI-style streams send one final usage (or, as vLLM
with continuous usage stats, a growing one on every chunk), Anthropic's send the prompt in `message_start` and the
final completion count in `message_delta`. A field nobody reported is counted by the node from what it saw.
OpenRouter adds what the call cost it (`usage.cost`, USD): kept alongside and logged, never charged."""

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)

# Reported usage above this many tokens per field is not believed (no context window comes near it).
MAX_REPORTED_TOKENS = 100_000_000
# OpenRouter's cost of one call, in USD, above which it is ignored as nonsense.
MAX_REPORTED_COST_USD = 1_000_000.0


@dataclass(frozen=True, slots=True)
class Reported:
    """What one reply or event says about usage; None where it says nothing."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None

    def then(self, later: "Reported") -> "Reported":
        """This report updated by a later one: each field from the later report when it has it."""
        return Reported(
            prompt_tokens=_later(self.prompt_tokens, later.prompt_tokens),
            completion_tokens=_later(self.completion_tokens, later.completion_tokens),
            cost_usd=_later(self.cost_usd, later.cost_usd),
        )

    @property
    def anything(self) -> bool:
        return self.prompt_tokens is not None or self.completion_tokens is not None


NOTHING = Reported()
_T = TypeVar("_T")


def _later(earlier: _T | None, later: _T | None) -> _T | None:
    return earlier if later is None else later


class Unbelievable(ValueError):
    """A usage field that is present but not a sane token count."""


def _tokens(value: Any) -> int | None:
    """None when absent or null; a count when it is a non-negative integer up to MAX_REPORTED_TOKENS."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_REPORTED_TOKENS:
        return value
    raise Unbelievable()


def _cost(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    cost = float(value)
    return cost if math.isfinite(cost) and 0 <= cost <= MAX_REPORTED_COST_USD else None


def _believed(read: Callable[[dict[str, Any]], Reported], usage: Any) -> Reported:
    """`read(usage)`, or nothing (and a warning) when a field it holds is not a sane token count."""
    if not isinstance(usage, dict):
        return NOTHING
    try:
        reported = read(usage)
    except Unbelievable:
        log.warning("metering.usage_rejected: the upstream reported usage that is not a sane token count")
        return NOTHING
    return reported


def _openai_fields(usage: dict[str, Any]) -> Reported:
    return Reported(
        _tokens(usage.get("prompt_tokens")), _tokens(usage.get("completion_tokens")), _cost(usage.get("cost"))
    )


def chat_reported(payload: Any) -> Reported:
    """`usage` of a chat/text completion, a chunk or an embedding list (with OpenRouter's `cost` when present)."""
    usage = payload.get("usage") if isinstance(payload, dict) else None
    return _believed(_openai_fields, usage)


def _responses_fields(usage: dict[str, Any]) -> Reported:
    return Reported(_tokens(usage.get("input_tokens")), _tokens(usage.get("output_tokens")), _cost(usage.get("cost")))


# The Responses stream events that end a response; each carries the whole response object, usage included.
RESPONSE_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def response_reported(payload: Any) -> Reported:
    """`usage` of a response object, or of the response a final stream event carries (no other event's)."""
    if isinstance(payload, dict) and "type" in payload:  # a stream event; a response object has no `type`
        payload = payload.get("response") if payload["type"] in RESPONSE_FINAL_EVENTS else None
    usage = payload.get("usage") if isinstance(payload, dict) else None
    return _believed(_responses_fields, usage)


def _anthropic_prompt(usage: dict[str, Any]) -> int | None:
    """Anthropic's `input_tokens` leave out the prompt read from or written to its cache: all three are the prompt."""
    parts = [_tokens(usage.get(k)) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
    return None if parts[0] is None else sum(part or 0 for part in parts)


def _anthropic_fields(usage: dict[str, Any]) -> Reported:
    return Reported(_anthropic_prompt(usage), _tokens(usage.get("output_tokens")), _cost(usage.get("cost")))


def _anthropic_prompt_only(usage: dict[str, Any]) -> Reported:
    # message_start's output_tokens is a placeholder (1 or so): the final count comes in message_delta
    return Reported(prompt_tokens=_anthropic_prompt(usage))


def message_reported(payload: Any) -> Reported:
    """Usage of an Anthropic message, or of a stream event: `message_start` gives the prompt, `message_delta` the
    final (cumulative) completion count and, in newer versions, the prompt again."""
    if not isinstance(payload, dict):
        return NOTHING
    if payload.get("type") == "message_start":
        message = payload.get("message")
        return _believed(_anthropic_prompt_only, message.get("usage") if isinstance(message, dict) else None)
    return _believed(_anthropic_fields, payload.get("usage"))
