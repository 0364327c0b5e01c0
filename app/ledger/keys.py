"""API keys: random, shown once, stored only as a hash."""

import hashlib
import secrets

KEY_PREFIX = "sk-"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_hex(32)


def hash_key(key: str) -> str:
    """sha256 is enough: keys carry 256 random bits (or are ecash tokens), so no slow KDF is needed."""
    return hashlib.sha256(key.encode()).hexdigest()
