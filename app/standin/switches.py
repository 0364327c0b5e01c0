"""Fault switches read from the optional top-level body field `"standin": {...}`."""

from dataclasses import dataclass
from typing import Any

from app.errors import BadRequest

DEFAULT_CHUNKS = 8


@dataclass(frozen=True, slots=True)
class Switches:
    chunks: int = DEFAULT_CHUNKS
    delay_ms: int = 0
    usage: bool = True
    drop_after: int | None = None
    status: int | None = None
    hang: bool = False

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
    )


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
