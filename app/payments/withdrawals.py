"""The operator's earnings out of the treasury: as a fresh token (held proofs swapped, NUT-03, into the operator's
token and change that stays), or paid to a Lightning invoice (NUT-05 melt, the unused fee reserve back as change on
blank outputs, NUT-08; app.payments.melts). Journaled like refunds: the amount is checked, the proofs promised and
the plan written in one transaction under the locks refunds take (app.treasury.withdrawals), owned through a lease
(`op:<id>`) before it is journaled, then sent; an outcome left open (a crash, no answer) is settled from the mint's
word by recovery (NUT-07/09, the melt quote's state), never guessed. The token is handed out once and kept only in
the journal (never logged), so that one finished by recovery after a crash can still be fetched
(`python -m app earnings token ID`).

A Lightning address (LNURL-pay) resolves to a bolt11 invoice first, then pays it through `pay_invoice`."""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.cashu.client import MintClient
from app.cashu.errors import MintRejected, MintUnreachable, TokenAlreadySpent
from app.cashu.messages import MeltQuote
from app.cashu.tokens import decode_token, normalize_mint_url
from app.errors import BadRequest, NodeError
from app.money import msat_to_sat_floor, sat_to_msat
from app.payments.melts import melt_amount, send_melt
from app.payments.mints import TrustedMints
from app.payments.ownership import Ownership
from app.payments.plans import load_plan
from app.payments.recovery import MELT, Recovery, is_melt
from app.payments.settlement import Outcome, send_swap
from app.payments.withdrawal_plans import TOKEN, melt_planner, token_planner
from app.treasury.earnings import Earnings
from app.treasury.records import Operation, OpKind, OpState
from app.treasury.service import Treasury
from app.treasury.withdrawals import NotWithdrawable, Planner, WithdrawalPlan

log = logging.getLogger(__name__)

PLAN_TRIES = 3  # planned again when a concurrent refund took some of the chosen proofs


class WithdrawalBusy(NodeError):
    default_message = "the node's wallet is busy with refunds; withdraw again shortly"


@dataclass(frozen=True, slots=True)
class Withdrawal:
    op_id: str
    mint_url: str
    state: OpState
    amount_sat: int  # what the operator receives (the token's value, or the invoice's amount)
    fee_sat: int  # the mint's fees, paid from the earnings too (a melt's: once it is paid, what the reserve cost)
    token: str | None = None  # the operator's token, once completed
    preimage: str | None = None  # a paid invoice's proof of payment, when the mint gives it


@dataclass(frozen=True, slots=True)
class InvoiceOffer:
    """What paying an invoice would cost, shown before it is paid."""

    mint_url: str
    amount_sat: int
    fee_reserve_sat: int  # the most the Lightning fee may be; what it leaves comes back as change
    withdrawable_sat: int


AddressResolver = Callable[[str, int], Awaitable[str]]  # (Lightning address, amount msat) -> its bolt11 invoice


class Withdrawals:
    def __init__(
        self,
        treasury: Treasury,
        mints: TrustedMints,
        ownership: Ownership,
        recovery: Recovery,
        *,
        resolve_address: AddressResolver | None = None,
    ) -> None:
        self._treasury = treasury
        self._mints = mints
        self._ownership = ownership
        self._recovery = recovery
        self._resolve_address = resolve_address

    async def invoice_for_address(self, address: str, amount_sat: int) -> str:
        """An invoice of `amount_sat` from a Lightning address (LNURL-pay), to be offered and paid like any other."""
        if self._resolve_address is None:
            raise BadRequest("this node resolves no Lightning addresses here", param="lightning_address")
        if amount_sat <= 0:
            raise BadRequest("a payment to a Lightning address needs a positive amount of sat", param="amount_sat")
        return await self._resolve_address(address, sat_to_msat(amount_sat))

    async def settle_open(self, wait_s: float) -> list[Operation]:
        """Withdrawals left open (a crash, no answer from the mint) settled from the mint's word now; waits up to
        `wait_s` for one another process owns. The withdrawals as they stand afterwards."""
        still = [op for op in await self._treasury.open_operations() if op.kind is OpKind.WITHDRAWAL]
        return [await self._recovery.settled(op.id, wait_s) for op in still]

    async def to_token(self, *, mint_url: str | None = None, amount_sat: int | None = None) -> Withdrawal:
        """Earnings of one mint (the one with the most withdrawable, unless named) as a fresh token of `amount_sat`
        (None: all it may give). NotWithdrawable when that would take from what users are owed."""
        client = self._client(mint_url, await self._treasury.earnings())
        planner = token_planner(await client.keysets(), client.url, amount_sat)
        return await self._withdraw(client, TOKEN, planner, self._swap)

    async def offer(self, invoice: str, *, mint_url: str | None = None) -> InvoiceOffer:
        """The mint's quote for paying `invoice` (NUT-05), nothing paid."""
        earned = await self._treasury.earnings()
        client = self._client(mint_url, earned)
        quote = await client.melt_quote(invoice)
        withdrawable = earned.mint(client.normalized_url)
        return InvoiceOffer(client.normalized_url, quote.amount, quote.fee_reserve,
                            withdrawable.withdrawable_sat if withdrawable else 0)  # fmt: skip

    async def pay_invoice(self, invoice: str, *, mint_url: str | None = None) -> Withdrawal:
        """Pay a bolt11 invoice from one mint's earnings: its amount, the fee reserve and the mint's input fee must
        fit in what may be withdrawn; the unused reserve comes back to the treasury."""
        client = self._client(mint_url, await self._treasury.earnings())
        quote = await client.melt_quote(invoice)
        planner = melt_planner(await client.keysets(), client.url, quote)
        return await self._withdraw(client, MELT, planner, lambda op_id, decided: self._melt(op_id, decided, quote))

    async def _withdraw(
        self,
        client: MintClient,
        purpose: str,
        planner: Planner,
        send: Callable[[str, WithdrawalPlan], Awaitable[Withdrawal]],
    ) -> Withdrawal:
        def begin(op_id: str) -> Awaitable[WithdrawalPlan]:
            return self._treasury.begin_withdrawal(
                op_id=op_id, mint_url=client.normalized_url, purpose=purpose, plan=planner
            )

        return await self._ownership.new_operation(begin, send, tries=PLAN_TRIES, busy=WithdrawalBusy)

    def _client(self, mint_url: str | None, earned: Earnings) -> MintClient:
        """The named mint, else the one with the most to withdraw; NotWithdrawable (the mint is not asked) when it
        has nothing to give."""
        if mint_url is not None:
            chosen = earned.mint(normalize_mint_url(mint_url))
        else:
            chosen = max(earned.mints, key=lambda m: m.withdrawable_sat, default=None)
        if chosen is None or chosen.withdrawable_sat <= 0:
            where = f" from {mint_url}" if mint_url else ""
            raise NotWithdrawable(f"nothing may be withdrawn{where} now: the node holds no more than it owes")
        return self._mints.client_for_journal(chosen.mint_url)

    async def _swap(self, op_id: str, decided: WithdrawalPlan) -> Withdrawal:
        plan = load_plan(decided.plan_json).plan
        outcome = await send_swap(self._mints.client_for_journal(plan.mint_url), plan, sent_before=False)
        return await self._finished(op_id, outcome)

    async def _melt(self, op_id: str, decided: WithdrawalPlan, quote: MeltQuote) -> Withdrawal:
        melt = load_plan(decided.plan_json)
        log.info("withdrawal.melt op=%s amount_sat=%d fee_reserve_sat=%d", op_id, quote.amount, quote.fee_reserve)
        outcome = await send_melt(self._mints.client_for_journal(melt.plan.mint_url), melt, sent_before=False)
        return await self._finished(op_id, outcome)

    async def _finished(self, op_id: str, outcome: Outcome) -> Withdrawal:
        op = await self._treasury.get(op_id)
        assert op is not None, op_id
        finished = await self._recovery.finish(op, outcome)
        log.info("withdrawal.finished op=%s state=%s msat=%d", op_id, finished.state, finished.amount_msat)
        return withdrawal_of(finished, outcome)


def withdrawal_of(op: Operation, outcome: Outcome | None = None) -> Withdrawal:
    """The withdrawal as the journal has it; a failed one raises why (its proofs are back in the treasury)."""
    if op.state is OpState.FAILED:
        _raise_failure(op, outcome)
    if op.state is not OpState.COMPLETED:
        return Withdrawal(op.id, op.mint_url, op.state, 0, 0)
    left_sat = msat_to_sat_floor(op.amount_msat)
    if is_melt(op):
        amount_sat = melt_amount(op.plan)
        return Withdrawal(op.id, op.mint_url, op.state, amount_sat, left_sat - amount_sat, preimage=op.result or None)
    amount_sat = decode_token(op.result or "").amount
    return Withdrawal(op.id, op.mint_url, op.state, amount_sat, left_sat - amount_sat, token=op.result)


def _raise_failure(op: Operation, outcome: Outcome | None) -> None:
    if op.error == "not_executed":
        raise MintUnreachable("the mint could not be reached; nothing was withdrawn, try again")
    if op.error == "already_spent":
        raise TokenAlreadySpent("some of the node's ecash was spent elsewhere; nothing was withdrawn")
    raise (outcome.refusal if outcome else None) or MintRejected("the mint refused the withdrawal")
