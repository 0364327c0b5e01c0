"""What became of a swap, from the mint's own word: never guessed from a refusal.

A swap answered "spent" (11001) or "pending" (11002), or not answered at all, may have been done by another copy of
the very same request (a retry, a late packet, another process): NUT-07 on the inputs and NUT-09 on our planned
outputs tell. An operation whose outputs were signed completes, whoever sent it; one still pending stays open."""

from dataclasses import dataclass
from enum import StrEnum

from app.cashu.client import MintClient
from app.cashu.errors import CashuError, MintUnreachable, ProofsPending, SwapOutcomeUnknown, TokenAlreadySpent
from app.cashu.outputs import proof_y
from app.cashu.tokens import Proof
from app.cashu.wallet import SwapOutcome, SwapPlan, execute_swap, recover_outputs
from app.payments.plans import JournaledSwap


class Settled(StrEnum):
    COMPLETED = "completed"  # our outputs are signed: the proofs are ours
    NEVER_SENT = "never_sent"  # the request provably never reached the mint (first try only)
    REFUSED = "refused"  # a definite refusal (invalid proofs, unbalanced, 4xx): it will never happen
    SPENT_ELSEWHERE = "spent_elsewhere"  # the inputs are spent, not for our outputs
    UNRESOLVED = "unresolved"  # pending, unknown or unreachable: ask again later


@dataclass(frozen=True, slots=True)
class Outcome:
    settled: Settled
    proofs: tuple[Proof, ...] = ()
    refusal: CashuError | None = None
    preimage: str | None = None  # a paid melt's proof of payment (app.payments.melts)


_BY_RECOVERY = {
    SwapOutcome.COMPLETED: Settled.COMPLETED,
    SwapOutcome.SPENT_ELSEWHERE: Settled.SPENT_ELSEWHERE,
    SwapOutcome.PENDING: Settled.UNRESOLVED,
    SwapOutcome.NOT_EXECUTED: Settled.UNRESOLVED,  # after a refusal or no answer: the first copy may still arrive
}


async def send_swap(client: MintClient, plan: SwapPlan, *, sent_before: bool) -> Outcome:
    """Send the planned swap (again: always the same outputs) and settle what the answer leaves open."""
    try:
        return Outcome(Settled.COMPLETED, await execute_swap(client, plan))
    except (SwapOutcomeUnknown, TokenAlreadySpent, ProofsPending):
        return await check_swap(client, JournaledSwap(plan, tuple(proof_y(p) for p in plan.inputs), {}))
    except MintUnreachable:
        return Outcome(Settled.UNRESOLVED if sent_before else Settled.NEVER_SENT)
    except CashuError as refused:
        return Outcome(Settled.REFUSED, refusal=refused)


async def check_swap(client: MintClient, swap: JournaledSwap) -> Outcome:
    """NUT-07 on the inputs, NUT-09 on our outputs; nothing is sent."""
    try:
        found = await recover_outputs(client, swap.input_ys, swap.plan.outputs)
    except MintUnreachable:
        return Outcome(Settled.UNRESOLVED)
    return Outcome(_BY_RECOVERY[found.outcome], found.proofs)


async def resolve_swap(client: MintClient, swap: JournaledSwap) -> Outcome:
    """For an operation left open: check first, and send the planned swap again only if it did not happen (and
    its inputs are at hand: a deposit's come back only with its token)."""
    try:
        found = await recover_outputs(client, swap.input_ys, swap.plan.outputs)
    except MintUnreachable:
        return Outcome(Settled.UNRESOLVED)
    if found.outcome is SwapOutcome.NOT_EXECUTED and swap.plan.inputs:
        return await send_swap(client, swap.plan, sent_before=True)
    return Outcome(_BY_RECOVERY[found.outcome], found.proofs)
