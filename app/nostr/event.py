"""NIP-01 events: canonical serialisation, id, BIP-340 signature and verification."""

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from coincurve import PublicKeyXOnly

from app.nostr.errors import InvalidEvent
from app.nostr.keys import NodeKeys

Tags = tuple[tuple[str, ...], ...]

_HEX_64 = 64
_HEX_128 = 128


@dataclass(frozen=True)
class Event:
    id: str
    pubkey: str
    created_at: int
    kind: int
    tags: Tags
    content: str
    sig: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pubkey": self.pubkey,
            "created_at": self.created_at,
            "kind": self.kind,
            "tags": [list(tag) for tag in self.tags],
            "content": self.content,
            "sig": self.sig,
        }

    @classmethod
    def from_json(cls, data: object) -> "Event":
        """Parse the shape only; call `verify_event` before trusting it."""
        if not isinstance(data, dict):
            raise InvalidEvent("event is not an object")
        try:
            event = cls(
                id=_hex(data["id"], _HEX_64),
                pubkey=_hex(data["pubkey"], _HEX_64),
                created_at=_int(data["created_at"]),
                kind=_int(data["kind"]),
                tags=_tags(data["tags"]),
                content=_str(data["content"]),
                sig=_hex(data["sig"], _HEX_128),
            )
        except KeyError as exc:
            raise InvalidEvent(f"event lacks {exc.args[0]}") from exc
        return event

    def tag_values(self, name: str) -> list[str]:
        """The first value of every tag called `name`."""
        return [tag[1] for tag in self.tags if len(tag) > 1 and tag[0] == name]

    def first_tag(self, name: str) -> str | None:
        values = self.tag_values(name)
        return values[0] if values else None


def canonical_bytes(pubkey: str, created_at: int, kind: int, tags: Tags, content: str) -> bytes:
    payload = [0, pubkey, created_at, kind, [list(tag) for tag in tags], content]
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def event_id(pubkey: str, created_at: int, kind: int, tags: Tags, content: str) -> str:
    return hashlib.sha256(canonical_bytes(pubkey, created_at, kind, tags, content)).hexdigest()


def sign_event(
    keys: NodeKeys,
    kind: int,
    tags: Sequence[Sequence[str]],
    content: str,
    created_at: int | None = None,
) -> Event:
    frozen_tags: Tags = tuple(tuple(tag) for tag in tags)
    stamp = int(time.time()) if created_at is None else created_at
    digest = event_id(keys.pubkey, stamp, kind, frozen_tags, content)
    signature = keys.sign(bytes.fromhex(digest)).hex()
    return Event(digest, keys.pubkey, stamp, kind, frozen_tags, content, signature)


def verify_schnorr(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    """BIP-340 verification; a public key that is not on the curve is simply invalid."""
    try:
        return bool(PublicKeyXOnly(pubkey).verify(signature, message))
    except ValueError:
        return False


def verify_event(event: Event) -> bool:
    """True when the id is the hash of the canonical form and the signature is the author's."""
    expected = event_id(event.pubkey, event.created_at, event.kind, event.tags, event.content)
    if expected != event.id:
        return False
    return verify_schnorr(bytes.fromhex(event.pubkey), bytes.fromhex(event.id), bytes.fromhex(event.sig))


def parse_verified(raw_events: Iterable[object]) -> list[Event]:
    """The well-formed events whose id and signature check out; everything else is dropped silently."""
    events = []
    for raw in raw_events:
        try:
            event = Event.from_json(raw)
        except InvalidEvent:
            continue
        if verify_event(event):
            events.append(event)
    return events


def _hex(value: object, length: int) -> str:
    if not isinstance(value, str) or len(value) != length:
        raise InvalidEvent("bad hex field")
    try:
        bytes.fromhex(value)
    except ValueError as exc:
        raise InvalidEvent("bad hex field") from exc
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidEvent("bad integer field")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidEvent("bad string field")
    return value


def _tags(value: object) -> Tags:
    if not isinstance(value, list) or not all(isinstance(tag, list) for tag in value):
        raise InvalidEvent("tags must be a list of lists")
    return tuple(tuple(_str(item) for item in tag) for tag in value)
