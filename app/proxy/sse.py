"""Server-sent events as the WHATWG spec frames them, read incrementally from a byte stream cut anywhere.

`SseFramer` finds where events end (a blank line after LF, CRLF or lone-CR line ends) and hands back each whole event
as the very bytes that came, so they can be passed on unchanged; `event_fields` reads one event's `event:` name and
its `data:` lines joined by LF (comments and other fields are skipped). Events are split on blank lines only, never
inside their JSON, so a chunk boundary can fall anywhere."""

import re
from dataclasses import dataclass

_LF_BOUNDARY = b"\n\n"
# One line end followed by an empty line; a lone CR is a line end only when no LF follows it.
_BOUNDARY = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")
_LINE_END = re.compile(rb"\r\n|\r|\n")


class SseFramer:
    """Whole events out of a byte stream; a torn event waits for the rest of its bytes.

    `feed` returns the bytes of the events now complete and the events one by one. When the data held only LF line
    ends (`lf_only`, the common case, split without copying line ends around) each event is given without its
    closing blank line, which is then `\\n\\n`; otherwise each comes with its own, as it came."""

    __slots__ = ("lf_only", "pending")

    def __init__(self) -> None:
        self.pending = b""
        self.lf_only = True

    def feed(self, chunk: bytes) -> tuple[bytes, list[bytes]]:
        data = self.pending + chunk if self.pending else chunk
        self.lf_only = b"\r" not in data
        if self.lf_only:
            end = data.rfind(_LF_BOUNDARY)
            if end < 0:
                self.pending = data
                return b"", []
            self.pending = data[end + 2 :]
            return data[: end + 2], data[:end].split(_LF_BOUNDARY)
        return self._split_any(data)

    def _split_any(self, data: bytes) -> tuple[bytes, list[bytes]]:
        # A CR at the very end may be the first half of a CRLF: it is judged with the next chunk.
        searched = data[:-1] if data.endswith(b"\r") else data
        events: list[bytes] = []
        start = 0
        for boundary in _BOUNDARY.finditer(searched):
            events.append(data[start : boundary.end()])
            start = boundary.end()
        self.pending = data[start:]
        return data[:start], events

    def whole(self, events: list[bytes]) -> bytes:
        """Some of the events the last `feed` returned, as the bytes that came."""
        return b"".join(event + _LF_BOUNDARY for event in events) if self.lf_only else b"".join(events)

    def flush(self) -> bytes:
        """What is left when the stream ends: an event the upstream did not close with a blank line, or nothing."""
        tail, self.pending = self.pending, b""
        return tail if tail.strip() else b""


@dataclass(frozen=True, slots=True)
class EventFields:
    name: bytes  # the `event:` field, empty when absent (a "message" event)
    data: bytes | None  # `data:` lines joined by LF; None when the event has none (comments only, or blank)


def event_fields(event: bytes) -> EventFields:
    """The `event:` name and the `data:` payload of one whole event; comments and `id:`/`retry:` are skipped."""
    lines = _LINE_END.split(event) if b"\r" in event else event.split(b"\n")
    name = b""
    data: list[bytes] = []
    for line in lines:
        if not line or line[0] == 0x3A:  # blank, or a ":" comment
            continue
        field, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value
    return EventFields(name, b"\n".join(data) if data else None)


def event_data(event: bytes) -> bytes | None:
    return event_fields(event).data
