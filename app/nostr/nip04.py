"""NIP-04 encryption, for clients that predate NIP-44: AES-256-CBC (PKCS#7 padding) keyed with the ECDH shared x,
as `base64(ciphertext)?iv=base64(iv)`. Unauthenticated and deprecated by NIP-44: the node only answers in it what
arrived in it."""

import base64
import binascii
import os

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from app.nostr.ecdh import shared_x
from app.nostr.keys import NodeKeys

IV_SEPARATOR = "?iv="
_BLOCK_BITS = 128


class Nip04Error(ValueError):
    pass


def is_nip04(payload: str) -> bool:
    """NIP-04's shape (a NIP-44 payload is plain base64, which never holds `?`)."""
    return IV_SEPARATOR in payload


def encrypt(keys: NodeKeys, peer_pubkey: str, plaintext: str, iv: bytes | None = None) -> str:
    iv = os.urandom(16) if iv is None else iv
    padder = padding.PKCS7(_BLOCK_BITS).padder()
    padded = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    encryptor = _cipher(keys, peer_pubkey, iv).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    return f"{_b64(ciphertext)}{IV_SEPARATOR}{_b64(iv)}"


def decrypt(keys: NodeKeys, peer_pubkey: str, payload: str) -> str:
    encoded, separator, encoded_iv = payload.partition(IV_SEPARATOR)
    if not separator:
        raise Nip04Error("not a NIP-04 payload (base64?iv=base64)")
    try:
        ciphertext, iv = base64.b64decode(encoded, validate=True), base64.b64decode(encoded_iv, validate=True)
    except binascii.Error as exc:
        raise Nip04Error("a NIP-04 payload is base64") from exc
    if len(iv) != 16 or not ciphertext or len(ciphertext) % 16:
        raise Nip04Error("a NIP-04 payload has a 16-byte iv and whole AES blocks")
    decryptor = _cipher(keys, peer_pubkey, iv).decryptor()
    unpadder = padding.PKCS7(_BLOCK_BITS).unpadder()
    try:
        plain = unpadder.update(decryptor.update(ciphertext) + decryptor.finalize()) + unpadder.finalize()
        return plain.decode("utf-8")
    except ValueError as exc:  # bad padding or not UTF-8: the wrong key, or a tampered payload
        raise Nip04Error("the NIP-04 payload could not be decrypted") from exc


def _cipher(keys: NodeKeys, peer_pubkey: str, iv: bytes) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(shared_x(keys, peer_pubkey)), modes.CBC(iv))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
