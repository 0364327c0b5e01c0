"""Job inputs that point at other events (`event`, and `job`: another DVM's result, for chaining) are read from the
relays and replaced by their text, so the rest of the node sees only `text` inputs."""

from collections.abc import Awaitable, Callable

from app.dvm.requests import MalformedJob
from app.nostr.event import Event, Tags

Fetch = Callable[[str, tuple[str, ...]], Awaitable[Event | None]]  # (event id, relay hints) -> verified event
EVENT_INPUTS = ("event", "job")
MAX_EVENT_INPUTS = 8


async def resolve_inputs(tags: Tags, fetch: Fetch) -> Tags:
    if sum(1 for tag in tags if _points_at_event(tag)) > MAX_EVENT_INPUTS:
        raise MalformedJob(f"at most {MAX_EVENT_INPUTS} event inputs per job")
    return tuple([await _resolved(tag, fetch) if _points_at_event(tag) else tag for tag in tags])


def _points_at_event(tag: tuple[str, ...]) -> bool:
    return len(tag) > 2 and tag[0] == "i" and tag[2] in EVENT_INPUTS


async def _resolved(tag: tuple[str, ...], fetch: Fetch) -> tuple[str, ...]:
    event_id, hints = tag[1].lower(), tuple(tag[3:4])
    if len(event_id) != 64 or any(c not in "0123456789abcdef" for c in event_id):
        raise MalformedJob(f"input {tag[1][:80]!r} is not an event id")
    event = await fetch(event_id, hints)
    if event is None:
        raise MalformedJob(f"input event {event_id} was not found on the relays")
    if any(t[0] == "encrypted" for t in event.tags) or not event.content.strip():
        raise MalformedJob(f"input event {event_id} has no readable text")
    return ("i", event.content, "text")
