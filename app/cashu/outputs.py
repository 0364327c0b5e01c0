"""Blinded outputs planned before a request and turned into proofs after it.

A plan is plain data (secrets and blinding factors included) so a wallet can persist it before sending a swap,
mint or melt, and later rebuild the proofs from the mint's signatures or from a NUT-09 restore.
"""

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coincurve import PublicKey

from app.cashu.crypto import (
    CryptoError,
    blind,
    hash_to_curve,
    parse_point,
    point_hex,
    random_scalar,
    unblind,
    verify_blind_signature_dleq,
    verify_proof_dleq,
)
from app.cashu.errors import BadMintSignature
from app.cashu.keysets import Keyset, split_amount
from app.cashu.messages import BlindedMessage, BlindSignature
from app.cashu.tokens import Proof, ProofDleq


@dataclass(frozen=True, slots=True)
class PlannedOutput:
    amount: int
    keyset_id: str
    secret: str
    r: str
    B_: str

    @property
    def blinded_message(self) -> BlindedMessage:
        return BlindedMessage(amount=self.amount, id=self.keyset_id, B_=self.B_)

    def to_dict(self) -> dict[str, Any]:
        return {"amount": self.amount, "id": self.keyset_id, "secret": self.secret, "r": self.r, "B_": self.B_}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PlannedOutput":
        return cls(
            amount=int(data["amount"]),
            keyset_id=str(data["id"]),
            secret=str(data["secret"]),
            r=str(data["r"]),
            B_=str(data["B_"]),
        )


@dataclass(frozen=True, slots=True)
class OutputPlan:
    outputs: tuple[PlannedOutput, ...]

    @property
    def amount(self) -> int:
        return sum(output.amount for output in self.outputs)

    @property
    def keyset_id(self) -> str:
        """The one keyset all outputs are signed with ("" for an empty plan)."""
        return self.outputs[0].keyset_id if self.outputs else ""

    @property
    def blinded_messages(self) -> list[BlindedMessage]:
        return [output.blinded_message for output in self.outputs]

    def to_dict(self) -> dict[str, Any]:
        return {"outputs": [output.to_dict() for output in self.outputs]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "OutputPlan":
        return cls(outputs=tuple(PlannedOutput.from_dict(item) for item in data["outputs"]))


def plan_outputs(amount: int, keyset_id: str) -> OutputPlan:
    """Outputs worth `amount`, one per power of two, with fresh random secrets and blinding factors."""
    return plan_amounts(split_amount(amount), keyset_id)


def plan_amounts(amounts: Iterable[int], keyset_id: str, secret_for: Callable[[], str] | None = None) -> OutputPlan:
    """Outputs of exactly these amounts, in this order (so a caller can tell a send part from its change). Each
    secret is random, or what `secret_for` makes (a NUT-10 spending condition)."""
    make = secret_for or _random_secret
    return OutputPlan(outputs=tuple(_planned_output(amount, keyset_id, make()) for amount in amounts))


def proofs_from_signatures(plan: OutputPlan, signatures: Sequence[BlindSignature], keyset: Keyset) -> tuple[Proof, ...]:
    """Unblind the mint's signatures on a plan's outputs (same order), checking each DLEQ the mint sent."""
    if len(signatures) != len(plan.outputs):
        raise BadMintSignature(f"the mint signed {len(signatures)} of {len(plan.outputs)} outputs")
    return tuple(_proof(output, signature, keyset) for output, signature in zip(plan.outputs, signatures, strict=True))


def restored_proofs(
    plan: OutputPlan, restored: Iterable[tuple[BlindedMessage, BlindSignature]], keyset: Keyset
) -> tuple[Proof, ...]:
    """Proofs for the plan's outputs that a NUT-09 restore says the mint signed; unsigned outputs are left out."""
    by_b = {message.B_: signature for message, signature in restored}
    return tuple(_proof(output, by_b[output.B_], keyset) for output in plan.outputs if output.B_ in by_b)


def proof_y(proof: Proof) -> str:
    """Y = hash_to_curve(secret), the id of a proof in NUT-07 checkstate."""
    return point_hex(hash_to_curve(proof.secret.encode("utf-8")))


def proof_dleq_valid(proof: Proof, keyset: Keyset) -> bool:
    """Offline NUT-12 check of a proof carrying a DLEQ (False when it carries none or it does not verify)."""
    if proof.dleq is None:
        return False
    try:
        return verify_proof_dleq(
            keyset.key_for(proof.amount),
            proof.secret.encode("utf-8"),
            parse_point(proof.C),
            bytes.fromhex(proof.dleq.e),
            bytes.fromhex(proof.dleq.s),
            bytes.fromhex(proof.dleq.r),
        )
    except (CryptoError, ValueError):
        return False


def _random_secret() -> str:
    return secrets.token_hex(32)


def _planned_output(amount: int, keyset_id: str, secret: str) -> PlannedOutput:
    r = random_scalar()
    blinded = blind(secret.encode("utf-8"), r)
    return PlannedOutput(amount=amount, keyset_id=keyset_id, secret=secret, r=r.hex(), B_=point_hex(blinded))


def _proof(output: PlannedOutput, signature: BlindSignature, keyset: Keyset) -> Proof:
    if signature.amount != output.amount or signature.id != keyset.id:
        raise BadMintSignature("the mint signed a different amount or keyset than asked")
    try:
        mint_key = keyset.key_for(output.amount)
        blinded_signature = parse_point(signature.C_)
        r = bytes.fromhex(output.r)
        signature_point = unblind(blinded_signature, r, mint_key)
    except (CryptoError, ValueError) as exc:
        raise BadMintSignature() from exc
    dleq = _checked_dleq(output, signature, mint_key, blinded_signature)
    return Proof(id=keyset.id, amount=output.amount, secret=output.secret, C=point_hex(signature_point), dleq=dleq)


def _checked_dleq(
    output: PlannedOutput, signature: BlindSignature, mint_key: PublicKey, blinded_signature: PublicKey
) -> ProofDleq | None:
    if signature.dleq_e is None or signature.dleq_s is None:
        return None
    try:
        e, s = bytes.fromhex(signature.dleq_e), bytes.fromhex(signature.dleq_s)
        valid = verify_blind_signature_dleq(mint_key, parse_point(output.B_), blinded_signature, e, s)
    except (CryptoError, ValueError):
        valid = False
    if not valid:
        raise BadMintSignature("the mint's DLEQ proof does not verify")
    return ProofDleq(e=signature.dleq_e, s=signature.dleq_s, r=output.r)
