"""What the operator has earned: per mint, the ecash the node holds against what it owes its users, and what may be
withdrawn without touching a msat of anyone's balance.

- held: proofs free in the wallet. Proofs promised to an operation still open (a refund, a withdrawal) count for
  nothing until it settles: that is the safety margin for operations in flight (a refund whose inputs turn out spent
  elsewhere gives the key its money back while the proofs are lost).
- owed: every key's balance (reservations for requests in flight are part of it) plus refunds debited but not yet
  paid (a refund that cannot happen credits its key again).
- withdrawable: held - owed, never below zero, across mints (a balance is not tied to a mint); from one mint at most
  what it holds, and never so much that no mint is left that could refund the largest balance whole (a refund is
  paid from one mint). A withdrawal's own mint fee comes out of it.

`assess` is the arithmetic (pure); `earnings_in` reads the figures in the caller's transaction, so a withdrawal
checks them under the same locks refunds take (app.treasury.withdrawals)."""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from app.db.database import Work
from app.db.tables import api_keys, cashu_operations, wallet_proofs
from app.money import msat_to_sat_ceil, msat_to_sat_floor, sat_to_msat
from app.treasury.proofs import HELD, RESERVED
from app.treasury.records import OPEN_STATES, OpKind

UNIT = "sat"


@dataclass(frozen=True, slots=True)
class MintEarnings:
    mint_url: str
    held_sat: int  # free proofs
    in_flight_sat: int  # promised to operations still open: not counted until they settle
    withdrawable_sat: int  # the most one withdrawal from this mint may take, its fee included


@dataclass(frozen=True, slots=True)
class Owed:
    balances_msat: int  # every key's balance, reservations included
    reserved_msat: int  # of which held for requests in flight
    pending_refunds_msat: int  # debited by refunds not yet paid
    largest_balance_msat: int = 0  # a refund pays a key's balance from one mint: some mint must keep this much

    @property
    def total_msat(self) -> int:
        return self.balances_msat + self.pending_refunds_msat


@dataclass(frozen=True, slots=True)
class Earnings:
    unit: str
    mints: tuple[MintEarnings, ...]
    held_msat: int
    in_flight_msat: int
    owed: Owed
    withdrawable_msat: int  # held - owed, never negative

    def mint(self, mint_url: str) -> MintEarnings | None:
        return next((m for m in self.mints if m.mint_url == mint_url), None)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "owed_msat": self.owed.total_msat}


@dataclass(frozen=True, slots=True)
class MintHeld:
    mint_url: str
    held_sat: int
    in_flight_sat: int


def assess(held: Sequence[MintHeld], owed: Owed, unit: str = UNIT) -> Earnings:
    """The earnings for these holdings and debts (pure)."""
    held_msat = sat_to_msat(sum(m.held_sat for m in held))
    withdrawable_msat = max(0, held_msat - owed.total_msat)
    withdrawable_sat = msat_to_sat_floor(withdrawable_msat)
    largest_sat = msat_to_sat_ceil(owed.largest_balance_msat)
    mints = tuple(
        MintEarnings(m.mint_url, m.held_sat, m.in_flight_sat, min(_spare(m, held, largest_sat), withdrawable_sat))
        for m in held
    )
    in_flight_msat = sat_to_msat(sum(m.in_flight_sat for m in held))
    return Earnings(unit, mints, held_msat, in_flight_msat, owed, withdrawable_msat)


def _spare(mint: MintHeld, held: Sequence[MintHeld], largest_sat: int) -> int:
    """What this mint may give without leaving the largest balance without a mint that can refund it whole."""
    if any(other.held_sat >= largest_sat for other in held if other.mint_url != mint.mint_url):
        return mint.held_sat
    return max(0, mint.held_sat - largest_sat)


def earnings_in(conn: Connection, unit: str = UNIT) -> Earnings:
    return assess(_held_by_mint(conn, unit), _owed(conn), unit)


def current_earnings(unit: str = UNIT) -> Work[Earnings]:
    return lambda conn: earnings_in(conn, unit)


def _held_by_mint(conn: Connection, unit: str) -> list[MintHeld]:
    rows = conn.execute(
        select(wallet_proofs.c.mint_url, wallet_proofs.c.state, func.coalesce(func.sum(wallet_proofs.c.amount), 0))
        .where(wallet_proofs.c.unit == unit, wallet_proofs.c.state.in_([HELD, RESERVED]))
        .group_by(wallet_proofs.c.mint_url, wallet_proofs.c.state)
    ).all()
    by_mint: dict[str, dict[str, int]] = {}
    for mint_url, state, total in rows:
        by_mint.setdefault(mint_url, {HELD: 0, RESERVED: 0})[state] = int(total)
    return [MintHeld(url, sums[HELD], sums[RESERVED]) for url, sums in sorted(by_mint.items())]


def _owed(conn: Connection) -> Owed:
    balances, reserved, largest = conn.execute(
        select(
            func.coalesce(func.sum(api_keys.c.balance_msat), 0),
            func.coalesce(func.sum(api_keys.c.reserved_msat), 0),
            func.coalesce(func.max(api_keys.c.balance_msat), 0),
        )
    ).one()
    pending = conn.scalar(
        select(func.coalesce(func.sum(cashu_operations.c.amount_msat), 0)).where(
            cashu_operations.c.kind == OpKind.REFUND.value,
            cashu_operations.c.state.in_([state.value for state in OPEN_STATES]),
        )
    )
    return Owed(int(balances), int(reserved), int(pending or 0), int(largest))
