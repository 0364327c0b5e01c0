"""The operator's earnings out of the treasury as a fresh token: held proofs swapped (NUT-03) into the operator's
token and change that stays. Journaled like refunds: the amount is checked, the proofs promised and the plan written
in one transaction under the locks refunds take (app.treasury.withdrawals), owned through a lease (`op:<id>`) before
it is journaled, then sent; an outcome left open (a crash, no answer) is settled from the mint's word by recovery
(NUT-07/09), never guessed. The token is handed out once and kept only in the journal (never logged), so that a
withdrawal finished by recovery after a crash can still be fetched (`python -m app earnings token ID`).

Paying a Lightning invoice (NUT-05 melt) or a Lightning address would take the same place: a planner deciding
inputs for `amount + fee_reserve` inside `Treasury.begin_withdrawal`."""

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from app.cashu.client import MintClient
from app.cashu.errors import MintRejected, MintUnreachable, TokenAlreadySpent
from app.cashu.keysets import KeysetInfo, choose_output_keyset, fee_table, input_fee, split_amount
from app.cashu.outputs import plan_amounts
from app.cashu.tokens import decode_token, normalize_mint_url
from app.cashu.wallet import SwapPlan
from app.errors import NodeError
from app.money import msat_to_sat_floor, sat_to_msat
from app.payments.mints import TrustedMints
from app.payments.ownership import Ownership
from app.payments.plans import load_plan, plan_json, to_proof
from app.payments.recovery import UNIT, Recovery
from app.payments.settlement import Outcome, send_swap
from app.treasury.earnings import Earnings
from app.treasury.errors import ProofsTaken
from app.treasury.records import HeldProof, Operation, OpKind, OpState
from app.treasury.service import Treasury
from app.treasury.withdrawals import NotWithdrawable, Planner, WithdrawalPlan

log = logging.getLogger(__name__)

PLAN_TRIES = 3  # planned again when a concurrent refund took some of the chosen proofs
TOKEN = "token"  # the purpose journaled for a withdrawal as a token


class WithdrawalBusy(NodeError):
    default_message = "the node's wallet is busy with refunds; withdraw again shortly"


@dataclass(frozen=True, slots=True)
class Withdrawal:
    op_id: str
    mint_url: str
    state: OpState
    amount_sat: int  # what the operator receives
    fee_sat: int  # the mint's fee, paid from the earnings too
    token: str | None  # the operator's token, once completed


def token_planner(keysets: tuple[KeysetInfo, ...], mint_url: str, amount_sat: int | None) -> Planner:
    """Choose the proofs and outputs of a withdrawal as a token of `amount_sat` (None: everything withdrawable, less
    the mint's fee). Pure; run inside the withdrawal's transaction."""
    fees = fee_table(keysets)
    output_keyset = choose_output_keyset(keysets, UNIT).id

    def plan(held: list[HeldProof], withdrawable_sat: int) -> WithdrawalPlan:
        chosen = _cover(held, lambda chosen: withdrawable_sat if amount_sat is None else amount_sat + fee_of(chosen))
        fee = fee_of(chosen)
        to_operator = withdrawable_sat - fee if amount_sat is None else amount_sat
        total = sum(p.amount for p in chosen)
        if to_operator <= 0 or to_operator + fee > min(total, withdrawable_sat):
            raise NotWithdrawable(f"{withdrawable_sat} sat may be withdrawn from {mint_url} now, the mint's fee of "
                                  f"{fee} sat included")  # fmt: skip
        operator, change = split_amount(to_operator), split_amount(total - to_operator - fee)
        swap = SwapPlan(
            mint_url, tuple(to_proof(p) for p in chosen), plan_amounts(operator + change, output_keyset), fee
        )
        return WithdrawalPlan(tuple(p.id for p in chosen), plan_json(swap, user_outputs=len(operator)),
                              sat_to_msat(to_operator + fee))  # fmt: skip

    def fee_of(chosen: list[HeldProof]) -> int:
        return input_fee([to_proof(p) for p in chosen], fees)

    return plan


def _cover(held: list[HeldProof], need: Callable[[list[HeldProof]], int]) -> list[HeldProof]:
    """Largest proofs first, until they cover what is needed (which may grow with them: the mint's fee)."""
    chosen: list[HeldProof] = []
    for proof in held:
        if sum(p.amount for p in chosen) >= need(chosen):
            break
        chosen.append(proof)
    return chosen


class Withdrawals:
    def __init__(self, treasury: Treasury, mints: TrustedMints, ownership: Ownership, recovery: Recovery) -> None:
        self._treasury = treasury
        self._mints = mints
        self._ownership = ownership
        self._recovery = recovery

    async def settle_open(self, wait_s: float) -> list[Operation]:
        """Withdrawals left open (a crash, no answer from the mint) settled from the mint's word now; waits up to
        `wait_s` for one another process owns. The withdrawals as they stand afterwards."""
        still = [op for op in await self._treasury.open_operations() if op.kind is OpKind.WITHDRAWAL]
        return [await self._recovery.settled(op.id, wait_s) for op in still]

    async def to_token(self, *, mint_url: str | None = None, amount_sat: int | None = None) -> Withdrawal:
        """Earnings of one mint (the one with the most withdrawable, unless named) as a fresh token of `amount_sat`
        (None: all it may give). NotWithdrawable when that would take from what users are owed."""
        client = self._client(mint_url, await self._treasury.earnings())
        keysets = await client.keysets()
        for _ in range(PLAN_TRIES):
            op_id = os.urandom(16).hex()
            async with self._ownership.own(op_id):  # owned before it is journaled: no other process can send it
                try:
                    decided = await self._treasury.begin_withdrawal(
                        op_id=op_id, mint_url=client.normalized_url, purpose=TOKEN,
                        plan=token_planner(keysets, client.url, amount_sat),
                    )  # fmt: skip
                except ProofsTaken:
                    continue
                return await self._swap(op_id, decided)
        raise WithdrawalBusy()

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
        op = await self._treasury.get(op_id)
        assert op is not None, op_id
        finished = await self._recovery.finish(op, outcome)
        log.info("withdrawal.finished op=%s state=%s msat=%d fee_sat=%d", op_id, finished.state, decided.amount_msat,
                 plan.fee)  # fmt: skip
        return withdrawal_of(finished, outcome)


def withdrawal_of(op: Operation, outcome: Outcome | None = None) -> Withdrawal:
    """The withdrawal as the journal has it; a failed one raises why (its proofs are back in the treasury)."""
    if op.state is OpState.FAILED:
        _raise_failure(op, outcome)
    token = op.result if op.state is OpState.COMPLETED else None
    amount_sat = decode_token(token).amount if token else 0
    fee_sat = msat_to_sat_floor(op.amount_msat) - amount_sat if token else 0
    return Withdrawal(op.id, op.mint_url, op.state, amount_sat, fee_sat, token)


def _raise_failure(op: Operation, outcome: Outcome | None) -> None:
    if op.error == "not_executed":
        raise MintUnreachable("the mint could not be reached; nothing was withdrawn, try again")
    if op.error == "already_spent":
        raise TokenAlreadySpent("some of the node's ecash was spent elsewhere; nothing was withdrawn")
    raise (outcome.refusal if outcome else None) or MintRejected("the mint refused the withdrawal")
