"""Fault switches read from the optional top-level body field `"standin": {...}`."""

from dataclasses import dataclass
from typing import Any

from app.errors import BadRequest
from standin.formats import FORMATS

DEFAULT_CHUNKS = 8

# Ways the stand-in can misbehave like a broken or malicious upstream (see standin.hostile).
HOSTILE_CASES = frozenset(
    {
        "negative_usage",  # usage with negative token counts
        "huge_usage",  # usage far beyond what was asked (but a plausible integer)
        "overflow_usage",  # usage at and beyond 2^63
        "json_for_stream",  # a plain JSON completion although the request asked for a stream
        "stream_for_json",  # an event stream although the request did not ask for one
        "unterminated_event",  # the whole completion in one last event without its closing blank line, no [DONE]
        "endless_stream",  # content events forever, whatever max_tokens says
        "endless_json",  # a JSON completion whose text never ends
        "traceback_500",  # a 500 whose JSON body carries a traceback, paths and keys
        "html_404",  # an HTML error page
        "redirect_307",  # a redirect to another URL (a client that follows re-POSTs the prompt there)
    }
)


@dataclass(frozen=True, slots=True)
class Switches:
    chunks: int = DEFAULT_CHUNKS
    delay_ms: int = 0
    usage: bool = True
    drop_after: int | None = None
    status: int | None = None
    hang: bool = False
    hostile: str | None = None
    format: str | None = None  # replay a recorded upstream's reply (see standin.formats)
    prompt_tokens: int | None = None  # the usage the recording reports
    completion_tokens: int | None = None
    chunk_bytes: int | None = None  # send the recorded stream in chunks of this many bytes, cut anywhere

    @property
    def delay_s(self) -> float:
        return self.delay_ms / 1000


NO_SWITCHES = Switches()


def parse_switches(body: dict[str, Any]) -> Switches:
    raw = body.get("standin")
    if raw is None:
        return NO_SWITCHES
    if not isinstance(raw, dict):
        raise BadRequest("'standin' must be an object")
    return Switches(
        chunks=_count(raw, "chunks", DEFAULT_CHUNKS),
        delay_ms=_count(raw, "delay_ms", 0),
        usage=_flag(raw, "usage", True),
        drop_after=_optional_count(raw, "drop_after"),
        status=_status(raw),
        hang=_flag(raw, "hang", False),
        hostile=_hostile(raw),
        format=_format(raw),
        prompt_tokens=_optional_count(raw, "prompt_tokens"),
        completion_tokens=_optional_count(raw, "completion_tokens"),
        chunk_bytes=_optional_count(raw, "chunk_bytes") or None,
    )


def _format(raw: dict[str, Any]) -> str | None:
    name = raw.get("format")
    if name is not None and name not in FORMATS:
        raise BadRequest(f"'standin.format' must be one of {sorted(FORMATS)}")
    return name if isinstance(name, str) else None


def _hostile(raw: dict[str, Any]) -> str | None:
    case = raw.get("hostile")
    if case is not None and case not in HOSTILE_CASES:
        raise BadRequest(f"'standin.hostile' must be one of {sorted(HOSTILE_CASES)}")
    return case if isinstance(case, str) else None


def _optional_count(raw: dict[str, Any], name: str) -> int | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadRequest(f"'standin.{name}' must be a non-negative integer")
    return value


def _count(raw: dict[str, Any], name: str, default: int) -> int:
    value = _optional_count(raw, name)
    return default if value is None else value


def _flag(raw: dict[str, Any], name: str, default: bool) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise BadRequest(f"'standin.{name}' must be a boolean")
    return value


def _status(raw: dict[str, Any]) -> int | None:
    status = _optional_count(raw, "status")
    if status is not None and not 400 <= status <= 599:
        raise BadRequest("'standin.status' must be an HTTP error status between 400 and 599")
    return status
