"""NIP-98 HTTP auth: `Authorization: Nostr <base64 of a kind 27235 event>` signed by the caller, whose `u` tag is the
request's absolute URL and `method` tag its method, made within MAX_AGE_S of now. It proves who calls; refusing an
auth event seen before (a replay) is the caller's part, by its id."""

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable

from app.errors import Unauthorized
from app.nostr.errors import InvalidEvent
from app.nostr.event import Event, sign_event, verify_event
from app.nostr.keys import NodeKeys

HTTP_AUTH_KIND = 27235
MAX_AGE_S = 60
SCHEME = "nostr"
MAX_HEADER_CHARS = 16_384


class InvalidHttpAuth(Unauthorized):
    default_message = "missing or invalid NIP-98 authorization (Authorization: Nostr <base64 kind 27235 event>)"


def verify_http_auth(
    authorization: str | None, urls: Iterable[str], method: str, now: float, body: bytes = b""
) -> Event:
    """The signed auth event when it is valid for this request (`urls`: the absolute URLs it may name, e.g. as the
    node sees it and as its public address gives it); InvalidHttpAuth saying why otherwise."""
    event = _event(authorization)
    if event.kind != HTTP_AUTH_KIND or not verify_event(event):
        raise InvalidHttpAuth("the authorization is not a signed kind 27235 event")
    if abs(now - event.created_at) > MAX_AGE_S:
        raise InvalidHttpAuth(f"the authorization event must be made within {MAX_AGE_S} s of the request")
    if _url(event.first_tag("u")) not in {_url(url) for url in urls}:
        raise InvalidHttpAuth("the authorization event's u tag is not this request's URL")
    if (event.first_tag("method") or "").upper() != method.upper():
        raise InvalidHttpAuth("the authorization event's method tag is not this request's method")
    payload = event.first_tag("payload")
    if payload is not None and payload.lower() != hashlib.sha256(body).hexdigest():
        raise InvalidHttpAuth("the authorization event's payload tag is not the hash of this request's body")
    return event


def http_auth_header(keys: NodeKeys, url: str, method: str) -> str:
    """The Authorization header value of a request to `url` signed by `keys` (for a client, such as the CLI)."""
    event = sign_event(keys, HTTP_AUTH_KIND, [["u", url], ["method", method.upper()]], "")
    encoded = base64.b64encode(json.dumps(event.to_json(), separators=(",", ":")).encode()).decode("ascii")
    return f"Nostr {encoded}"


def _event(authorization: str | None) -> Event:
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != SCHEME or not encoded.strip() or len(encoded) > MAX_HEADER_CHARS:
        raise InvalidHttpAuth()
    try:
        return Event.from_json(json.loads(_b64decode(encoded.strip())))
    except (ValueError, InvalidEvent) as exc:  # binascii.Error, UnicodeDecodeError and JSONDecodeError included
        raise InvalidHttpAuth("the authorization is not a base64 JSON Nostr event") from exc


def _b64decode(text: str) -> bytes:
    """Standard base64 as NIP-98 says; the URL-safe alphabet and missing padding are accepted too."""
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except binascii.Error:
        return base64.urlsafe_b64decode(padded)


def _url(url: str | None) -> str:
    return (url or "").strip().rstrip("/")
