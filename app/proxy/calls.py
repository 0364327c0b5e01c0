"""One paid LLM call as the node sees it: only the fields it needs are parsed (and type-checked as OpenAI does); the
body goes upstream untouched, except that streams ask the upstream for usage."""

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import orjson

from app.errors import BadRequest
from app.pricing.prices import Usage
from app.proxy.fields import MAX_BEST_OF, MAX_CHOICES, InvalidValue, optional_bool, optional_int, optional_object


class Endpoint(StrEnum):
    CHAT = "/chat/completions"
    COMPLETIONS = "/completions"
    EMBEDDINGS = "/embeddings"
    RESPONSES = "/responses"
    MESSAGES = "/messages"  # Anthropic's Messages API


# Reservations assume at least one token per this many UTF-8 bytes of prompt: an upper bound for most text, so that
# the reservation, not the balance left over, covers the prompt.
RESERVE_BYTES_PER_TOKEN = 3
# Images, audio and files are priced by the upstream in tokens the node cannot count from their bytes: each such
# part reserves this many prompt tokens (a high-detail image is about 1,100 on OpenAI's vision models).
RESERVE_TOKENS_PER_NON_TEXT_PART = 2048
# Best guess when the upstream reports no usage: about four characters per token.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class LlmCall:
    endpoint: Endpoint
    model: str
    stream: bool
    client_wants_usage: bool  # stream_options.include_usage as the client sent it (always, for responses)
    requested_max_tokens: int | None  # max_completion_tokens, max_tokens or max_output_tokens as the client sent it
    max_tokens_field: str  # which one it was
    choices: int  # completions generated for the request: `n`, or `best_of` when larger
    prompt_chars: int
    prompt_bytes: int
    non_text_parts: int
    forward_body: bytes
    # Responses whose input the upstream completes from what it stored (earlier turns, templates): unseen by the node.
    prompt_held_upstream: bool = False
    max_completion_tokens: int = 0  # per choice; set by `bounded` once the model's limits are known
    prompt_floor_tokens: int = 0  # the prompt held upstream may fill this much; set by `bounded`
    prompt_text: str = ""  # counted with the model's tokenizer when the upstream reports no prompt tokens

    def bounded(self, context_length: int | None, operator_limit: int) -> "LlmCall":
        """The call with its completion budget and, when part of its prompt is held upstream, that prompt's bound:
        the rest of the model's context window, or (no window known) the operator's limit."""
        budgeted = replace(self, max_completion_tokens=self._completion_limit(context_length, operator_limit))
        if not self.prompt_held_upstream:
            return budgeted
        window_left = operator_limit if context_length is None else context_length - budgeted.max_completion_tokens
        return replace(budgeted, prompt_floor_tokens=max(0, window_left))

    def _completion_limit(self, context_length: int | None, operator_limit: int) -> int:
        """What the client asked for, refused above the model's limit (its context length when known, else the
        operator's), or the most the upstream could produce."""
        limit = context_length if context_length is not None else operator_limit
        if self.requested_max_tokens is None:
            room = limit if context_length is None else context_length - self.estimated_prompt_tokens()
            return max(0, min(room, operator_limit))
        if self.requested_max_tokens > limit:
            raise InvalidValue(
                f"'{self.max_tokens_field}' is too large: {self.requested_max_tokens}. "
                f"This model supports at most {limit} completion tokens.",
                param=self.max_tokens_field,
            )
        return self.requested_max_tokens

    @property
    def completion_budget(self) -> int:
        """Completion tokens the reservation pays for, over all choices."""
        return 0 if self.endpoint is Endpoint.EMBEDDINGS else self.max_completion_tokens * self.choices

    def max_usage(self) -> Usage:
        prompt = (
            -(-self.prompt_bytes // RESERVE_BYTES_PER_TOKEN) + self.non_text_parts * RESERVE_TOKENS_PER_NON_TEXT_PART
        )
        return Usage(prompt_tokens=max(prompt, self.prompt_floor_tokens), completion_tokens=self.completion_budget)

    def estimated_prompt_tokens(self) -> int:
        return -(-self.prompt_chars // CHARS_PER_TOKEN)


def parse_call(endpoint: Endpoint, body: bytes) -> LlmCall:
    payload = _json_object(body)
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("`model` is required and must be a string", param="model")
    generates = endpoint is not Endpoint.EMBEDDINGS
    stream = generates and optional_bool(payload.get("stream"), "stream")
    wants_usage = generates and _wants_usage(endpoint, payload)
    max_tokens_field, max_tokens = _max_tokens(endpoint, payload) if generates else ("max_tokens", None)
    prompt_text, non_text_parts = _prompt(endpoint, payload)
    if endpoint is Endpoint.RESPONSES:
        _refuse_background(payload)
    return LlmCall(
        endpoint=endpoint,
        model=model,
        stream=stream,
        client_wants_usage=wants_usage,
        requested_max_tokens=max_tokens,
        max_tokens_field=max_tokens_field,
        choices=_choices(endpoint, payload) if generates else 1,
        prompt_chars=len(prompt_text),
        prompt_text=prompt_text,
        prompt_bytes=len(prompt_text.encode()),
        non_text_parts=non_text_parts,
        forward_body=_with_usage_requested(payload) if stream and not wants_usage else body,
        prompt_held_upstream=endpoint is Endpoint.RESPONSES and _prompt_held_upstream(payload),
    )


def _refuse_background(payload: dict[str, Any]) -> None:
    """The upstream would generate a background response after the reply, where the node cannot meter it."""
    if optional_bool(payload.get("background"), "background"):
        raise InvalidValue("'background' responses are not supported: use 'stream' instead.", param="background")


def _prompt_held_upstream(payload: dict[str, Any]) -> bool:
    """Whether the upstream adds input it stored: earlier turns, a conversation, a prompt template, referenced items."""
    if any(payload.get(key) is not None for key in ("previous_response_id", "conversation", "prompt")):
        return True
    items = payload.get("input")
    return isinstance(items, list) and any(isinstance(i, dict) and i.get("type") == "item_reference" for i in items)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise BadRequest("request body must be a JSON object")
    return payload


def _wants_usage(endpoint: Endpoint, payload: dict[str, Any]) -> bool:
    if endpoint in (Endpoint.RESPONSES, Endpoint.MESSAGES):
        return True  # these APIs always report usage in their streams: nothing to ask or hide
    options = optional_object(payload.get("stream_options"), "stream_options")
    return optional_bool(options.get("include_usage"), "stream_options.include_usage")


def _max_tokens(endpoint: Endpoint, payload: dict[str, Any]) -> tuple[str, int | None]:
    if endpoint is Endpoint.RESPONSES:
        return "max_output_tokens", optional_int(payload.get("max_output_tokens"), "max_output_tokens", minimum=0)
    if endpoint is Endpoint.MESSAGES:
        return "max_tokens", _required_max_tokens(payload)
    newer = optional_int(payload.get("max_completion_tokens"), "max_completion_tokens", minimum=0)
    older = optional_int(payload.get("max_tokens"), "max_tokens", minimum=0)
    return ("max_completion_tokens", newer) if newer is not None else ("max_tokens", older)


def _required_max_tokens(payload: dict[str, Any]) -> int:
    """Anthropic requires `max_tokens` (at least 1) on every message."""
    max_tokens = optional_int(payload.get("max_tokens"), "max_tokens", minimum=1)
    if max_tokens is None:
        raise InvalidValue("max_tokens: Field required", param="max_tokens")
    return max_tokens


def _choices(endpoint: Endpoint, payload: dict[str, Any]) -> int:
    if endpoint in (Endpoint.RESPONSES, Endpoint.MESSAGES):
        return 1  # a response or a message has no `n`
    n = optional_int(payload.get("n"), "n", minimum=1, maximum=MAX_CHOICES) or 1
    if endpoint is not Endpoint.COMPLETIONS:
        return n
    best_of = optional_int(payload.get("best_of"), "best_of", minimum=0, maximum=MAX_BEST_OF) or 1
    return max(n, best_of)


def _with_usage_requested(payload: dict[str, Any]) -> bytes:
    options = payload.get("stream_options")
    payload["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    return orjson.dumps(payload)


def _prompt(endpoint: Endpoint, payload: dict[str, Any]) -> tuple[str, int]:
    """The prompt's text (message contents and tool definitions) and how many non-text parts it carries."""
    if endpoint is Endpoint.RESPONSES:
        return _responses_prompt(payload)
    if endpoint is Endpoint.MESSAGES:
        return _messages_prompt(payload)
    if endpoint is not Endpoint.CHAT:
        return _text_of(payload.get("prompt" if endpoint is Endpoint.COMPLETIONS else "input")), 0
    messages = payload.get("messages")
    contents = [m.get("content") for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
    return "".join(map(_text_of, contents)) + _tools_text(payload), sum(map(_non_text_parts, contents))


def _responses_prompt(payload: dict[str, Any]) -> tuple[str, int]:
    """`instructions`, then `input`: a string, or items (messages with content parts, tool calls and their outputs)."""
    given = payload.get("input")
    items = [item for item in given if isinstance(item, dict)] if isinstance(given, list) else []
    fields = [item.get(key) for item in items for key in _ITEM_TEXT_KEYS]
    text = _text_of(given) if isinstance(given, str) else "".join(map(_text_of, fields))
    return _text_of(payload.get("instructions")) + text + _tools_text(payload), sum(map(_non_text_parts, fields))


def _messages_prompt(payload: dict[str, Any]) -> tuple[str, int]:
    """Anthropic's `system`, then each message's content: text blocks, tool results' text, tool calls' input."""
    messages = payload.get("messages")
    contents = [m.get("content") for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
    blocks = [block for content in contents if isinstance(content, list) for block in content]
    nested = [block.get("content") for block in blocks if isinstance(block, dict)]  # tool_result blocks
    inputs = [orjson.dumps(b["input"]).decode() for b in blocks if isinstance(b, dict) and b.get("input") is not None]
    text = _text_of(payload.get("system")) + "".join(map(_text_of, contents + nested)) + "".join(inputs)
    media = sum(1 for b in blocks if isinstance(b, dict) and b.get("type") in _MEDIA_BLOCKS)
    return text + _tools_text(payload), media + sum(map(_non_text_parts, nested))


# Anthropic content blocks priced in tokens the node cannot count from their bytes.
_MEDIA_BLOCKS = frozenset({"image", "document"})
# Where an input item carries text: a message's content, a tool call's arguments, a tool call output.
_ITEM_TEXT_KEYS = ("content", "arguments", "output")


def _tools_text(payload: dict[str, Any]) -> str:
    tools = payload.get("tools")
    return orjson.dumps(tools).decode() if isinstance(tools, list) else ""


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


def _non_text_parts(content: Any) -> int:
    if not isinstance(content, list):
        return 0
    return sum(1 for part in content if isinstance(part, dict) and not isinstance(part.get("text"), str))
