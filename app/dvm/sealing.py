"""How an encrypted job's secrets travel: NIP-44 v2, or NIP-04 for older clients, told apart by the content's shape.
The node answers sealed the way the job came."""

from enum import StrEnum

from app.nostr import nip04, nip44
from app.nostr.event import Event
from app.nostr.keys import NodeKeys


class Sealing(StrEnum):
    NIP44 = "nip44"
    NIP04 = "nip04"


class Unreadable(ValueError):
    pass


def sealing_of(event: Event) -> Sealing | None:
    """None for a job in the clear (no `encrypted` tag)."""
    if not any(tag[0] == "encrypted" for tag in event.tags):
        return None
    return Sealing.NIP04 if nip04.is_nip04(event.content) else Sealing.NIP44


def unseal(keys: NodeKeys, peer_pubkey: str, payload: str, sealing: Sealing) -> str:
    try:
        if sealing is Sealing.NIP04:
            return nip04.decrypt(keys, peer_pubkey, payload)
        return nip44.decrypt(keys, peer_pubkey, payload)
    except ValueError as exc:  # Nip04Error, Nip44Error, bad UTF-8
        raise Unreadable(str(exc)) from exc


def seal(keys: NodeKeys, peer_pubkey: str, text: str, sealing: Sealing) -> str:
    if sealing is Sealing.NIP04:
        return nip04.encrypt(keys, peer_pubkey, text)
    return nip44.encrypt(keys, peer_pubkey, text)
