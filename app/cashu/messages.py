"""Wire shapes exchanged with a mint (NUT-00/03/04/05/07/09), as plain frozen dataclasses."""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ProofState(StrEnum):
    UNSPENT = "UNSPENT"
    PENDING = "PENDING"
    SPENT = "SPENT"


@dataclass(frozen=True, slots=True)
class BlindedMessage:
    amount: int
    id: str
    B_: str

    def to_wire(self) -> dict[str, Any]:
        return {"amount": self.amount, "id": self.id, "B_": self.B_}

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> "BlindedMessage":
        return cls(amount=int(data["amount"]), id=str(data["id"]), B_=str(data["B_"]))


@dataclass(frozen=True, slots=True)
class BlindSignature:
    amount: int
    id: str
    C_: str
    dleq_e: str | None = None
    dleq_s: str | None = None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> "BlindSignature":
        dleq = data.get("dleq") or {}
        return cls(
            amount=int(data["amount"]),
            id=str(data["id"]),
            C_=str(data["C_"]),
            dleq_e=dleq.get("e"),
            dleq_s=dleq.get("s"),
        )


@dataclass(frozen=True, slots=True)
class ProofStateEntry:
    Y: str
    state: ProofState

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> "ProofStateEntry":
        return cls(Y=str(data["Y"]), state=ProofState(data["state"]))


@dataclass(frozen=True, slots=True)
class MintQuote:
    quote: str
    request: str
    amount: int | None
    state: str | None

    @property
    def paid(self) -> bool:
        return self.state in ("PAID", "ISSUED")

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> "MintQuote":
        amount = data.get("amount")
        return cls(
            quote=str(data["quote"]),
            request=str(data["request"]),
            amount=int(amount) if amount is not None else None,
            state=data.get("state"),
        )


@dataclass(frozen=True, slots=True)
class MeltQuote:
    quote: str
    amount: int
    fee_reserve: int
    state: str | None
    payment_preimage: str | None = None
    change: tuple[BlindSignature, ...] = ()

    @property
    def paid(self) -> bool:
        return self.state == "PAID"

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> "MeltQuote":
        return cls(
            quote=str(data["quote"]),
            amount=int(data["amount"]),
            fee_reserve=int(data["fee_reserve"]),
            state=data.get("state"),
            payment_preimage=data.get("payment_preimage"),
            change=tuple(BlindSignature.from_wire(sig) for sig in data.get("change") or ()),
        )
