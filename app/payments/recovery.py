"""Finishing journaled mint operations: the owner's own swap as soon as its answer is in, and every operation left
open (a crash, a transport error, a pending answer, the same token again) later. Never guessed: see settlement.

Only the owner of an operation (app.payments.ownership) sends or recovers it; the periodic sweep runs in one
process per database, and skips operations another live process is working on. An operation that stays
unresolved is tried again with backoff and, after a cap, parked for the operator (`python -m app wallet report`)."""

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from app.cashu.errors import BadMintSignature, TokenAlreadySpent
from app.cashu.tokens import Proof, Token, encode_token_v4
from app.payments.mints import TrustedMints
from app.payments.ownership import Ownership
from app.payments.plans import load_plan, scrubbed, to_new_proofs
from app.payments.settlement import Outcome, Settled, resolve_swap
from app.treasury.records import OPEN_STATES, Operation, OpKind, OpState
from app.treasury.service import Treasury

log = logging.getLogger(__name__)

UNIT = "sat"
SWEEP_LEAD_TTL_S = 15.0
POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff between tries of an unresolved operation, and how many tries before it is parked."""

    first_s: int = 5
    longest_s: int = 900
    cap: int = 20

    def backoff_s(self, attempts: int) -> int:
        return min(self.first_s << max(attempts - 1, 0), self.longest_s)


DEFAULT_RETRIES = RetryPolicy()


class KindSettler(Protocol):
    """Settles an open operation of its own kind for the owner (e.g. app.payments.foreign), writing the outcome."""

    async def settle_owned(self, op: Operation, inputs: Sequence[Proof]) -> None: ...


class Recovery:
    def __init__(
        self,
        treasury: Treasury,
        mints: TrustedMints,
        ownership: Ownership,
        policy: RetryPolicy = DEFAULT_RETRIES,
    ) -> None:
        self._treasury = treasury
        self._mints = mints
        self._ownership = ownership
        self._policy = policy
        self._settlers: dict[str, KindSettler] = {}

    def settle_with(self, kind: OpKind, settler: KindSettler, purpose: str | None = None) -> None:
        """Operations of `kind` (and `purpose`, if given) are settled by `settler` rather than as swaps."""
        self._settlers[kind if purpose is None else f"{kind}:{purpose}"] = settler

    async def recover_open(self) -> int:
        """One sweep over the swaps whose next try is due, by one process per database; returns how many were
        settled."""
        if not await self._ownership.lead("recovery", SWEEP_LEAD_TTL_S):
            return 0
        resolved = 0
        for op in await self._treasury.due_operations():
            if op.kind is not OpKind.LIGHTNING:
                recovered = await self.recover(op)
                resolved += recovered is not None and recovered.state not in OPEN_STATES
        return resolved

    async def recover(self, op: Operation, inputs: Sequence[Proof] = ()) -> Operation | None:
        """Settle one open operation now (checking first, sending again as planned only if it never happened; a
        deposit needs its token's `inputs` for that). None when someone else owns it; else the operation as it
        stands afterwards."""
        async with self._ownership.own(op.id) as owned:
            if not owned:
                return None
            current = await self._reload(op.id)
            if current.state not in OPEN_STATES:
                return current
            settler = self._settlers.get(f"{current.kind}:{current.purpose}") or self._settlers.get(current.kind)
            if settler is not None:
                await settler.settle_owned(current, inputs)
                return await self._reload(op.id)
            swap = load_plan(current.plan).with_inputs(inputs)
            outcome = await resolve_swap(self._mints.client_for_journal(current.mint_url), swap)
            log.info("recovery.outcome op=%s kind=%s outcome=%s", op.id, op.kind, outcome.settled)
            return await self.finish(current, outcome)

    async def settled(self, op_id: str, wait_s: float, inputs: Sequence[Proof] = ()) -> Operation:
        """The operation once settled: recovered here when nobody else owns it, else waited for (reading the
        journal) while its owner works; still open if that takes longer than `wait_s`."""
        deadline = time.monotonic() + wait_s
        while True:
            op = await self._reload(op_id)
            if op.state not in OPEN_STATES:
                return op
            if not await self._ownership.owned_elsewhere(op_id):
                recovered = await self.recover(op, inputs)
                if recovered is not None:
                    return recovered
            if time.monotonic() >= deadline:
                return op
            await asyncio.sleep(POLL_S)

    async def finish(self, op: Operation, outcome: Outcome) -> Operation:
        """Write down what the mint said about an owned operation; the operation as it stands afterwards."""
        if outcome.settled is Settled.UNRESOLVED:
            await self._unresolved(op.id)
        elif op.kind is OpKind.DEPOSIT:
            await self._finish_deposit(op, outcome)
        else:
            await self._finish_refund(op, outcome)
        return await self._reload(op.id)

    async def _unresolved(self, op_id: str) -> None:
        noted = await self._treasury.note_attempt(op_id, self._policy.backoff_s, self._policy.cap)
        if noted is not None and noted.state is OpState.PARKED:
            log.error("payments.parked op=%s kind=%s attempts=%d", op_id, noted.kind, noted.attempts)

    async def _finish_deposit(self, op: Operation, outcome: Outcome) -> None:
        swap = load_plan(op.plan)
        if outcome.settled is Settled.COMPLETED:
            await self._treasury.complete_deposit(
                op.id, to_new_proofs(outcome.proofs, op.mint_url, UNIT), scrubbed(swap)
            )
        else:
            await self._treasury.fail(op.id, failure_code(outcome), scrubbed(swap))

    async def _finish_refund(self, op: Operation, outcome: Outcome) -> None:
        swap = load_plan(op.plan)
        plan = swap.plan
        if outcome.settled is Settled.COMPLETED:
            by_secret = {p.secret: p for p in outcome.proofs}
            ordered = [by_secret[o.secret] for o in plan.outputs.outputs if o.secret in by_secret]
            user_outputs = int(swap.extra["user_outputs"])
            user, change = ordered[:user_outputs], ordered[user_outputs:]
            token = encode_token_v4(Token(mint=plan.mint_url, unit=UNIT, proofs=tuple(user)))
            await self._treasury.complete_refund(op.id, to_new_proofs(change, op.mint_url, UNIT), token, scrubbed(swap))
            return
        if outcome.settled is Settled.SPENT_ELSEWHERE:
            log.error("recovery.refund_inputs_spent_elsewhere op=%s", op.id)
        await self._treasury.undo_refund(
            op.id, failure_code(outcome), inputs_spent=outcome.settled is Settled.SPENT_ELSEWHERE
        )

    async def _reload(self, op_id: str) -> Operation:
        op = await self._treasury.get(op_id)
        assert op is not None, op_id
        return op


def failure_code(outcome: Outcome) -> str:
    """What the journal keeps of an operation that will never happen."""
    if outcome.settled is Settled.NEVER_SENT:
        return "not_executed"
    if outcome.settled is Settled.SPENT_ELSEWHERE:
        return "already_spent"
    if isinstance(outcome.refusal, TokenAlreadySpent):
        return "already_spent"
    if isinstance(outcome.refusal, BadMintSignature):
        return "bad_mint_signature"
    return "invalid"
