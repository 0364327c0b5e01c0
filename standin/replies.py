"""What the router decides to send; the connection turns these into bytes on the wire."""

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class JsonReply:
    """A whole body at once: JSON, unless `content_type` says otherwise; `headers` are extra (name, value) pairs."""

    status: int
    body: bytes
    delay_s: float = 0.0
    content_type: bytes = b"application/json"
    headers: tuple[tuple[bytes, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class StreamReply:
    """SSE events (each already `data: ...\\n\\n`), sent one HTTP chunk each.

    `delay_s` spaces the events; the last `trailing` ones (the usage chunk, [DONE]) follow the one before them at
    once, as OpenAI sends them together with the finish chunk.
    `drop_at`: write only this many events, then close the connection without the terminating chunk.
    """

    events: list[bytes]
    delay_s: float = 0.0
    drop_at: int | None = None
    trailing: int = 0


@dataclass(frozen=True, slots=True)
class EndlessStream:
    """`first`, then `repeated` as fast as the reader takes it until the reader hangs up, in one chunked 200 reply
    (an event stream, unless `content_type` says otherwise)."""

    repeated: bytes
    first: bytes = b""
    content_type: bytes = b"text/event-stream; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Hang:
    """Read the request and never answer."""


@dataclass(frozen=True, slots=True)
class Drop:
    """Close the connection without any answer."""


Reply = JsonReply | StreamReply | EndlessStream | Hang | Drop

DONE_EVENT = b"data: [DONE]\n\n"


def json_reply(status: int, body: dict[str, Any], delay_s: float = 0.0) -> JsonReply:
    return JsonReply(status, orjson.dumps(body), delay_s)


def sse_event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"
