"""NIP-44 v2 encryption between two Nostr keys: secp256k1 ECDH, HKDF-SHA256, padded ChaCha20 and HMAC-SHA256.

Pure Python (RFC 8439 ChaCha20 over ints): payloads are job requests and results of a few KiB, so speed is no issue
and no native dependency is needed."""

import base64
import hashlib
import hmac
import os
import struct

from app.nostr.ecdh import shared_x
from app.nostr.keys import NodeKeys

VERSION = 2
_SALT = b"nip44-v2"
_MIN_PLAIN, _MAX_PLAIN = 1, 65535
_MASK = 0xFFFFFFFF


class Nip44Error(ValueError):
    pass


def conversation_key(keys: NodeKeys, peer_pubkey: str) -> bytes:
    return hmac.new(_SALT, shared_x(keys, peer_pubkey), hashlib.sha256).digest()


def encrypt(keys: NodeKeys, peer_pubkey: str, plaintext: str, nonce: bytes | None = None) -> str:
    nonce = os.urandom(32) if nonce is None else nonce
    chacha_key, chacha_nonce, hmac_key = _message_keys(conversation_key(keys, peer_pubkey), nonce)
    ciphertext = _chacha20(chacha_key, chacha_nonce, _pad(plaintext.encode("utf-8")))
    mac = hmac.new(hmac_key, nonce + ciphertext, hashlib.sha256).digest()
    return base64.b64encode(bytes([VERSION]) + nonce + ciphertext + mac).decode("ascii")


def decrypt(keys: NodeKeys, peer_pubkey: str, payload: str) -> str:
    if not payload or payload.startswith("#"):
        raise Nip44Error("unknown encryption version")
    try:
        raw = base64.b64decode(payload, validate=True)
    except ValueError as exc:
        raise Nip44Error("payload is not base64") from exc
    if len(raw) < 99 or raw[0] != VERSION:
        raise Nip44Error("not a NIP-44 v2 payload")
    nonce, ciphertext, mac = raw[1:33], raw[33:-32], raw[-32:]
    chacha_key, chacha_nonce, hmac_key = _message_keys(conversation_key(keys, peer_pubkey), nonce)
    if not hmac.compare_digest(mac, hmac.new(hmac_key, nonce + ciphertext, hashlib.sha256).digest()):
        raise Nip44Error("invalid MAC")
    return _unpad(_chacha20(chacha_key, chacha_nonce, ciphertext)).decode("utf-8")


def _message_keys(key: bytes, nonce: bytes) -> tuple[bytes, bytes, bytes]:
    if len(nonce) != 32:
        raise Nip44Error("nonce must be 32 bytes")
    okm, block = b"", b""
    for counter in (1, 2, 3):  # HKDF-expand to 76 bytes
        block = hmac.new(key, block + nonce + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:32], okm[32:44], okm[44:76]


def padded_length(length: int) -> int:
    if length <= 32:
        return 32
    next_power = 1 << (length - 1).bit_length()
    chunk = 32 if next_power <= 256 else next_power // 8
    return chunk * ((length - 1) // chunk + 1)


def _pad(plain: bytes) -> bytes:
    if not _MIN_PLAIN <= len(plain) <= _MAX_PLAIN:
        raise Nip44Error("plaintext must be 1 to 65535 bytes")
    return struct.pack(">H", len(plain)) + plain + bytes(padded_length(len(plain)) - len(plain))


def _unpad(padded: bytes) -> bytes:
    length = struct.unpack(">H", padded[:2])[0]
    plain = padded[2 : 2 + length]
    if length < _MIN_PLAIN or len(plain) != length or len(padded) != 2 + padded_length(length):
        raise Nip44Error("invalid padding")
    return plain


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) & _MASK) | (value >> (32 - shift))


def _quarter(state: list[int], a: int, b: int, c: int, d: int) -> None:
    state[a] = (state[a] + state[b]) & _MASK
    state[d] = _rotl(state[d] ^ state[a], 16)
    state[c] = (state[c] + state[d]) & _MASK
    state[b] = _rotl(state[b] ^ state[c], 12)
    state[a] = (state[a] + state[b]) & _MASK
    state[d] = _rotl(state[d] ^ state[a], 8)
    state[c] = (state[c] + state[d]) & _MASK
    state[b] = _rotl(state[b] ^ state[c], 7)


_ROUNDS = ((0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15),
           (0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14))  # fmt: skip


def _block(key_words: tuple[int, ...], counter: int, nonce_words: tuple[int, ...]) -> bytes:
    initial = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574, *key_words, counter, *nonce_words]
    state = list(initial)
    for _ in range(10):
        for a, b, c, d in _ROUNDS:
            _quarter(state, a, b, c, d)
    return struct.pack("<16I", *((s + i) & _MASK for s, i in zip(state, initial, strict=True)))


def _chacha20(key: bytes, nonce: bytes, data: bytes) -> bytes:
    """RFC 8439 ChaCha20 with the block counter starting at 0 (NIP-44 uses no Poly1305)."""
    key_words, nonce_words = struct.unpack("<8I", key), struct.unpack("<3I", nonce)
    out = bytearray()
    for index in range(0, len(data), 64):
        stream = _block(key_words, index // 64, nonce_words)
        out += bytes(x ^ y for x, y in zip(data[index : index + 64], stream, strict=False))
    return bytes(out)
