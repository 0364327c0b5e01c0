"""What the ledger hands out: plain dataclasses, never ORM rows."""

from dataclasses import dataclass
from enum import StrEnum


class EntryKind(StrEnum):
    """What moved a balance, and so which sign its ledger row must have."""

    DEPOSIT = "deposit"  # + ecash redeemed for the key
    CHARGE = "charge"  # - a request's actual cost
    REFUND = "refund"  # - the balance paid out as ecash
    REFUND_REVERSED = "refund_reversed"  # + a refund that could not happen, given back
    ADJUSTMENT = "adjustment"  # +/- an operator grant or correction


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    key_hash: str
    balance_msat: int
    reserved_msat: int

    @property
    def available_msat(self) -> int:
        return self.balance_msat - self.reserved_msat


@dataclass(frozen=True, slots=True)
class Reservation:
    request_id: str
    key_id: int
    amount_msat: int


@dataclass(frozen=True, slots=True)
class Settlement:
    request_id: str
    key_id: int
    reserved_msat: int
    charged_msat: int
    unpaid_msat: int  # cost the key could not cover (usage beyond the reservation and the balance)
    balance_after_msat: int


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    key_id: int
    kind: EntryKind
    amount_msat: int
    balance_after_msat: int
    request_id: str | None
    ref: str | None


@dataclass(frozen=True, slots=True)
class Violation:
    key_id: int
    problem: str


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over every key: what came in, what went out, what is still owed to users."""

    deposited_msat: int
    charged_msat: int
    refunded_msat: int
    adjusted_msat: int
    balances_msat: int
    reserved_msat: int
