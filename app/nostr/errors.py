"""Errors of the Nostr adapter."""

from app.errors import NodeError


class InvalidNostrKey(NodeError):
    """The configured NSEC or the stored key file is not a usable secp256k1 secret; start-up stops."""

    default_message = "the Nostr secret key is malformed (expected nsec1... or 64 hex characters)"


class InvalidEvent(NodeError):
    """A Nostr event has the wrong shape, id or signature."""

    default_message = "invalid Nostr event"
