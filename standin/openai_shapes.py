"""OpenAI wire objects the stand-in answers with: deterministic content, usage and embeddings (pure functions)."""

import base64
import hashlib
import itertools
import secrets
import struct
import time
from typing import Any

TOKEN = "hi "
EMBEDDING_SIZE = 8
MODEL_IDS = ("standin-small", "standin-large", "standin-embed")
MODELS_CREATED = 1_700_000_000
CONTEXT_LENGTHS = {"standin-small": 32_768, "standin-large": 131_072}  # as OpenRouter-style upstreams list them

_ids = itertools.count(1)
_id_prefix = secrets.token_hex(4)


def next_id(prefix: str) -> str:
    return f"{prefix}-{_id_prefix}{next(_ids)}"


def now() -> int:
    return int(time.time())


def tokens_for_chars(chars: int) -> int:
    return (chars + 3) // 4


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def model_list() -> dict[str, Any]:
    return {"object": "list", "data": [model_object(model_id) for model_id in MODEL_IDS]}


def model_object(model_id: str) -> dict[str, Any]:
    described: dict[str, Any] = {"id": model_id, "object": "model", "created": MODELS_CREATED, "owned_by": "standin"}
    if model_id in CONTEXT_LENGTHS:
        described["context_length"] = CONTEXT_LENGTHS[model_id]
    return described


def error_body(message: str, type_: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": code, "param": None}}


def chat_completion(model: str, content: str, finish_reason: str, usage_: dict[str, int] | None) -> dict[str, Any]:
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": content, "refusal": None},
        "logprobs": None,
        "finish_reason": finish_reason,
    }
    reply = {
        "id": next_id("chatcmpl"),
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": [choice],
    }
    if usage_ is not None:
        reply["usage"] = usage_
    return reply


def text_completion(
    model: str, text: str, finish_reason: str | None, usage_: dict[str, int] | None, completion_id: str = ""
) -> dict[str, Any]:
    """A `text_completion` object; the stream sends the same shape per chunk."""
    choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}
    reply = {
        "id": completion_id or next_id("cmpl"),
        "object": "text_completion",
        "created": now(),
        "model": model,
        "choices": [choice],
    }
    if usage_ is not None:
        reply["usage"] = usage_
    return reply


def chat_chunk(completion_id: str, model: str, delta: dict[str, str], finish_reason: str | None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": now(),
        "model": model,
        "choices": [choice],
    }


def usage_chunk(completion_id: str, object_: str, model: str, usage_: dict[str, int]) -> dict[str, Any]:
    """The last stream event when `stream_options.include_usage` is set: no choices, only usage."""
    return {
        "id": completion_id,
        "object": object_,
        "created": now(),
        "model": model,
        "choices": [],
        "usage": usage_,
    }


def response_usage(input_tokens: int, output_tokens: int, total_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": total_tokens,
    }


def response_object(
    response_id: str, model: str, status: str, output: list[dict[str, Any]], usage_: dict[str, Any] | None
) -> dict[str, Any]:
    """A Responses API `response`; `incomplete` means `max_output_tokens` cut it short."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": now(),
        "status": status,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "text": {"format": {"type": "text"}},
        "usage": usage_,
    }


def embedding_vector(text: str) -> list[float]:
    """Eight floats derived from the text; k/128 values are exact in float32, so base64 and float agree."""
    digest = hashlib.sha256(text.encode()).digest()
    return [(byte - 128) / 128 for byte in digest[:EMBEDDING_SIZE]]


def embedding_list(model: str, texts: list[str], as_base64: bool) -> dict[str, Any]:
    data = [
        {
            "object": "embedding",
            "index": index,
            "embedding": _encode_vector(embedding_vector(text), as_base64),
        }
        for index, text in enumerate(texts)
    ]
    prompt_tokens = sum(tokens_for_chars(len(text)) for text in texts)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def _encode_vector(vector: list[float], as_base64: bool) -> list[float] | str:
    if not as_base64:
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
