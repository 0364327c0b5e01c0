"""What the node's wallet journal hands out: plain dataclasses."""

from dataclasses import dataclass
from enum import StrEnum


class OpKind(StrEnum):
    DEPOSIT = "deposit"
    REFUND = "refund"
    LIGHTNING = "lightning"
    FOREIGN = "foreign"  # a token of an untrusted mint, melted there into a Lightning mint at a trusted one


class OpState(StrEnum):
    PLANNED = "planned"
    COMPLETED = "completed"
    FAILED = "failed"
    PARKED = "parked"  # unresolved after every retry: left for the operator (`wallet report`), never sent again


OPEN_STATES = (OpState.PLANNED, OpState.PARKED)


@dataclass(frozen=True, slots=True)
class Operation:
    id: str
    kind: OpKind
    purpose: str
    state: OpState
    mint_url: str
    token_hash: str | None
    target_key_hash: str | None
    key_id: int | None
    amount_msat: int
    plan: str | None
    result: str | None
    error: str | None
    created_at: int
    attempts: int = 0  # unresolved tries with the mint so far
    next_try_at: int = 0  # recovery leaves the operation alone until then (backoff)


@dataclass(frozen=True, slots=True)
class NewProof:
    """A proof the node received, before it is stored (V3 JSON fields)."""

    mint_url: str
    unit: str
    keyset_id: str
    amount: int
    secret: str
    c: str


@dataclass(frozen=True, slots=True)
class HeldProof(NewProof):
    """A proof in the node's wallet, as stored: a new proof with its row id."""

    id: int


@dataclass(frozen=True, slots=True)
class RefundPlan:
    """What the payments layer decided for a refund, inside the refund's transaction: the proofs to swap, the swap
    plan (JSON) and what the key is debited."""

    proof_ids: tuple[int, ...]
    plan_json: str
    debit_msat: int


@dataclass(frozen=True, slots=True)
class MintHoldings:
    mint_url: str
    unit: str
    held_sat: int
    reserved_sat: int
    proofs: int
