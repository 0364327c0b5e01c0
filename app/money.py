"""Units of money. Balances and prices are integer millisatoshis everywhere inside the node."""

from typing import NewType

Msat = NewType("Msat", int)
Sat = NewType("Sat", int)

MSAT_PER_SAT = 1000


def sat_to_msat(amount: int) -> Msat:
    return Msat(amount * MSAT_PER_SAT)


def msat_to_sat_floor(amount: int) -> Sat:
    """Whole sats that fit into `amount`; ecash has no sub-sat denominations."""
    return Sat(amount // MSAT_PER_SAT)
