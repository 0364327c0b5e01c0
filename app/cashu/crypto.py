"""NUT-00 blind Diffie-Hellman key exchange and NUT-12 DLEQ verification on secp256k1 (wallet side).

Points travel as compressed SEC1 bytes (33 bytes, hex on the wire); scalars as 32-byte big-endian bytes.
"""

import hashlib
import secrets

from coincurve import PrivateKey, PublicKey

DOMAIN_SEPARATOR = b"Secp256k1_HashToCurve_Cashu_"
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_MAX_COUNTER = 2**16


class CryptoError(ValueError):
    """A point or scalar that is not valid on secp256k1."""


def hash_to_curve(message: bytes) -> PublicKey:
    """Y = hash_to_curve(x): the first valid `02 || sha256(msg_hash || counter_le32)` point."""
    msg_hash = hashlib.sha256(DOMAIN_SEPARATOR + message).digest()
    for counter in range(_MAX_COUNTER):
        candidate = b"\x02" + hashlib.sha256(msg_hash + counter.to_bytes(4, "little")).digest()
        try:
            return PublicKey(candidate)
        except ValueError:
            continue
    raise CryptoError("no curve point found for message")


def parse_point(data: bytes | str) -> PublicKey:
    raw = bytes.fromhex(data) if isinstance(data, str) else data
    try:
        return PublicKey(raw)
    except (ValueError, TypeError) as exc:
        raise CryptoError("invalid curve point") from exc


def point_hex(point: PublicKey) -> str:
    return bytes(point.format(compressed=True)).hex()


def random_scalar() -> bytes:
    """A uniformly random non-zero scalar below the curve order."""
    return (secrets.randbelow(CURVE_ORDER - 1) + 1).to_bytes(32, "big")


def negate(point: PublicKey) -> PublicKey:
    # On secp256k1, -P has the same x and the opposite y parity: flip the compressed prefix.
    raw = bytes(point.format(compressed=True))
    return PublicKey(bytes([raw[0] ^ 0x01]) + raw[1:])


def add(*points: PublicKey) -> PublicKey:
    try:
        return PublicKey.combine_keys(list(points))
    except ValueError as exc:
        raise CryptoError("point sum is the point at infinity") from exc


def mul_base(scalar: bytes) -> PublicKey:
    try:
        return PrivateKey(scalar).public_key
    except ValueError as exc:
        raise CryptoError("invalid scalar") from exc


def mul(point: PublicKey, scalar: bytes) -> PublicKey:
    try:
        return point.multiply(scalar)
    except ValueError as exc:
        raise CryptoError("invalid scalar") from exc


def blind(secret: bytes, r: bytes) -> PublicKey:
    """B_ = Y + rG."""
    return add(hash_to_curve(secret), mul_base(r))


def unblind(blinded_signature: PublicKey, r: bytes, mint_key: PublicKey) -> PublicKey:
    """C = C_ - rK."""
    return add(blinded_signature, negate(mul(mint_key, r)))


def hash_e(*points: PublicKey) -> bytes:
    """NUT-12 challenge: sha256 over the concatenated hex of the uncompressed points, as UTF-8 text."""
    text = "".join(bytes(point.format(compressed=False)).hex() for point in points)
    return hashlib.sha256(text.encode("utf-8")).digest()


def verify_blind_signature_dleq(
    mint_key: PublicKey, blinded_message: PublicKey, blinded_signature: PublicKey, e: bytes, s: bytes
) -> bool:
    """Alice's check that C_ = kB_ for the same k as A = kG: e == hash(sG - eA, sB_ - eC_, A, C_)."""
    try:
        r1 = add(mul_base(s), negate(mul(mint_key, e)))
        r2 = add(mul(blinded_message, s), negate(mul(blinded_signature, e)))
    except CryptoError:
        return False
    return hash_e(r1, r2, mint_key, blinded_signature) == e


def verify_proof_dleq(mint_key: PublicKey, secret: bytes, signature: PublicKey, e: bytes, s: bytes, r: bytes) -> bool:
    """Carol's check of a proof carrying (e, s, r): rebuild B_ = Y + rG and C_ = C + rA, then verify."""
    try:
        blinded_message = blind(secret, r)
        blinded_signature = add(signature, mul(mint_key, r))
    except CryptoError:
        return False
    return verify_blind_signature_dleq(mint_key, blinded_message, blinded_signature, e, s)
