"""Ecash out: a key's whole available balance (in whole sats) as a fresh token, made by swapping proofs the node
holds. The key is debited and the proofs promised in one transaction, with the swap plan, before the mint is asked;
a swap that did not happen gives everything back."""

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from app.cashu.client import MintClient
from app.cashu.errors import (
    CashuError,
    MintUnreachable,
    SwapFeesExceedAmount,
    SwapOutcomeUnknown,
    TokenAlreadySpent,
)
from app.cashu.keysets import KeysetInfo, choose_output_keyset, fee_table, input_fee, split_amount
from app.cashu.outputs import plan_amounts
from app.cashu.tokens import Token, decode_token, encode_token_v4
from app.cashu.wallet import SwapPlan, execute_swap
from app.errors import BadRequest, NodeError
from app.payments.inflight import InFlight
from app.payments.mints import TrustedMints
from app.payments.plans import load_plan, plan_json, scrubbed, to_new_proofs, to_proof
from app.payments.recovery import UNIT, Recovery
from app.treasury.records import HeldProof, RefundPlan
from app.treasury.service import Treasury

log = logging.getLogger(__name__)


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
                          available_sat * 1000)  # fmt: skip

    return plan


class Refunds:
    def __init__(self, treasury: Treasury, mints: TrustedMints, inflight: InFlight, recovery: Recovery) -> None:
        self._treasury = treasury
        self._mints = mints
        self._inflight = inflight
        self._recovery = recovery

    async def refund(self, key_id: int, *, refetch: bool = True) -> Refund:
        """The key's available balance as a token. With nothing left, the last refund token again when `refetch` (a
        reply lost on the way can be fetched once more; the token itself can be redeemed only once)."""
        for unfinished in await self._treasury.open_refunds(key_id):
            await self._recovery.recover(unfinished)  # an earlier refund cut short is paid before a new one
        for client in await self._mints_by_holdings():
            keysets = await client.keysets()
            op_id = os.urandom(16).hex()
            try:
                decided = await self._treasury.begin_refund(
                    op_id=op_id, key_id=key_id, mint_url=client.normalized_url, unit=UNIT,
                    plan=refund_planner(keysets, client.url),
                )  # fmt: skip
            except WalletShort:
                continue
            if decided is None:
                return await self._previous(key_id, refetch)
            return await self._swap(op_id, decided)
        raise WalletShort()

    async def _mints_by_holdings(self) -> list[MintClient]:
        held = {h.mint_url: h.held_sat for h in await self._treasury.holdings() if h.unit == UNIT}
        return sorted(self._mints.all(), key=lambda client: -held.get(client.normalized_url, 0))

    async def _previous(self, key_id: int, refetch: bool) -> Refund:
        token = await self._treasury.latest_refund_token(key_id) if refetch else None
        if token is None:
            raise BadRequest("no balance to refund", code="no_balance")
        return Refund(token, _token_msat(token), 0)

    async def _swap(self, op_id: str, decided: RefundPlan) -> Refund:
        plan, extra = load_plan(decided.plan_json)
        client = self._mints.client_for_journal(plan.mint_url)
        async with self._inflight.hold(op_id):
            try:
                proofs = await execute_swap(client, plan)
            except SwapOutcomeUnknown:
                log.warning("refund.outcome_unknown op=%s", op_id)
                raise
            except TokenAlreadySpent:
                return await self._settled_instead(op_id)
            except (MintUnreachable, CashuError) as failure:
                await self._treasury.undo_refund(op_id, type(failure).__name__)
                raise
            user_outputs = int(extra["user_outputs"])
            token = encode_token_v4(Token(mint=client.url, unit=UNIT, proofs=proofs[:user_outputs]))
            change = to_new_proofs(proofs[user_outputs:], client.normalized_url, UNIT)
            await self._treasury.complete_refund(op_id, change, token, scrubbed(plan))
        log.info("refund.paid op=%s msat=%d fee_sat=%d", op_id, decided.debit_msat, plan.fee)
        return Refund(token, decided.debit_msat - plan.fee * 1000, plan.fee * 1000)

    async def _settled_instead(self, op_id: str) -> Refund:
        """Our own proofs were already spent: never guess, let recovery find out (a late copy of this very swap
        completes it; anything else writes the proofs off and gives the key its money back)."""
        log.error("refund.inputs_already_spent op=%s", op_id)
        op = await self._treasury.get(op_id)
        assert op is not None
        await self._recovery.recover(op)
        settled = await self._treasury.get(op_id)
        if settled is not None and settled.result:
            return Refund(
                settled.result, _token_msat(settled.result), settled.amount_msat - _token_msat(settled.result)
            )
        raise TokenAlreadySpent("the node's own ecash was spent elsewhere; the balance is kept, please try again")


def _token_msat(token_text: str) -> int:
    return decode_token(token_text).amount * 1000
