"""secp256k1 ECDH between two Nostr keys: the x coordinate of the shared point (what NIP-04 and NIP-44 key from)."""

from coincurve import PublicKey

from app.nostr.keys import NodeKeys


def shared_x(keys: NodeKeys, peer_pubkey: str) -> bytes:
    """32 bytes; the peer's x-only key taken with an even y, as every Nostr client does."""
    point = PublicKey(b"\x02" + bytes.fromhex(peer_pubkey)).multiply(keys.private_key.secret)
    return point.format(compressed=True)[1:]
