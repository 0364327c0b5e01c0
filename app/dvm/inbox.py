"""Where the DVM listens and answers (NIP-65): the node's own relay list (kind 10002), read once at start from
RELAYS. Jobs are taken from its read relays (`["r", url]` or `["r", url, "read"]`); answers go to its write relays
(`["r", url]` or `["r", url, "write"]`) besides those a job names. Without a list, or with no usable relay on one
side, RELAYS serve."""

from collections.abc import Sequence
from dataclasses import dataclass

from app.nostr.announcement import RELAY_LIST_KIND, newest, read_relays, write_relays
from app.nostr.event import Event, parse_verified
from app.nostr.pool import RelayPool, is_relay_url

LOOKUP_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class Inbox:
    read: tuple[str, ...]
    write: tuple[str, ...]


def inbox_from(relay_list: Event | None, relays: Sequence[str]) -> Inbox:
    if relay_list is None:
        return Inbox(tuple(relays), tuple(relays))
    read = [url for url in read_relays(relay_list) if is_relay_url(url)]
    write = [url for url in write_relays(relay_list) if is_relay_url(url)]
    return Inbox(tuple(read or relays), tuple(write or relays))


async def find_inbox(pubkey: str, relays: Sequence[str], timeout_s: float = LOOKUP_TIMEOUT_S) -> Inbox:
    """The node's NIP-65 inbox as RELAYS have it now (a relay that is down simply does not answer)."""
    pool = RelayPool(relays)
    try:
        found = await pool.query([{"kinds": [RELAY_LIST_KIND], "authors": [pubkey]}], timeout_s)
    finally:
        await pool.close()
    lists = [event for event in parse_verified(found) if event.kind == RELAY_LIST_KIND and event.pubkey == pubkey]
    return inbox_from(newest(lists), relays)
