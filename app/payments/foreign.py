"""Tokens of mints the node does not trust, swapped in over Lightning: the first trusted mint issues an invoice
(NUT-04 mint quote), the token's own mint pays it by melting the token (NUT-05), then the node mints at the trusted
mint and credits what arrived, once.

Sizing: amount + the melt's fee reserve + the token mint's input fee <= the token's value. No NUT-08 blank outputs
go with the melt: their change would be ecash of a mint the node does not trust, so the part of the fee reserve the
payment did not use (and any rounding) stays at the token's mint and is not credited.

Journaled like every swap (kind `foreign`, keyed by the token's hash, owned through `op:<id>`) before the melt goes
out; the journal keeps the inputs' Ys, both quotes and our planned outputs, never the token's proofs. What happened
is read from the mints' word: the melt quote's state (PAID -> mint at the trusted mint, or NUT-09 restore if that
was done; PENDING -> later), and NUT-07 on the inputs when it is unpaid (spent elsewhere fails the operation;
unspent is sent again only with the token at hand, as for a deposit)."""

import json
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from app.cashu.client import MintClient
from app.cashu.errors import (
    CashuError,
    MintRejected,
    MintUnreachable,
    SwapFeesExceedAmount,
    TokenAlreadySpent,
    TokenZeroValue,
    UntrustedMint,
)
from app.cashu.keysets import choose_output_keyset, expand_proof_ids, fee_table, input_fee
from app.cashu.outputs import OutputPlan, plan_outputs, proof_y, proofs_from_signatures, restored_proofs
from app.cashu.tokens import Proof, Token, normalize_mint_url
from app.payments.melting import Melted, MeltResult, melt_state, send_melt
from app.payments.mints import TrustedMints
from app.payments.outbound import outbound_url_refusal
from app.payments.plans import to_new_proofs
from app.payments.recovery import DEFAULT_RETRIES, UNIT, RetryPolicy
from app.treasury.records import Operation
from app.treasury.service import Treasury

log = logging.getLogger(__name__)
T = TypeVar("T")

SIZING_TRIES = 3  # a smaller amount has a smaller fee reserve: a second quote nearly always fits


class ForeignSwapFailed(CashuError):
    default_message = "the token's mint could not pay this node's mint; pay with a token of a mint this node accepts"


# What the journal keeps of a swap that will never happen. A refused melt spent nothing: like one never sent, the
# same token may be planned again (app.treasury.journal.begin_operation replaces it).
_FAILURE_CODES = {
    Melted.NEVER_SENT: "not_executed",
    Melted.REFUSED: "not_executed",
    Melted.SPENT_ELSEWHERE: "already_spent",
}


@dataclass(frozen=True, slots=True)
class ForeignPlan:
    """What the journal keeps of a foreign swap. `outputs` (ours, at the trusted mint) is None once settled."""

    foreign_url: str
    input_ys: tuple[str, ...]
    token_sat: int
    input_fee: int
    amount_sat: int  # what the trusted mint issues, and the key is credited
    mint_quote: str
    bolt11: str
    melt_quote: str
    fee_reserve: int
    outputs: OutputPlan | None

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "foreign_url": self.foreign_url, "input_ys": list(self.input_ys), "token_sat": self.token_sat,
            "input_fee": self.input_fee, "amount_sat": self.amount_sat, "mint_quote": self.mint_quote,
            "bolt11": self.bolt11, "melt_quote": self.melt_quote, "fee_reserve": self.fee_reserve,
        }  # fmt: skip
        if self.outputs is not None:
            data["outputs"] = self.outputs.to_dict()
        return json.dumps(data, separators=(",", ":"))

    def scrubbed_json(self) -> str:
        """Settled: no secrets or blinding factors; the blinded messages stay for the audit (NUT-09)."""
        data = json.loads(replace(self, outputs=None).to_json())
        blinded = self.outputs.blinded_messages if self.outputs is not None else []
        data["blinded_outputs"] = [message.to_wire() for message in blinded]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> "ForeignPlan":
        data = json.loads(text or "{}")
        outputs = OutputPlan.from_dict(data["outputs"]) if "outputs" in data else None
        return cls(
            str(data["foreign_url"]), tuple(data["input_ys"]), int(data["token_sat"]), int(data["input_fee"]),
            int(data["amount_sat"]), str(data["mint_quote"]), str(data["bolt11"]), str(data["melt_quote"]),
            int(data["fee_reserve"]), outputs,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class PlannedSwapIn:
    plan: ForeignPlan
    inputs: tuple[Proof, ...]  # the token's proofs with full keyset ids: in memory only
    trusted_url: str  # normalised: where the proofs land


async def _foreign(answer: Awaitable[T]) -> T:
    """A call to the token's own mint: that it cannot be reached is the token's problem (422, try another mint),
    not an outage of this node (503 is for the mints it trusts)."""
    try:
        return await answer
    except MintUnreachable as unreachable:
        raise ForeignSwapFailed(f"the token's mint is unreachable: {unreachable.message}") from unreachable


def check_foreign_mint_url(url: str, *, allow_private: bool) -> None:
    """A token chooses the mint the node calls: see app.payments.outbound."""
    refusal = outbound_url_refusal(url, allow_private=allow_private)
    if refusal is not None:
        raise ForeignSwapFailed(f"the token's mint is not called by this node: {refusal}")


class ForeignSwaps:
    def __init__(
        self,
        treasury: Treasury,
        mints: TrustedMints,
        *,
        policy: RetryPolicy = DEFAULT_RETRIES,
        allow_private: bool = False,
    ) -> None:
        self._treasury = treasury
        self._mints = mints
        self._policy = policy
        self._allow_private = allow_private

    async def plan(self, token: Token) -> PlannedSwapIn:
        """Quotes at both mints sized so that the token pays the invoice and its fees; nothing is spent."""
        if token.amount <= 0:
            raise TokenZeroValue()
        check_foreign_mint_url(normalize_mint_url(token.mint), allow_private=self._allow_private)
        trusted, foreign = self._first_trusted(), self._client(normalize_mint_url(token.mint))
        try:
            keysets = await _foreign(foreign.keysets())
            inputs = expand_proof_ids(token.proofs, [keyset.id for keyset in keysets])
            fee_in = input_fee(inputs, fee_table(keysets))
            plan = await self._sized(trusted, foreign, token.amount, fee_in)
            outputs = plan_outputs(plan.amount_sat, choose_output_keyset(await trusted.keysets(), UNIT).id)
        except (TokenZeroValue, SwapFeesExceedAmount, ForeignSwapFailed):
            raise
        except CashuError as refused:
            raise ForeignSwapFailed(f"the swap from {token.mint} could not be planned: {refused.message}") from refused
        ys = tuple(proof_y(p) for p in inputs)
        return PlannedSwapIn(replace(plan, input_ys=ys, outputs=outputs), inputs, trusted.normalized_url)

    async def first_try(self, op: Operation, inputs: Sequence[Proof]) -> CashuError | None:
        """The owner's melt right after journaling, then the mint at the trusted mint; the journal says the
        outcome. Returns the foreign mint's refusal when there was one (to show the depositor)."""
        plan = ForeignPlan.from_json(op.plan)
        sent = await self._send_melt(plan, inputs, sent_before=False)
        if sent.melted is Melted.UNSPENT:  # no answer, and it did not happen: send it again now, the token is at hand
            sent = await self._send_melt(plan, inputs, sent_before=True)
        await self._after_melt(op, plan, sent.melted)
        refusal = sent.refusal
        if refusal is not None and not isinstance(refusal, TokenAlreadySpent):
            return ForeignSwapFailed(f"the token's mint refused to pay this node's mint: {refusal.message}")
        return refusal

    async def settle_owned(self, op: Operation, inputs: Sequence[Proof]) -> None:
        """Recovery of an open foreign swap by its owner: check first, melt again only if it provably did not
        happen and the token's proofs are at hand."""
        plan = ForeignPlan.from_json(op.plan)
        melted = await self._melt_state(plan)
        if melted is Melted.UNSPENT and inputs and tuple(proof_y(p) for p in inputs) == plan.input_ys:
            melted = (await self._send_melt(plan, inputs, sent_before=True)).melted
        await self._after_melt(op, plan, melted)

    async def _sized(self, trusted: MintClient, foreign: MintClient, token_sat: int, fee_in: int) -> ForeignPlan:
        amount = token_sat - fee_in
        for _ in range(SIZING_TRIES):
            if amount <= 0:
                raise SwapFeesExceedAmount("the token's mint's fees exceed the token's value")
            invoice = await trusted.mint_quote(amount, UNIT)
            melt = await _foreign(foreign.melt_quote(invoice.request, UNIT))
            if melt.amount + melt.fee_reserve + fee_in <= token_sat:
                return ForeignPlan(foreign.normalized_url, (), token_sat, fee_in, amount, invoice.quote,
                                   invoice.request, melt.quote, melt.fee_reserve, None)  # fmt: skip
            amount = token_sat - fee_in - melt.fee_reserve - max(melt.amount - amount, 0)
        raise ForeignSwapFailed("the token's mint asks more in Lightning fees than the token is worth")

    async def _send_melt(self, plan: ForeignPlan, inputs: Sequence[Proof], *, sent_before: bool) -> MeltResult:
        client = self._client(plan.foreign_url)
        return await send_melt(client, plan.melt_quote, inputs, plan.input_ys, sent_before=sent_before)

    async def _melt_state(self, plan: ForeignPlan) -> Melted:
        return (await melt_state(self._client(plan.foreign_url), plan.melt_quote, plan.input_ys)).melted

    async def _after_melt(self, op: Operation, plan: ForeignPlan, melted: Melted) -> None:
        if melted is Melted.PAID:
            proofs = await self._minted(op, plan)
            if proofs:
                await self._treasury.complete_deposit(
                    op.id, to_new_proofs(proofs, op.mint_url, UNIT), plan.scrubbed_json()
                )
                log.info("foreign.credited op=%s amount_sat=%d", op.id, sum(p.amount for p in proofs))
                return
        failure = _FAILURE_CODES.get(melted)
        if failure is not None:
            await self._treasury.fail(op.id, failure, plan.scrubbed_json())
            log.info("foreign.failed op=%s outcome=%s", op.id, melted)
            return
        noted = await self._treasury.note_attempt(op.id, self._policy.backoff_s, self._policy.cap)
        log.warning("foreign.unresolved op=%s outcome=%s state=%s", op.id, melted, noted and noted.state)

    async def _minted(self, op: Operation, plan: ForeignPlan) -> tuple[Proof, ...]:
        """Our proofs from the trusted mint once the invoice is paid: minted now, or restored if they were minted
        before (a lost answer, a crash). Empty while the invoice is not paid yet or the mint does not answer."""
        client = self._mints.client_for_journal(op.mint_url)
        outputs = plan.outputs
        assert outputs is not None, op.id
        try:
            state = (await client.mint_quote_status(plan.mint_quote)).state
            if state == "PAID":
                return await self._mint(client, plan.mint_quote, outputs)
            if state == "ISSUED":
                return await _restore(client, outputs)
        except MintUnreachable:
            pass
        return ()

    async def _mint(self, client: MintClient, quote: str, outputs: OutputPlan) -> tuple[Proof, ...]:
        keyset = await client.keys(outputs.keyset_id)
        try:
            signatures = await client.mint(quote, outputs.blinded_messages)
        except MintRejected:  # minted meanwhile (our own lost request): the outputs are signed
            return await _restore(client, outputs)
        return proofs_from_signatures(outputs, signatures, keyset)

    def _client(self, url: str) -> MintClient:
        return self._mints.client_for_journal(url)

    def _first_trusted(self) -> MintClient:
        clients = self._mints.all()
        if not clients:
            raise UntrustedMint("this node trusts no mint to swap the token into")
        return clients[0]


async def _restore(client: MintClient, outputs: OutputPlan) -> tuple[Proof, ...]:
    keyset = await client.keys(outputs.keyset_id)
    return restored_proofs(outputs, await client.restore(outputs.blinded_messages), keyset)
