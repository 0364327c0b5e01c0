"""The text and cost of a completion the metered proxy path served, JSON or (if the upstream streamed anyway) SSE."""

from collections.abc import Callable
from typing import Any

import orjson

from app.proxy.service import JsonReply, StreamReply


def reply_text(body: bytes) -> str:
    """choices[0].message.content of a chat completion ("" when there is none)."""
    try:
        data = orjson.loads(body)
        return _content(data["choices"][0]["message"])
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return ""


Progress = Callable[[list[str]], None]  # shown the deltas so far after each chunk of a stream


async def stream_text(reply: StreamReply, progress: Progress | None = None) -> str:
    """Drain a metered stream (which settles it) and join its deltas."""
    parts: list[str] = []
    async for chunk in reply.stream.body():
        for line in chunk.splitlines():
            if line.startswith(b"data:") and line[5:].strip() != b"[DONE]":
                parts.append(_delta(line[5:]))
        if progress is not None:
            progress(parts)
    return "".join(parts)


def _delta(payload: bytes) -> str:
    try:
        return _content(orjson.loads(payload)["choices"][0]["delta"])
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return ""


def _content(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


async def text_and_cost(reply: JsonReply | StreamReply) -> tuple[str, int]:
    """A stream's actual cost is settled out of sight: its reservation (the most it cost) is reported instead."""
    if isinstance(reply, JsonReply):
        return reply_text(reply.body), int(reply.headers.get("x-routstr-cost-msats", "0"))
    return await stream_text(reply), int(reply.headers.get("x-routstr-reserved-msats", "0"))
