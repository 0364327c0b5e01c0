"""Keysets and keys (NUT-01/02): fees, amount splitting, short keyset ids."""

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from coincurve import PublicKey

from app.cashu.crypto import parse_point
from app.cashu.errors import KeysetUnknown
from app.cashu.tokens import Proof

PPK_PER_UNIT = 1000
_V2_PREFIX = "01"


@dataclass(frozen=True, slots=True)
class KeysetInfo:
    """One entry of GET /v1/keysets."""

    id: str
    unit: str
    active: bool
    input_fee_ppk: int = 0
    final_expiry: int | None = None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> "KeysetInfo":
        return cls(
            id=str(data["id"]),
            unit=str(data["unit"]),
            active=bool(data.get("active", True)),
            input_fee_ppk=int(data.get("input_fee_ppk") or 0),
            final_expiry=_optional_int(data.get("final_expiry")),
        )


@dataclass(frozen=True, slots=True)
class Keyset:
    """A keyset with its public keys (one per power-of-two amount), from GET /v1/keys."""

    id: str
    unit: str
    active: bool
    input_fee_ppk: int
    keys: Mapping[int, str] = field(repr=False)
    final_expiry: int | None = None

    def key_for(self, amount: int) -> PublicKey:
        try:
            return parse_point(self.keys[amount])
        except KeyError:
            raise KeysetUnknown(f"keyset {self.id} has no key for amount {amount}") from None

    @property
    def info(self) -> KeysetInfo:
        return KeysetInfo(self.id, self.unit, self.active, self.input_fee_ppk, self.final_expiry)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "unit": self.unit,
            "active": self.active,
            "input_fee_ppk": self.input_fee_ppk,
            "keys": {str(amount): key for amount, key in sorted(self.keys.items())},
            "final_expiry": self.final_expiry,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> "Keyset":
        return cls(
            id=str(data["id"]),
            unit=str(data["unit"]),
            active=bool(data.get("active", True)),
            input_fee_ppk=int(data.get("input_fee_ppk") or 0),
            keys={int(amount): str(key) for amount, key in data["keys"].items()},
            final_expiry=_optional_int(data.get("final_expiry")),
        )

    from_dict = from_wire


def split_amount(amount: int) -> list[int]:
    """Powers of two that sum to `amount`, smallest first."""
    if amount < 0:
        raise ValueError("amount must not be negative")
    return [1 << bit for bit in range(amount.bit_length()) if amount >> bit & 1]


def input_fee(proofs: Iterable[Proof], fee_ppk_by_keyset: Mapping[str, int]) -> int:
    """NUT-02 fee for spending `proofs`: ceil(sum of each input's keyset input_fee_ppk / 1000)."""
    total_ppk = sum(fee_ppk_by_keyset.get(proof.id, 0) for proof in proofs)
    return -(-total_ppk // PPK_PER_UNIT)


def fee_table(keysets: Iterable[KeysetInfo]) -> dict[str, int]:
    return {keyset.id: keyset.input_fee_ppk for keyset in keysets}


def expand_keyset_id(keyset_id: str, known_ids: Iterable[str]) -> str:
    """The full id of a possibly short (8-byte) one, by unique prefix match against the mint's keysets."""
    keyset_id = keyset_id.lower()
    candidates = [known for known in known_ids if known.lower().startswith(keyset_id)]
    if keyset_id in (known.lower() for known in candidates):
        return keyset_id
    if len(candidates) != 1:
        raise KeysetUnknown(f"keyset {keyset_id} is not one of the mint's keysets")
    return candidates[0]


def expand_proof_ids(proofs: Sequence[Proof], known_ids: Iterable[str]) -> tuple[Proof, ...]:
    """Proofs with full keyset ids, as a mint wants them on /v1/swap."""
    known = list(known_ids)
    expanded = {kid: expand_keyset_id(kid, known) for kid in {proof.id for proof in proofs}}
    return tuple(_with_id(proof, expanded[proof.id]) for proof in proofs)


def choose_output_keyset(keysets: Iterable[KeysetInfo], unit: str = "sat") -> KeysetInfo:
    """The active keyset of `unit` that is cheapest to spend later."""
    active = [keyset for keyset in keysets if keyset.active and keyset.unit == unit]
    if not active:
        raise KeysetUnknown(f"the mint has no active keyset for unit {unit!r}")
    return min(active, key=lambda keyset: keyset.input_fee_ppk)


def derive_keyset_id_v2(keyset: Keyset) -> str:
    """NUT-02 v2 id from the keys, unit and fee: lets the node check a mint's keys match the id it claims."""
    preimage = ",".join(f"{amount}:{keyset.keys[amount].lower()}" for amount in sorted(keyset.keys))
    preimage += f"|unit:{keyset.unit}"
    if keyset.input_fee_ppk > 0:
        preimage += f"|input_fee_ppk:{keyset.input_fee_ppk}"
    if keyset.final_expiry is not None:
        preimage += f"|final_expiry:{keyset.final_expiry}"
    return _V2_PREFIX + hashlib.sha256(preimage.encode("utf-8")).hexdigest()


def _with_id(proof: Proof, keyset_id: str) -> Proof:
    return proof if proof.id == keyset_id else replace(proof, id=keyset_id)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
