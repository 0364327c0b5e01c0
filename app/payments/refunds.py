"""Ecash out: a key's whole available balance (in whole sats) as a fresh token, made by swapping proofs the node
holds. The key is debited and the proofs promised in one transaction, with the swap plan, before the mint is asked
(one refund per key at a time; proofs chosen by one refund only); a swap that will never happen gives everything
back, one whose outcome is open stays open until the mint's word settles it (app.payments.settlement). A refund the
held proofs cannot cover while other operations' proofs are out at the mint waits for their change."""

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from app.cashu.client import MintClient
from app.cashu.errors import (
    MintRejected,
    MintUnreachable,
    SwapFeesExceedAmount,
    SwapOutcomeUnknown,
    TokenAlreadySpent,
)
from app.cashu.keysets import KeysetInfo, choose_output_keyset, fee_table, input_fee, split_amount
from app.cashu.outputs import plan_amounts
from app.cashu.tokens import decode_token
from app.cashu.wallet import SwapPlan
from app.errors import BadRequest, NodeError
from app.money import sat_to_msat
from app.payments.mints import TrustedMints
from app.payments.ownership import Ownership
from app.payments.plans import load_plan, plan_json, to_proof
from app.payments.recovery import UNIT, Recovery
from app.payments.settlement import Outcome, send_swap
from app.treasury.errors import RefundInProgress
from app.treasury.records import OPEN_STATES, HeldProof, Operation, OpKind, OpState, RefundPlan
from app.treasury.service import Treasury

log = logging.getLogger(__name__)

WAIT_FOR_PEER_S = 20.0
PLAN_TRIES = 3  # a refund planned again when a concurrent one took some of its proofs
SPEND_HELD_PROOFS = (OpKind.REFUND, OpKind.WITHDRAWAL)

T = TypeVar("T")


class WalletShort(NodeError):
    default_message = "the node's wallet cannot pay this refund right now"


@dataclass(frozen=True, slots=True)
class Refund:
    token: str
    msats: int  # what the token is worth
    fee_msats: int  # the mint's swap fee, paid from the balance


def refund_planner(keysets: tuple[KeysetInfo, ...], mint_url: str) -> Callable[[list[HeldProof], int], RefundPlan]:
    """A pure function choosing the proofs and outputs of a refund, run inside the refund's transaction."""
    fees = fee_table(keysets)
    output_keyset = choose_output_keyset(keysets, UNIT).id

    def plan(held: list[HeldProof], available_sat: int) -> RefundPlan:
        chosen: list[HeldProof] = []
        for proof in held:  # largest first
            if sum(p.amount for p in chosen) >= available_sat:
                break
            chosen.append(proof)
        total = sum(p.amount for p in chosen)
        if total < available_sat:
            raise WalletShort()
        inputs = tuple(to_proof(p) for p in chosen)
        fee = input_fee(inputs, fees)
        to_user = available_sat - fee
        if to_user <= 0:
            raise SwapFeesExceedAmount("the balance does not cover the mint's fee for a refund")
        user_amounts, change_amounts = split_amount(to_user), split_amount(total - available_sat)
        outputs = plan_amounts(user_amounts + change_amounts, output_keyset)
        swap = SwapPlan(mint_url, inputs, outputs, fee)
        return RefundPlan(tuple(p.id for p in chosen), plan_json(swap, user_outputs=len(user_amounts)),
                          sat_to_msat(available_sat))  # fmt: skip

    return plan


def wallet_busy() -> RefundInProgress:
    return RefundInProgress("the node's wallet is busy with other refunds; ask again shortly")


class Refunds:
    def __init__(self, treasury: Treasury, mints: TrustedMints, ownership: Ownership, recovery: Recovery) -> None:
        self._treasury = treasury
        self._mints = mints
        self._ownership = ownership
        self._recovery = recovery

    async def refund(self, key_id: int, *, refetch: bool = True, while_in_flight: bool = False) -> Refund:
        """The key's available balance as a token. With nothing left, the last refund token again when `refetch` (a
        reply lost on the way can be fetched once more; the token itself can be redeemed only once). A refund of
        the key still in progress (here or in another process) is RefundInProgress; requests still running on the
        key are RequestsInFlight, unless `while_in_flight` (what they hold stays on the key)."""
        await self.settle_open_refunds(key_id)

        async def from_any_mint() -> Refund:
            for client in await self.mints_by_holdings():
                paid = await self._refund_from(client, key_id, refetch, while_in_flight)
                if paid is not None:
                    return paid
            raise WalletShort()

        return await self.retried_for_change(from_any_mint)

    async def retried_for_change(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """`attempt()`, tried again while it finds the wallet short only because proofs of other refunds and
        withdrawals are out at the mint (their change comes back with the mint's answer), for `WAIT_FOR_PEER_S`."""
        deadline = time.monotonic() + WAIT_FOR_PEER_S
        while True:
            try:
                return await attempt()
            except WalletShort:
                if not await self._waited_for_change(deadline):
                    raise

    async def _waited_for_change(self, deadline: float) -> bool:
        """Whether operations spending held proofs were in flight and have been waited for (settled, or `deadline`
        passed). One tried before without an answer is left to recovery's backoff: its change is not coming soon."""
        out = [op for op in await self._treasury.open_operations()
               if op.kind in SPEND_HELD_PROOFS and op.state is OpState.PLANNED and op.attempts == 0]  # fmt: skip
        for op in out:
            await self._recovery.settled(op.id, max(deadline - time.monotonic(), 0.0))
        return bool(out) and time.monotonic() < deadline

    async def settle_open_refunds(self, key_id: int) -> None:
        """An earlier refund cut short is settled before a new one (waiting for its owner, if it has one)."""
        for unfinished in await self._treasury.open_refunds(key_id):
            if (await self._recovery.settled(unfinished.id, WAIT_FOR_PEER_S)).state in OPEN_STATES:
                raise RefundInProgress()

    async def _refund_from(
        self, client: MintClient, key_id: int, refetch: bool, while_in_flight: bool
    ) -> Refund | None:
        """Pay from this mint's proofs; None when they do not cover the balance."""
        keysets = await client.keysets()

        def begin(op_id: str) -> Awaitable[RefundPlan | None]:
            return self._treasury.begin_refund(
                op_id=op_id, key_id=key_id, mint_url=client.normalized_url, unit=UNIT,
                plan=refund_planner(keysets, client.url), while_in_flight=while_in_flight,
            )  # fmt: skip

        async def send(op_id: str, decided: RefundPlan | None) -> Refund:
            if decided is None:
                return await self._previous(key_id, refetch)
            return await self._swap(op_id, decided)

        try:
            return await self._ownership.new_operation(begin, send, tries=PLAN_TRIES, busy=wallet_busy)
        except WalletShort:
            return None

    async def mints_by_holdings(self) -> list[MintClient]:
        held = {h.mint_url: h.held_sat for h in await self._treasury.holdings() if h.unit == UNIT}
        return sorted(self._mints.all(), key=lambda client: -held.get(client.normalized_url, 0))

    async def _previous(self, key_id: int, refetch: bool) -> Refund:
        token = await self._treasury.latest_refund_token(key_id) if refetch else None
        if token is None:
            raise BadRequest("no balance to refund", code="no_balance")
        return Refund(token, _token_msat(token), 0)

    async def _swap(self, op_id: str, decided: RefundPlan) -> Refund:
        plan = load_plan(decided.plan_json).plan
        outcome = await send_swap(self._mints.client_for_journal(plan.mint_url), plan, sent_before=False)
        op = await self._treasury.get(op_id)
        assert op is not None, op_id
        finished = await self._recovery.finish(op, outcome)
        log.info("refund.finished op=%s state=%s msat=%d fee_sat=%d", op_id, finished.state, decided.debit_msat,
                 plan.fee)  # fmt: skip
        return _paid(finished, outcome)


def _paid(op: Operation, outcome: Outcome) -> Refund:
    """The refund as the journal has it, or the error that says why there is none (the balance is kept then)."""
    if op.state is OpState.COMPLETED and op.result:
        token_msat = _token_msat(op.result)
        return Refund(op.result, token_msat, op.amount_msat - token_msat)
    if op.state in OPEN_STATES:
        raise SwapOutcomeUnknown("the refund's outcome is being settled with the mint; ask again shortly")
    if op.error == "not_executed":
        raise MintUnreachable("the mint could not be reached; the balance is kept, try again")
    if op.error == "already_spent":
        raise TokenAlreadySpent("the node's own ecash was spent elsewhere; the balance is kept, please try again")
    raise outcome.refusal or MintRejected("the mint refused the refund; the balance is kept")


def _token_msat(token_text: str) -> int:
    return sat_to_msat(decode_token(token_text).amount)
