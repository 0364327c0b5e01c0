"""What the node reads of a BOLT-11 Lightning invoice without a Lightning library: the amount it asks (from the
human-readable part), its payment hash and when it expires (from the tagged fields). Nothing here checks the
signature: the mint that pays or issues the invoice is the authority; these serve display and sanity checks."""

import re

from app.bech32 import CHARSET

DEFAULT_BOLT11_EXPIRY_S = 3600
_BOLT11_HRP = re.compile(r"^ln(?:bcrt|bc|tbs|tb|sb)(\d+)([munp]?)$")
_MSAT_PER_UNIT = {"": 100_000_000_000, "m": 100_000_000, "u": 100_000, "n": 100}  # "p": a tenth of a msat
_BOLT11_TRAILER_WORDS = 104 + 6  # signature and checksum
_EXPIRY_TAG = 6  # "x"
_PAYMENT_HASH_TAG = 1  # "p"


def bolt11_expires_at(bolt11: str) -> int | None:
    """When a BOLT-11 invoice expires (unix time): its timestamp plus its `x` field (default one hour). None if the
    text is not a bech32 invoice. Informational only: the mint's quote state decides what is paid."""
    words = _bolt11_words(bolt11)
    if words is None:
        return None
    expiry = DEFAULT_BOLT11_EXPIRY_S
    for tag, data in _tagged_fields(words):
        if tag == _EXPIRY_TAG:
            expiry = _words_to_int(data)
    return _words_to_int(words[:7]) + expiry


def bolt11_payment_hash(bolt11: str) -> str | None:
    """The payment hash (hex) a BOLT-11 invoice carries in its `p` field; None if there is none."""
    for tag, data in _tagged_fields(_bolt11_words(bolt11) or []):
        if tag == _PAYMENT_HASH_TAG and len(data) == 52:  # 256 bits in 5-bit words, 4 bits of padding
            return f"{_words_to_int(data) >> 4:064x}"
    return None


def _bolt11_words(bolt11: str) -> list[int] | None:
    """The data part's 5-bit words (timestamp and tagged fields, without signature and checksum)."""
    text = bolt11.strip().lower().removeprefix("lightning:")
    separator = text.rfind("1")
    if not text.startswith("ln") or separator < 0:
        return None
    try:
        words = [CHARSET.index(char) for char in text[separator + 1 :]][:-_BOLT11_TRAILER_WORDS]
    except ValueError:
        return None
    return words if len(words) >= 7 else None


def _tagged_fields(words: list[int]) -> list[tuple[int, list[int]]]:
    fields, index = [], 7
    while index + 3 <= len(words):
        tag, length = words[index], words[index + 1] * 32 + words[index + 2]
        fields.append((tag, words[index + 3 : index + 3 + length]))
        index += 3 + length
    return fields


def _words_to_int(words: list[int]) -> int:
    value = 0
    for word in words:
        value = value * 32 + word
    return value


def bolt11_amount_msat(bolt11: str) -> int | None:
    """The amount a BOLT-11 invoice asks, in msat (None without one, or for text that is no invoice)."""
    text = bolt11.strip().lower().removeprefix("lightning:")
    match = _BOLT11_HRP.match(text[: text.rfind("1")])
    if match is None:
        return None
    value, multiplier = int(match.group(1)), match.group(2)
    if multiplier == "p":
        return value // 10 if value % 10 == 0 else None
    return value * _MSAT_PER_UNIT[multiplier]
