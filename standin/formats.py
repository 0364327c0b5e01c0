"""Replies recorded in the shapes real upstreams send (`formats/<name>.sse` and `.json`), replayed with a given usage.

The recordings keep each upstream's framing byte for byte (OpenAI's `usage: null` chunks and usage-only last chunk,
OpenRouter's processing comments and `usage.cost`, Anthropic's `event:` lines, vLLM's growing usage, Ollama's usage
chunk, a pretty-printing server's multi-line `data:` and CRLF); only the usage numbers are placeholders, filled
from the request's `standin` switches so a test knows exactly what the upstream reported."""

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from standin.replies import JsonReply, Reply, StreamReply

FORMATS_DIR = Path(__file__).with_name("formats")
FORMATS = frozenset({"openai", "openrouter", "anthropic", "vllm", "ollama", "pretty"})
DEFAULT_PROMPT_TOKENS = 11
DEFAULT_COMPLETION_TOKENS = 9
# OpenRouter-style prices for the recorded cost, USD per token.
PROMPT_USD_PER_TOKEN = 0.15e-6
COMPLETION_USD_PER_TOKEN = 0.6e-6
_CONTENT_TYPES = {"ollama": b"application/json; charset=utf-8"}
# After a blank line, whichever line ends the recording uses: the recorded event boundaries.
_EVENT_ENDS = re.compile(rb"(?<=\n\n)|(?<=\r\n\r\n)")


@dataclass(frozen=True, slots=True)
class RecordedUsage:
    prompt_tokens: int = DEFAULT_PROMPT_TOKENS
    completion_tokens: int = DEFAULT_COMPLETION_TOKENS

    def placeholders(self) -> dict[bytes, bytes]:
        prompt, completion = self.prompt_tokens, self.completion_tokens
        cache_read = prompt // 3  # Anthropic: part of the prompt read from its cache, reported apart
        values: dict[str, object] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "input_tokens": prompt - cache_read,
            "cache_read_tokens": cache_read,
            "prompt_cost": prompt * PROMPT_USD_PER_TOKEN,
            "completion_cost": completion * COMPLETION_USD_PER_TOKEN,
            "cost": prompt * PROMPT_USD_PER_TOKEN + completion * COMPLETION_USD_PER_TOKEN,
        }
        return {b"{{%s}}" % name.encode(): repr(value).encode() for name, value in values.items()}


@functools.cache
def recording(name: str, suffix: str) -> bytes:
    return (FORMATS_DIR / f"{name}.{suffix}").read_bytes()


def filled(name: str, suffix: str, usage: RecordedUsage) -> bytes:
    data = recording(name, suffix)
    for placeholder, value in usage.placeholders().items():
        data = data.replace(placeholder, value)
    return data


def replay(name: str, stream: bool, usage: RecordedUsage, chunk_bytes: int | None, delay_s: float) -> Reply:
    """The recording as it was sent: one HTTP chunk per event, or `chunk_bytes` bytes each, cut anywhere."""
    if not stream:
        body = filled(name, "json", usage)
        return JsonReply(200, body, delay_s, content_type=_CONTENT_TYPES.get(name, b"application/json"))
    data = filled(name, "sse", usage)
    if chunk_bytes:
        pieces = [data[i : i + chunk_bytes] for i in range(0, len(data), chunk_bytes)]
    else:
        pieces = [piece for piece in _EVENT_ENDS.split(data) if piece]
    return StreamReply(pieces, delay_s)
