"""The API key a paid `create` invoice makes: random, stored as its hash (the account's key) and, until it is handed
out, sealed with the invoice id, which the journal keeps only hashed. The database alone cannot rebuild it, and the
invoice id stops being worth anything once the key was handed out (once, to the first status call that finds the
invoice paid): an invoice id that leaks later (a URL in a log) opens nothing."""

import hashlib

from app.ledger.keys import KEY_PREFIX, hash_key, new_api_key


def _pad(invoice_id: str) -> bytes:
    return hashlib.sha256(b"routstr-node/lightning-key\x00" + invoice_id.encode()).digest()


def _xor(data: bytes, pad: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, pad, strict=True))


def new_sealed_key(invoice_id: str) -> tuple[str, str]:
    """(hash of a new random key, the key sealed with the invoice id)."""
    key = new_api_key()
    return hash_key(key), _xor(bytes.fromhex(key.removeprefix(KEY_PREFIX)), _pad(invoice_id)).hex()


def unsealed_key(sealed: str, invoice_id: str, key_hash: str | None) -> str | None:
    """The key, if `invoice_id` is the one it was sealed with (its hash matches); None otherwise."""
    key = KEY_PREFIX + _xor(bytes.fromhex(sealed), _pad(invoice_id)).hex()
    return key if hash_key(key) == key_hash else None
