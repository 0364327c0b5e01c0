"""Paying a Lightning invoice with the treasury's ecash as a journaled withdrawal: the melt protocol itself (what
became of a melt, from the mint's word; fee change on NUT-08 blank outputs) is app.payments.melting, shared with
refunds to a Lightning address and foreign swaps; this module maps it onto the journal's outcomes. A melt that provably
never happened is sent again as planned (the same quote, inputs and outputs; the mint pays a quote once)."""

import json

from app.cashu.client import MintClient
from app.payments import melting
from app.payments.melting import Melted, MeltResult
from app.payments.plans import JournaledSwap, scrubbed
from app.payments.settlement import Outcome, Settled

_SETTLED = {
    Melted.OPEN: Settled.UNRESOLVED,
    Melted.UNSPENT: Settled.UNRESOLVED,  # not melted yet: the melt may still be sent
    Melted.NEVER_SENT: Settled.NEVER_SENT,
    Melted.REFUSED: Settled.REFUSED,
    Melted.SPENT_ELSEWHERE: Settled.SPENT_ELSEWHERE,
}


async def send_melt(client: MintClient, melt: JournaledSwap, *, sent_before: bool) -> Outcome:
    """Send the planned melt (again: always the same quote, inputs and outputs) and settle what the answer leaves
    open (app.payments.melting, shared with refunds to a Lightning address and foreign swaps)."""
    plan = melt.plan
    sent = await melting.send_melt(
        client, melt.extra["melt_quote"], plan.inputs, melt.input_ys, plan.outputs, sent_before=sent_before
    )
    return await _outcome(client, melt, sent)


async def resolve_melt(client: MintClient, melt: JournaledSwap) -> Outcome:
    """For a melt left open: check first, and send it again as planned only if it provably never happened."""
    found = await melting.melt_state(client, melt.extra["melt_quote"], melt.input_ys)
    if found.melted is Melted.UNSPENT and melt.plan.inputs:
        return await send_melt(client, melt, sent_before=True)
    return await _outcome(client, melt, found)


async def _outcome(client: MintClient, melt: JournaledSwap, result: MeltResult) -> Outcome:
    if result.melted is not Melted.PAID or result.quote is None:
        return Outcome(_SETTLED.get(result.melted, Settled.UNRESOLVED), refusal=result.refusal)
    change = await melting.change_proofs(client, melt.plan.outputs, result.quote)
    return Outcome(Settled.COMPLETED, change, preimage=result.quote.payment_preimage)


def scrubbed_melt(melt: JournaledSwap) -> str:
    """A settled melt's plan as the journal keeps it (no secrets), with its quote and the invoice's amount."""
    kept = {key: melt.extra[key] for key in ("melt_quote", "melt_amount", "fee_reserve")}
    return json.dumps({**json.loads(scrubbed(melt)), **kept}, separators=(",", ":"))


def melt_amount(op_plan: str | None) -> int:
    """The invoice's amount in sat, from a melt's journaled plan (open or settled)."""
    return int(json.loads(op_plan or "{}").get("melt_amount", 0))
