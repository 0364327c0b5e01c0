"""Turning swap plans into what the wallet journal stores, and back. Pure."""

import json
from collections.abc import Sequence
from typing import Any

from app.cashu.outputs import proof_y
from app.cashu.tokens import Proof
from app.cashu.wallet import SwapPlan
from app.treasury.records import HeldProof, NewProof


def plan_json(plan: SwapPlan, **extra: Any) -> str:
    return json.dumps({**plan.to_dict(), **extra}, separators=(",", ":"))


def load_plan(text: str | None) -> tuple[SwapPlan, dict[str, Any]]:
    data = json.loads(text or "{}")
    return SwapPlan.from_dict(data), data


def scrubbed(plan: SwapPlan) -> str:
    """The plan once settled: spent inputs reduced to their Y (a spent token must not be re-creatable from the
    database, since a token string can be an API key) and no blinding factors."""
    return json.dumps(
        {"mint_url": plan.mint_url, "input_ys": [proof_y(p) for p in plan.inputs], "fee": plan.fee,
         "output_amount": plan.output_amount},
        separators=(",", ":"),
    )  # fmt: skip


def to_new_proofs(proofs: Sequence[Proof], mint_url: str, unit: str) -> list[NewProof]:
    return [NewProof(mint_url, unit, p.id, p.amount, p.secret, p.C) for p in proofs]


def to_proof(held: HeldProof) -> Proof:
    return Proof(id=held.keyset_id, amount=held.amount, secret=held.secret, C=held.c)
