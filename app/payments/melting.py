"""What became of a melt (NUT-05), from the mint's own word, as settlement does for swaps: the melt is sent once
by its owner; an answer that is missing or says "spent"/"pending" is settled by reading the inputs' states (NUT-07)
and the quote's state, never guessed. Fee change on NUT-08 blank outputs is unblinded here."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from app.cashu.client import MintClient
from app.cashu.errors import (
    CashuError,
    MintRejected,
    MintUnreachable,
    ProofsPending,
    SwapOutcomeUnknown,
    TokenAlreadySpent,
)
from app.cashu.messages import BlindSignature, MeltQuote, ProofState
from app.cashu.outputs import OutputPlan, plan_amounts, proofs_from_signatures
from app.cashu.tokens import Proof


class Melted(StrEnum):
    PAID = "paid"  # the mint paid the invoice
    OPEN = "open"  # pending, unknown or unreachable: ask again later
    UNSPENT = "unspent"  # not melted: the inputs are unspent and the quote unpaid
    NEVER_SENT = "never_sent"  # the first melt provably never reached the mint
    REFUSED = "refused"  # a definite refusal: nothing was spent
    SPENT_ELSEWHERE = "spent_elsewhere"  # the inputs are spent, not for this quote


@dataclass(frozen=True, slots=True)
class MeltResult:
    melted: Melted
    quote: MeltQuote | None = None  # the mint's word on the quote once paid (its change, its preimage)
    refusal: CashuError | None = None


async def send_melt(
    client: MintClient,
    quote_id: str,
    inputs: Sequence[Proof],
    input_ys: Sequence[str],
    blanks: OutputPlan | None = None,
    *,
    sent_before: bool,
) -> MeltResult:
    """Send the melt (again: always the same quote, inputs and blank outputs) and settle what its answer leaves
    open."""
    try:
        quote = await client.melt(quote_id, inputs, blanks.blinded_messages if blanks else ())
    except (SwapOutcomeUnknown, TokenAlreadySpent, ProofsPending):
        return await melt_state(client, quote_id, input_ys)  # another copy of this melt may have done it
    except MintUnreachable:
        return MeltResult(Melted.OPEN if sent_before else Melted.NEVER_SENT)
    except CashuError as refused:
        found = await melt_state(client, quote_id, input_ys)
        return found if found.melted is not Melted.UNSPENT else MeltResult(Melted.REFUSED, refusal=refused)
    return MeltResult(Melted.PAID, quote) if quote.paid else await melt_state(client, quote_id, input_ys)


async def melt_state(client: MintClient, quote_id: str, input_ys: Sequence[str]) -> MeltResult:
    """Inputs first, then the quote: a melt in flight spends (or holds) the inputs before the quote is paid."""
    try:
        states = {entry.state for entry in await client.checkstate(list(input_ys))}
        quote = await client.melt_quote_status(quote_id)
    except (MintUnreachable, MintRejected):
        return MeltResult(Melted.OPEN)
    if quote.paid:
        return MeltResult(Melted.PAID, quote)
    if quote.state == "PENDING" or ProofState.PENDING in states:
        return MeltResult(Melted.OPEN)
    return MeltResult(Melted.SPENT_ELSEWHERE if ProofState.SPENT in states else Melted.UNSPENT)


def plan_blanks(overpaid_at_most: int, keyset_id: str) -> OutputPlan:
    """NUT-08 blank outputs enough to return up to `overpaid_at_most` sats of fee change (one per binary digit)."""
    return plan_amounts([1] * max(overpaid_at_most.bit_length(), 1), keyset_id)


async def change_proofs(client: MintClient, blanks: OutputPlan, quote: MeltQuote) -> tuple[Proof, ...]:
    """The fee change the mint signed on our blank outputs: from its melt answer, else restored (NUT-09)."""
    if not blanks.outputs:
        return ()
    keyset = await client.keys(blanks.keyset_id)
    signatures: Sequence[BlindSignature] = quote.change
    outputs = blanks.outputs[: len(signatures)]
    if not signatures:
        restored = {message.B_: signature for message, signature in await client.restore(blanks.blinded_messages)}
        outputs = tuple(output for output in blanks.outputs if output.B_ in restored)
        signatures = [restored[output.B_] for output in outputs]
    imprinted = OutputPlan(tuple(replace(o, amount=s.amount) for o, s in zip(outputs, signatures, strict=True)))
    return proofs_from_signatures(imprinted, signatures, keyset)
