"""Counting tokens the upstream did not report: OpenAI's own BPE where it fits the model, else about four characters a
token.

The BPE ranks come inside the `bpe-openai` wheel (o200k_base, cl100k_base), so nothing is downloaded at run time.
The package is loaded on first use only (it takes tens of MB and most of a second), in a worker thread, so a node
whose upstreams always report usage never pays for it and the event loop never waits on it."""

import asyncio
import functools
import warnings
from typing import Protocol

CHARS_PER_TOKEN = 4

# Model names (after any `vendor/` prefix) and the encoding OpenAI uses for them; longest prefix first.
_ENCODINGS = (
    ("gpt-4o", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("gpt-oss", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("codex-", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"),
    ("text-embedding-ada-002", "cl100k_base"),
)


class _Encoding(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


def encoding_for(model: str) -> str | None:
    """The BPE that fits `model` (e.g. `gpt-4o-mini`, `openai/gpt-4.1`), or None when none is known to."""
    name = model.rsplit("/", 1)[-1].lower()
    for prefix, encoding in _ENCODINGS:
        if name.startswith(prefix):
            return encoding
    return None


@functools.cache
def _encoding(name: str) -> _Encoding:
    with warnings.catch_warnings():  # bpe-openai 0.1.4 reads its data with a deprecated importlib.resources call
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai  # type: ignore[import-untyped]  # loaded on first need only (see the module docstring)

        encoding: _Encoding = bpe_openai.get_encoding(name)
    return encoding


def chars_rule(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def count_tokens_now(model: str, text: str) -> int:
    """Tokens of `text` as `model` counts them (its BPE, else the four-characters rule). Blocks while the BPE loads."""
    if not text:
        return 0
    name = encoding_for(model)
    if name is None:
        return chars_rule(text)
    return len(_encoding(name).encode_ordinary(text))


async def count_tokens(model: str, text: str) -> int:
    """`count_tokens_now` off the event loop when it needs the BPE."""
    if not text or encoding_for(model) is None:
        return chars_rule(text)
    return await asyncio.to_thread(count_tokens_now, model, text)
