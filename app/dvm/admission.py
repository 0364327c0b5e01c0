"""Which delivered events are jobs for this node: well formed, signed by their author, addressed here (or to anyone,
when the operator accepts untargeted jobs), not expired, not from the future, not stale."""

import time

from app.dvm.requests import JOB_KIND
from app.nostr.errors import InvalidEvent
from app.nostr.event import Event, verify_event

MAX_AHEAD_S = 15 * 60  # a job dated further ahead than this is refused (clock skew allowed, no pre-dated spam)
MAX_JOB_AGE_S = 24 * 3600  # a job dated further back is stale: its customer has stopped waiting, and the row that
# would stop it running twice or after a cancellation may have been pruned (app.ledger.dvm_jobs.prune_unpaid)
PRUNE_AFTER_S = MAX_JOB_AGE_S + MAX_AHEAD_S  # a row untouched this long names a job that can no longer be admitted


def admitted(raw: object, node_pubkey: str, accept_untargeted: bool, now: float | None = None) -> Event | None:
    """The job event, or None when it is not one this node should take (dropped silently, as NIP-90 expects)."""
    try:
        event = Event.from_json(raw)
    except InvalidEvent:
        return None
    if event.kind != JOB_KIND or not _addressed(event, node_pubkey, accept_untargeted):
        return None
    if not _timely(event, time.time() if now is None else now):
        return None
    return event if verify_event(event) else None


def _addressed(event: Event, node_pubkey: str, accept_untargeted: bool) -> bool:
    targets = event.tag_values("p")
    return node_pubkey in targets if targets else accept_untargeted


def _timely(event: Event, now: float) -> bool:
    if not now - MAX_JOB_AGE_S <= event.created_at <= now + MAX_AHEAD_S:
        return False
    expiration = event.first_tag("expiration")
    if expiration is None:
        return True
    try:
        return int(expiration) > now
    except ValueError:
        return False
