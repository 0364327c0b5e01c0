"""Paying a Lightning invoice with the treasury's ecash (NUT-05 melt), the unused fee reserve coming back on blank
outputs (NUT-08). What became of a melt is the mint's word, never guessed: the quote's state (NUT-05), the inputs'
states (NUT-07) and a restore of the blank outputs (NUT-09). A melt that provably never happened is sent again as
planned (the same quote, inputs and outputs; the mint pays a quote once); an expired quote is refused, and then
the inputs go back to the treasury."""

import asyncio
import json
from collections.abc import Iterable
from dataclasses import replace

from app.cashu.client import MintClient
from app.cashu.errors import CashuError, MintUnreachable, ProofsPending, SwapOutcomeUnknown, TokenAlreadySpent
from app.cashu.messages import BlindedMessage, BlindSignature, ProofState
from app.cashu.outputs import OutputPlan, restored_proofs
from app.cashu.tokens import Proof
from app.payments.plans import JournaledSwap, scrubbed
from app.payments.settlement import Outcome, Settled

UNPAID = "UNPAID"  # NUT-05 quote states: UNPAID, PENDING, PAID


async def send_melt(client: MintClient, melt: JournaledSwap, *, sent_before: bool) -> Outcome:
    """Send the planned melt (again: always the same quote, inputs and outputs) and settle what the answer leaves
    open."""
    plan = melt.plan
    try:
        answer = await client.melt(melt.extra["melt_quote"], plan.inputs, plan.outputs.blinded_messages)
    except (SwapOutcomeUnknown, TokenAlreadySpent, ProofsPending):
        return await check_melt(client, melt)
    except MintUnreachable:
        return Outcome(Settled.UNRESOLVED if sent_before else Settled.NEVER_SENT)
    except CashuError as refused:
        return Outcome(Settled.REFUSED, refusal=refused)
    if not answer.paid:
        return await check_melt(client, melt)
    pairs = zip(plan.outputs.blinded_messages, answer.change, strict=False)
    return Outcome(Settled.COMPLETED, await _change(client, plan.outputs, pairs), preimage=answer.payment_preimage)


async def check_melt(client: MintClient, melt: JournaledSwap) -> Outcome:
    """The quote's state and, unpaid, the inputs' states; nothing is sent."""
    outcome, _ = await _inspect(client, melt)
    return outcome


async def resolve_melt(client: MintClient, melt: JournaledSwap) -> Outcome:
    """For a melt left open: check first, and send it again as planned only if it provably never happened."""
    outcome, never_executed = await _inspect(client, melt)
    if never_executed and melt.plan.inputs:
        return await send_melt(client, melt, sent_before=True)
    return outcome


async def _inspect(client: MintClient, melt: JournaledSwap) -> tuple[Outcome, bool]:
    """What the mint says of the melt, and whether it provably never happened (quote unpaid, inputs unspent)."""
    try:
        quote = await client.melt_quote_status(melt.extra["melt_quote"])
        if quote.paid:
            restored = await client.restore(melt.plan.outputs.blinded_messages)
            change = await _change(client, melt.plan.outputs, restored)
            return Outcome(Settled.COMPLETED, change, preimage=quote.payment_preimage), False
        states = {entry.state for entry in await client.checkstate(list(melt.input_ys))}
    except MintUnreachable:
        return Outcome(Settled.UNRESOLVED), False
    unpaid = quote.state == UNPAID
    if unpaid and ProofState.SPENT in states:
        return Outcome(Settled.SPENT_ELSEWHERE), False
    return Outcome(Settled.UNRESOLVED), unpaid and states == {ProofState.UNSPENT}


def scrubbed_melt(melt: JournaledSwap) -> str:
    """A settled melt's plan as the journal keeps it (no secrets), with its quote and the invoice's amount."""
    kept = {key: melt.extra[key] for key in ("melt_quote", "melt_amount", "fee_reserve")}
    return json.dumps({**json.loads(scrubbed(melt)), **kept}, separators=(",", ":"))


def melt_amount(op_plan: str | None) -> int:
    """The invoice's amount in sat, from a melt's journaled plan (open or settled)."""
    return int(json.loads(op_plan or "{}").get("melt_amount", 0))


async def _change(
    client: MintClient, outputs: OutputPlan, signed: Iterable[tuple[BlindedMessage, BlindSignature]]
) -> tuple[Proof, ...]:
    """Proofs from the signatures on our blank outputs, each worth what the mint gave it."""
    pairs = list(signed)
    if not pairs:
        return ()
    amounts = {message.B_: signature.amount for message, signature in pairs}
    valued = OutputPlan(tuple(replace(o, amount=amounts[o.B_]) for o in outputs.outputs if o.B_ in amounts))
    keyset = await client.keys(outputs.keyset_id)
    return await asyncio.to_thread(restored_proofs, valued, pairs, keyset)
