"""A key's balance paid to a Lightning address: the address's invoice (app.payments.lnurl) melted at a trusted mint
(NUT-05) from proofs the node holds, with NUT-08 blank outputs for the fee change.

Sizing: the invoice asks amount = balance - the melt's fee reserve - the input fee of the proofs spent, so the
whole debit covers the worst case. Like a token refund, the key's available balance (whole sats) is debited and the
proofs promised in one transaction with the plan (journaled as a refund with purpose `lightning`), before the mint
is asked; what the payment did not use of the fee reserve comes back as change and is credited back to the key. A
melt whose outcome is open stays open until the mint's word settles it (app.payments.melting); one that provably
never happened gives everything back."""

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from app.cashu.client import MintClient
from app.cashu.errors import (
    MintRejected,
    MintUnreachable,
    SwapFeesExceedAmount,
    SwapOutcomeUnknown,
    TokenAlreadySpent,
)
from app.cashu.keysets import KeysetInfo, choose_output_keyset, fee_table, input_fee
from app.cashu.outputs import OutputPlan, proof_y
from app.cashu.tokens import Proof
from app.errors import BadRequest, ServiceUnavailable
from app.money import msat_to_sat_floor, sat_to_msat
from app.payments.lnurl import invoice_for_address
from app.payments.melting import Melted, MeltResult, change_proofs, melt_state, plan_blanks, send_melt
from app.payments.mints import TrustedMints
from app.payments.ownership import Ownership
from app.payments.plans import to_new_proofs, to_proof
from app.payments.recovery import DEFAULT_RETRIES, UNIT, RetryPolicy
from app.payments.refunds import PLAN_TRIES, Refunds, WalletShort, wallet_busy
from app.treasury.records import OPEN_STATES, HeldProof, Operation, OpState, RefundPlan
from app.treasury.service import Treasury

log = logging.getLogger(__name__)

PURPOSE = "lightning"  # the journal's purpose of a refund paid to a Lightning address
SIZING_TRIES = 4


@dataclass(frozen=True, slots=True)
class LightningRefund:
    recipient: str
    amount_msat: int  # what the address received
    fee_msat: int  # what paying it cost: the Lightning fee and the mint's input fee
    returned_msat: int  # the unused fee reserve, credited back to the key
    payment_preimage: str | None


@dataclass(frozen=True, slots=True)
class MeltPlan:
    """What the journal keeps of a refund to a Lightning address (the inputs are the node's own proofs)."""

    mint_url: str
    recipient: str
    bolt11: str
    quote: str
    amount_sat: int
    fee_reserve: int
    input_fee: int
    inputs: tuple[Proof, ...]
    blanks: OutputPlan

    @property
    def input_ys(self) -> tuple[str, ...]:
        return tuple(proof_y(p) for p in self.inputs)

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "mint_url": self.mint_url, "recipient": self.recipient, "bolt11": self.bolt11, "quote": self.quote,
            "amount_sat": self.amount_sat, "fee_reserve": self.fee_reserve, "input_fee": self.input_fee,
            "inputs": [p.to_dict() for p in self.inputs], "blanks": self.blanks.to_dict(),
        }  # fmt: skip
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> "MeltPlan":
        d = json.loads(text or "{}")
        return cls(
            str(d["mint_url"]), str(d["recipient"]), str(d["bolt11"]), str(d["quote"]), int(d["amount_sat"]),
            int(d["fee_reserve"]), int(d["input_fee"]), tuple(Proof.from_dict(p) for p in d["inputs"]),
            OutputPlan.from_dict(d["blanks"]),
        )  # fmt: skip


class _Resize(Exception):
    """Inside the refund's transaction: the balance or the input fee differs from what the invoice was sized for."""

    def __init__(self, available_sat: int, input_fee_sat: int) -> None:
        super().__init__("resize")
        self.available_sat = available_sat
        self.input_fee_sat = input_fee_sat


@dataclass(frozen=True, slots=True)
class _Quoted:
    bolt11: str
    quote: str
    amount_sat: int
    fee_reserve: int
    recipient: str


def melt_planner(
    keysets: tuple[KeysetInfo, ...], client_url: str, quoted: _Quoted, sized_for_sat: int
) -> Callable[[list[HeldProof], int], RefundPlan]:
    """A pure function choosing the proofs and blank outputs of the melt, run inside the refund's transaction."""
    fees = fee_table(keysets)
    output_keyset = choose_output_keyset(keysets, UNIT).id

    def plan(held: list[HeldProof], available_sat: int) -> RefundPlan:
        chosen: list[Proof] = []
        ids: list[int] = []
        for proof in held:  # largest first
            if sum(p.amount for p in chosen) >= quoted.amount_sat + quoted.fee_reserve + input_fee(chosen, fees):
                break
            chosen.append(to_proof(proof))
            ids.append(proof.id)
        fee_in, total = input_fee(chosen, fees), sum(p.amount for p in chosen)
        # the key's balance first: one that changed since the invoice was sized (a concurrent refund paid it) is
        # sized again, not taken for a wallet too short to pay
        if available_sat != sized_for_sat or quoted.amount_sat + quoted.fee_reserve + fee_in > available_sat:
            raise _Resize(available_sat, fee_in)
        if total < quoted.amount_sat + quoted.fee_reserve + fee_in:
            raise WalletShort()
        blanks = plan_blanks(total - quoted.amount_sat - fee_in, output_keyset)
        melt = MeltPlan(client_url, quoted.recipient, quoted.bolt11, quoted.quote, quoted.amount_sat,
                        quoted.fee_reserve, fee_in, tuple(chosen), blanks)  # fmt: skip
        return RefundPlan(tuple(ids), melt.to_json(), sat_to_msat(available_sat))

    return plan


class LightningRefunds:
    def __init__(
        self,
        treasury: Treasury,
        mints: TrustedMints,
        ownership: Ownership,
        refunds: Refunds,
        http: httpx.AsyncClient,
        *,
        policy: RetryPolicy = DEFAULT_RETRIES,
        allow_private: bool = False,
    ) -> None:
        self._allow_private = allow_private
        self._treasury = treasury
        self._mints = mints
        self._ownership = ownership
        self._refunds = refunds
        self._http = http
        self._policy = policy

    async def refund(self, key_id: int, available_msat: int, address: str) -> LightningRefund:
        """Pay the key's available balance (whole sats, less the fees) to `address`. RequestsInFlight while requests
        on the key run; RefundInProgress while another refund of it is open."""
        await self._refunds.settle_open_refunds(key_id)
        client = await self._paying_mint()
        keysets = await client.keysets()
        available_sat, fee_in, reserve = msat_to_sat_floor(available_msat), 0, 0
        if available_sat <= 0:
            raise BadRequest("no balance to refund", code="no_balance")
        for _ in range(SIZING_TRIES):
            amount = available_sat - fee_in - reserve
            if amount <= 0:
                raise SwapFeesExceedAmount("the balance does not cover the Lightning fees of a payment")
            quoted = await self._quote(client, address, amount)
            if quoted.amount_sat + quoted.fee_reserve + fee_in > available_sat:
                reserve = quoted.fee_reserve + max(quoted.amount_sat - amount, 0)
                continue
            try:
                return await self._pay(client, keysets, key_id, quoted, available_sat)
            except _Resize as resized:
                available_sat, fee_in = resized.available_sat, resized.input_fee_sat
        raise MintRejected("the fees of this payment kept changing; try again")

    async def settle_owned(self, op: Operation, inputs: Sequence[Proof]) -> None:
        """Recovery of an open refund to a Lightning address by its owner: the mint's word first, the same melt
        again only if it provably did not happen."""
        del inputs  # the node's own proofs are in the plan
        plan = MeltPlan.from_json(op.plan)
        client = self._mints.client_for_journal(op.mint_url)
        found = await melt_state(client, plan.quote, plan.input_ys)
        if found.melted is Melted.UNSPENT:
            found = await send_melt(client, plan.quote, plan.inputs, plan.input_ys, plan.blanks, sent_before=True)
        await self._finish(op, plan, found)

    async def _paying_mint(self) -> MintClient:
        clients = await self._refunds.mints_by_holdings()
        if not clients:
            raise ServiceUnavailable("this node trusts no mint, so it cannot pay over Lightning")
        return clients[0]

    async def _quote(self, client: MintClient, address: str, amount_sat: int) -> _Quoted:
        """The address's invoice for `amount_sat` and the mint's melt quote for it."""
        bolt11 = await invoice_for_address(
            self._http, address, sat_to_msat(amount_sat), allow_private=self._allow_private
        )
        quote = await client.melt_quote(bolt11, UNIT)
        return _Quoted(bolt11, quote.quote, quote.amount, quote.fee_reserve, address)

    async def _pay(
        self, client: MintClient, keysets: tuple[KeysetInfo, ...], key_id: int, quoted: _Quoted, sized_for: int
    ) -> LightningRefund:
        def begin(op_id: str) -> Awaitable[RefundPlan | None]:
            return self._treasury.begin_refund(
                op_id=op_id, key_id=key_id, mint_url=client.normalized_url, unit=UNIT, purpose=PURPOSE,
                plan=melt_planner(keysets, client.url, quoted, sized_for),
            )  # fmt: skip

        async def send(op_id: str, decided: RefundPlan | None) -> LightningRefund:
            if decided is None:
                raise BadRequest("no balance to refund", code="no_balance")
            return await self._melt(op_id, decided)

        return await self._refunds.retried_for_change(
            lambda: self._ownership.new_operation(begin, send, tries=PLAN_TRIES, busy=wallet_busy)
        )

    async def _melt(self, op_id: str, decided: RefundPlan) -> LightningRefund:
        plan = MeltPlan.from_json(decided.plan_json)
        client = self._mints.client_for_journal(plan.mint_url)
        sent = await send_melt(client, plan.quote, plan.inputs, plan.input_ys, plan.blanks, sent_before=False)
        op = await self._treasury.get(op_id)
        assert op is not None, op_id
        finished = await self._finish(op, plan, sent)
        log.info("refund.lightning op=%s state=%s debit_msat=%d", op_id, finished.state, decided.debit_msat)
        return _paid(finished, sent)

    async def _finish(self, op: Operation, plan: MeltPlan, result: MeltResult) -> Operation:
        if result.melted is Melted.PAID and result.quote is not None:
            client = self._mints.client_for_journal(op.mint_url)
            change = await change_proofs(client, plan.blanks, result.quote)
            spent_sat = sum(p.amount for p in plan.inputs) - sum(p.amount for p in change)
            returned_msat = op.amount_msat - sat_to_msat(spent_sat)
            paid = LightningRefund(plan.recipient, sat_to_msat(plan.amount_sat),
                                   sat_to_msat(spent_sat - plan.amount_sat), returned_msat,
                                   result.quote.payment_preimage)  # fmt: skip
            await self._treasury.complete_lightning_refund(
                op.id, to_new_proofs(change, op.mint_url, UNIT), returned_msat, _result_json(paid), plan.to_json()
            )
        elif result.melted in (Melted.NEVER_SENT, Melted.REFUSED, Melted.SPENT_ELSEWHERE):
            code = "already_spent" if result.melted is Melted.SPENT_ELSEWHERE else "not_executed"
            await self._treasury.undo_refund(op.id, code, inputs_spent=result.melted is Melted.SPENT_ELSEWHERE)
        else:
            await self._treasury.note_attempt(op.id, self._policy.backoff_s, self._policy.cap)
        reloaded = await self._treasury.get(op.id)
        assert reloaded is not None, op.id
        return reloaded


def _result_json(paid: LightningRefund) -> str:
    return json.dumps(
        {"recipient": paid.recipient, "amount_msat": paid.amount_msat, "fee_msat": paid.fee_msat,
         "returned_msat": paid.returned_msat, "payment_preimage": paid.payment_preimage},
        separators=(",", ":"),
    )  # fmt: skip


def _paid(op: Operation, sent: MeltResult) -> LightningRefund:
    """The payment as the journal has it, or the error that says why there is none (the balance is kept then)."""
    if op.state is OpState.COMPLETED and op.result:
        data = json.loads(op.result)
        return LightningRefund(str(data["recipient"]), int(data["amount_msat"]), int(data["fee_msat"]),
                               int(data["returned_msat"]), data.get("payment_preimage"))  # fmt: skip
    if op.state in OPEN_STATES:
        raise SwapOutcomeUnknown("the payment's outcome is being settled with the mint; ask again shortly")
    if op.error == "already_spent":
        raise TokenAlreadySpent("the node's own ecash was spent elsewhere; the balance is kept, please try again")
    if sent.refusal is not None:
        raise sent.refusal
    raise MintUnreachable("the mint could not be reached; the balance is kept, try again")
