"""Turning swap plans into what the wallet journal stores, and back. Pure.

A deposit's inputs are the depositor's token, and a token string can be an API key (Bearer, X-Cashu): the journal
never holds them, not even for a moment (a database's old pages and write-ahead log keep what was overwritten).
It keeps their Ys (enough for NUT-07) and our planned outputs (NUT-09); sending such a swap again needs the token
presented again. A refund's inputs are the node's own proofs, already in its wallet table: kept."""

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from app.cashu.outputs import proof_y
from app.cashu.tokens import Proof
from app.cashu.wallet import SwapPlan
from app.treasury.records import HeldProof, NewProof


@dataclass(frozen=True, slots=True)
class JournaledSwap:
    plan: SwapPlan  # without inputs when the journal does not keep them
    input_ys: tuple[str, ...]
    extra: dict[str, Any]

    def with_inputs(self, inputs: Sequence[Proof]) -> "JournaledSwap":
        """The same swap, sendable again with the inputs of a token presented again (when they are its inputs)."""
        if self.plan.inputs or tuple(proof_y(p) for p in inputs) != self.input_ys:
            return self
        return replace(self, plan=replace(self.plan, inputs=tuple(inputs)))


def plan_json(plan: SwapPlan, *, keep_inputs: bool = True, **extra: Any) -> str:
    data = {**plan.to_dict(), "input_ys": [proof_y(p) for p in plan.inputs], **extra}
    if not keep_inputs:
        data["inputs"] = []
    return json.dumps(data, separators=(",", ":"))


def load_plan(text: str | None) -> JournaledSwap:
    data = json.loads(text or "{}")
    plan = SwapPlan.from_dict(data)
    return JournaledSwap(plan, tuple(data.get("input_ys") or (proof_y(p) for p in plan.inputs)), data)


def scrubbed(swap: JournaledSwap) -> str:
    """The plan once settled: inputs reduced to their Y, no secrets and no blinding factors. The blinded messages
    stay, so that an audit can ask the mint (NUT-09) whether it signed them for an operation marked failed."""
    blinded = [message.to_wire() for message in swap.plan.outputs.blinded_messages]
    return json.dumps(
        {"mint_url": swap.plan.mint_url, "input_ys": list(swap.input_ys), "fee": swap.plan.fee,
         "output_amount": swap.plan.output_amount, "blinded_outputs": blinded},
        separators=(",", ":"),
    )  # fmt: skip


def to_new_proofs(proofs: Sequence[Proof], mint_url: str, unit: str) -> list[NewProof]:
    return [NewProof(mint_url, unit, p.id, p.amount, p.secret, p.C) for p in proofs]


def to_proof(held: HeldProof) -> Proof:
    return Proof(id=held.keyset_id, amount=held.amount, secret=held.secret, C=held.c)
