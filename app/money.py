"""Units of money. Balances and prices are integer millisatoshis everywhere inside the node; ecash is whole sats."""

from typing import NewType

Msat = NewType("Msat", int)

MSAT_PER_SAT = 1000


def sat_to_msat(amount_sat: int) -> Msat:
    return Msat(amount_sat * MSAT_PER_SAT)


def msat_to_sat_floor(amount_msat: int) -> int:
    """Whole sats that fit into `amount_msat`; ecash has no sub-sat denominations."""
    return amount_msat // MSAT_PER_SAT


def msat_to_sat_ceil(amount_msat: int) -> int:
    """Whole sats that cover `amount_msat` (what must be kept to pay it out as ecash)."""
    return -(-amount_msat // MSAT_PER_SAT)
