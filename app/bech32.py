"""BIP-173 bech32 (not bech32m), as NIP-19 uses it for npub/nsec and BOLT-11 for Lightning invoices."""

from collections.abc import Iterable, Sequence

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BECH32_CONSTANT = 1
# NIP-19 TLV strings exceed BIP-173's 90-character limit; bare keys are 63 characters.
MAX_LENGTH = 5000


class Bech32Error(ValueError):
    """A string is not valid bech32 or does not carry the expected prefix."""


def _polymod(values: Iterable[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i, generator in enumerate(_GENERATORS):
            if (top >> i) & 1:
                checksum ^= generator
    return checksum


def _expand_hrp(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _checksum(hrp: str, data: Sequence[int]) -> list[int]:
    polymod = _polymod([*_expand_hrp(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ _BECH32_CONSTANT
    return [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]


def convert_bits(data: Iterable[int], from_bits: int, to_bits: int, *, pad: bool) -> list[int]:
    accumulator = 0
    bits = 0
    result: list[int] = []
    max_value = (1 << to_bits) - 1
    for value in data:
        if value < 0 or value >> from_bits:
            raise Bech32Error("value out of range")
        accumulator = (accumulator << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            result.append((accumulator >> bits) & max_value)
    if pad and bits:
        result.append((accumulator << (to_bits - bits)) & max_value)
    elif not pad and (bits >= from_bits or (accumulator << (to_bits - bits)) & max_value):
        raise Bech32Error("invalid padding")
    return result


def encode(hrp: str, payload: bytes) -> str:
    data = convert_bits(payload, 8, 5, pad=True)
    return hrp + "1" + "".join(CHARSET[d] for d in [*data, *_checksum(hrp, data)])


def decode(text: str) -> tuple[str, bytes]:
    """Split a bech32 string into its prefix and payload bytes, checking the checksum."""
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("mixed case")
    text = text.lower()
    separator = text.rfind("1")
    if separator < 1 or separator + 7 > len(text) or len(text) > MAX_LENGTH:
        raise Bech32Error("bad separator position or length")
    hrp, body = text[:separator], text[separator + 1 :]
    if any(c not in CHARSET for c in body):
        raise Bech32Error("character outside the bech32 alphabet")
    data = [CHARSET.index(c) for c in body]
    if _polymod([*_expand_hrp(hrp), *data]) != _BECH32_CONSTANT:
        raise Bech32Error("bad checksum")
    return hrp, bytes(convert_bits(data[:-6], 5, 8, pad=False))


def decode_prefixed(text: str, expected_hrp: str) -> bytes:
    hrp, payload = decode(text)
    if hrp != expected_hrp:
        raise Bech32Error(f"expected a {expected_hrp} string, got {hrp}")
    return payload
