"""The wallet audit against the mints themselves (`python -m app wallet report --verify`).

The books can balance while the ecash behind them is gone, so each mint is asked about every proof the journal names:
- held proofs must be UNSPENT and spent ones SPENT (NUT-07, by Y = hash_to_curve(secret), in batches);
- a credited deposit's token must be SPENT: the mint took it, so the credit is backed;
- a paid refund's token must be the mint's own money. NUT-07 cannot tell this alone: a mint answers UNSPENT for any
  Y it never saw, real or made up. So each proof's DLEQ (NUT-12, which our refunds always carry) is verified against
  the mint's public key for its amount, its state must be UNSPENT, PENDING or SPENT, and the token must be worth what
  the key was debited less the mint's fee;
- no failed operation may have outputs the mint signed (NUT-09 restore of its blinded messages): a swap the node gave
  up on while the mint did it means ecash issued to nobody (a lost deposit) or a refund both paid and given back.
Proofs promised to an operation still open (planned, or parked for the operator) are in flight and not judged. A mint
that cannot be asked leaves what it would have told as differences ("not verified"): the audit passes only on the
mints' word."""

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from app.cashu.client import MintClient
from app.cashu.crypto import hash_to_curve, point_hex
from app.cashu.errors import CashuError, MintUnreachable
from app.cashu.keysets import expand_proof_ids
from app.cashu.messages import BlindedMessage, ProofState
from app.cashu.outputs import proof_dleq_valid
from app.cashu.tokens import Proof, decode_token, normalize_mint_url
from app.db.database import Database
from app.money import sat_to_msat
from app.treasury.inventory import AuditedProof, proofs_with_operations, settled_operations
from app.treasury.records import OPEN_STATES, Operation, OpKind, OpState

CHECKSTATE_BATCH = 100
ANY_REAL_STATE = frozenset({ProofState.UNSPENT, ProofState.PENDING, ProofState.SPENT})
MintClients = Callable[[str], MintClient]


@dataclass(frozen=True, slots=True)
class Difference:
    """One place where the node's journal and the mint disagree."""

    mint_url: str
    subject: str  # "proof 12", "deposit <op id>", "refund <op id>"
    problem: str
    amount_sat: int


@dataclass(frozen=True, slots=True)
class _Expectation:
    mint_url: str
    y: str
    allowed: frozenset[ProofState]
    subject: str
    problem: str
    amount_sat: int


@dataclass
class MintVerification:
    proofs_checked: int = 0
    in_flight: int = 0
    operations_checked: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


async def verify_with_mints(db: Database, clients: MintClients) -> MintVerification:
    """Ask each mint about everything the node's wallet journal says about its ecash (see the module's text)."""
    result = MintVerification()
    expected = _proof_expectations(await db.run(proofs_with_operations()), result)
    for op in await db.run(settled_operations()):
        result.operations_checked += 1
        try:
            expected += await _operation_expectations(op, clients, result)
        except (MintUnreachable, CashuError) as failure:
            result.differences.append(Difference(op.mint_url, f"{op.kind.value} {op.id}",
                                                 f"not verified: {type(failure).__name__}", 0))  # fmt: skip
    result.proofs_checked = len(expected)
    await _check_states(expected, clients, result)
    return result


def _proof_expectations(proofs: Iterable[AuditedProof], result: MintVerification) -> list[_Expectation]:
    expected = []
    for proof in proofs:
        subject, y = f"proof {proof.id}", _y(proof.secret)
        if proof.state == "held":
            expected.append(_Expectation(proof.mint_url, y, frozenset({ProofState.UNSPENT}), subject,
                                         "held by the node but spent at the mint", proof.amount))  # fmt: skip
        elif proof.state == "spent":
            expected.append(_Expectation(proof.mint_url, y, frozenset({ProofState.SPENT}), subject,
                                         "spent by the node but unspent at the mint", proof.amount))  # fmt: skip
            if proof.operation_state is OpState.FAILED:
                written_off = "written off: spent by an operation that failed"
                result.differences.append(Difference(proof.mint_url, subject, written_off, proof.amount))
        elif proof.operation_state in OPEN_STATES:
            result.in_flight += 1
        else:
            result.differences.append(
                Difference(proof.mint_url, subject, "reserved by an operation that is no longer open", proof.amount)
            )
    return expected


async def _operation_expectations(op: Operation, clients: MintClients, result: MintVerification) -> list[_Expectation]:
    plan = json.loads(op.plan or "{}")
    subject = f"{op.kind.value} {op.id}"
    if op.state is OpState.FAILED:
        await _check_nothing_signed(op, plan, clients, result)
        return []
    if op.kind in (OpKind.DEPOSIT, OpKind.FOREIGN):  # a foreign swap's token was spent at its own mint
        token_mint = plan.get("foreign_url", op.mint_url)
        return [
            _Expectation(token_mint, y, frozenset({ProofState.SPENT}), subject,
                         "credited, but the mint never spent the token", 0)
            for y in plan.get("input_ys", [])
        ]  # fmt: skip
    if op.purpose == "lightning":  # paid to a Lightning address: no token; its proofs are checked as spent
        return []
    return await _refund_expectations(op, plan, clients, result)


async def _refund_expectations(
    op: Operation, plan: dict[str, Any], clients: MintClients, result: MintVerification
) -> list[_Expectation]:
    subject = f"refund {op.id}"
    token = decode_token(op.result or "")
    problems = []
    if normalize_mint_url(token.mint) != op.mint_url:
        problems.append(f"the token names another mint ({token.mint})")
    if sat_to_msat(token.amount + int(plan.get("fee", 0))) != op.amount_msat:
        problems.append(f"the token is worth {token.amount} sat for a debit of {op.amount_msat} msat")
    client = clients(op.mint_url)
    proofs = expand_proof_ids(token.proofs, [keyset.id for keyset in await client.keysets()])
    unsigned = await _proofs_without_valid_dleq(client, proofs)
    if unsigned:
        problems.append(f"{len(unsigned)} proofs carry no valid DLEQ of the mint: not proven to be its money")
    result.differences += [Difference(op.mint_url, subject, problem, token.amount) for problem in problems]
    return [
        _Expectation(op.mint_url, _y(p.secret), ANY_REAL_STATE, subject, "a refund proof the mint gave no state for",
                     p.amount)
        for p in proofs
    ]  # fmt: skip


async def _proofs_without_valid_dleq(client: MintClient, proofs: Sequence[Proof]) -> list[Proof]:
    failing = []
    for proof in proofs:
        try:
            valid = proof_dleq_valid(proof, await client.keys(proof.id))
        except CashuError:
            valid = False
        if not valid:
            failing.append(proof)
    return failing


async def _check_nothing_signed(
    op: Operation, plan: dict[str, Any], clients: MintClients, result: MintVerification
) -> None:
    outputs = _blinded_outputs(plan)
    if not outputs:
        return
    signed = await clients(op.mint_url).restore(outputs)
    if signed:
        amount = sum(message.amount for message, _ in signed)
        what = "deposit: the mint issued ecash for it to nobody" if op.kind is OpKind.DEPOSIT else "refund"
        result.differences.append(
            Difference(op.mint_url, f"{op.kind.value} {op.id}", f"failed {what}, but the mint signed its outputs",
                       amount)
        )  # fmt: skip


def _blinded_outputs(plan: dict[str, Any]) -> list[BlindedMessage]:
    """An open plan's outputs, or the blinded messages a settled plan keeps (without secrets or blinding factors)."""
    planned = plan.get("outputs", {}).get("outputs", []) if isinstance(plan.get("outputs"), dict) else []
    return [BlindedMessage.from_wire(item) for item in [*planned, *plan.get("blinded_outputs", [])]]


async def _check_states(expected: Sequence[_Expectation], clients: MintClients, result: MintVerification) -> None:
    by_mint: dict[str, list[_Expectation]] = defaultdict(list)
    for expectation in expected:
        by_mint[expectation.mint_url].append(expectation)
    for mint_url, wanted in by_mint.items():
        for start in range(0, len(wanted), CHECKSTATE_BATCH):
            batch = wanted[start : start + CHECKSTATE_BATCH]
            by_y, unanswered = await _states_by_y(clients(mint_url), [e.y for e in batch])
            result.differences += [
                Difference(e.mint_url, e.subject, f"{e.problem} ({by_y.get(e.y, unanswered)})", e.amount_sat)
                for e in batch
                if by_y.get(e.y) not in e.allowed
            ]


async def _states_by_y(client: MintClient, ys: list[str]) -> tuple[dict[str, ProofState], str]:
    """The mint's state of each Y (NUT-07), and what to show for a Y it gave none for."""
    try:
        return {entry.Y: entry.state for entry in await client.checkstate(ys)}, "no answer"
    except (MintUnreachable, CashuError) as failure:
        return {}, type(failure).__name__


def _y(secret: str) -> str:
    return point_hex(hash_to_curve(secret.encode("utf-8")))
