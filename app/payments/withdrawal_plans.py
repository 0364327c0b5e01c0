"""What a withdrawal takes from the treasury, decided inside its transaction (pure): the proofs, the outputs and the
most that may leave, the mint's fees included. A token withdrawal swaps into the operator's outputs and change; a
Lightning withdrawal melts (NUT-05) with blank outputs (NUT-08) for what the fee reserve leaves."""

from collections.abc import Callable

from app.cashu.keysets import KeysetInfo, choose_output_keyset, fee_table, input_fee, split_amount
from app.cashu.messages import MeltQuote
from app.cashu.outputs import plan_amounts
from app.cashu.wallet import SwapPlan
from app.money import sat_to_msat
from app.payments.plans import plan_json, to_proof
from app.payments.recovery import UNIT
from app.treasury.records import HeldProof
from app.treasury.withdrawals import NotWithdrawable, Planner, WithdrawalPlan

TOKEN = "token"  # the purpose journaled for a withdrawal as a token (a melt's is recovery.MELT)
BLANK_AMOUNT = 1  # a blank output's amount is the mint's to set (NUT-08)


def token_planner(keysets: tuple[KeysetInfo, ...], mint_url: str, amount_sat: int | None) -> Planner:
    """A token of `amount_sat` (None: everything withdrawable from the mint, less the mint's fee)."""
    fee_of = _fees(keysets)
    output_keyset = choose_output_keyset(keysets, UNIT).id

    def plan(held: list[HeldProof], withdrawable_sat: int) -> WithdrawalPlan:
        chosen = _cover(held, lambda chosen: withdrawable_sat if amount_sat is None else amount_sat + fee_of(chosen))
        fee = fee_of(chosen)
        to_operator = withdrawable_sat - fee if amount_sat is None else amount_sat
        total = sum(p.amount for p in chosen)
        if to_operator <= 0 or to_operator + fee > min(total, withdrawable_sat):
            raise _too_much(withdrawable_sat, mint_url, fee)
        operator, change = split_amount(to_operator), split_amount(total - to_operator - fee)
        outputs = plan_amounts(operator + change, output_keyset)
        swap = SwapPlan(mint_url, tuple(to_proof(p) for p in chosen), outputs, fee)
        return WithdrawalPlan(tuple(p.id for p in chosen), plan_json(swap, user_outputs=len(operator)),
                              sat_to_msat(to_operator + fee))  # fmt: skip

    return plan


def melt_planner(keysets: tuple[KeysetInfo, ...], mint_url: str, quote: MeltQuote) -> Planner:
    """Inputs for the quote's amount, its fee reserve and the mint's input fee; blank outputs for the change."""
    fee_of = _fees(keysets)
    output_keyset = choose_output_keyset(keysets, UNIT).id

    def plan(held: list[HeldProof], withdrawable_sat: int) -> WithdrawalPlan:
        chosen = _cover(held, lambda chosen: quote.amount + quote.fee_reserve + fee_of(chosen))
        fee = fee_of(chosen)
        most = quote.amount + quote.fee_reserve + fee
        total = sum(p.amount for p in chosen)
        if most > min(total, withdrawable_sat):
            raise _too_much(withdrawable_sat, mint_url, quote.fee_reserve + fee)
        blanks = plan_amounts([BLANK_AMOUNT] * blank_outputs(total - quote.amount - fee), output_keyset)
        swap = SwapPlan(mint_url, tuple(to_proof(p) for p in chosen), blanks, fee)
        journaled = plan_json(swap, melt_quote=quote.quote, melt_amount=quote.amount, fee_reserve=quote.fee_reserve)
        return WithdrawalPlan(tuple(p.id for p in chosen), journaled, sat_to_msat(most))

    return plan


def blank_outputs(overpaid_sat: int) -> int:
    """NUT-08: enough blank outputs for any change up to `overpaid_sat` (one per bit)."""
    return max(overpaid_sat, 0).bit_length()


def _fees(keysets: tuple[KeysetInfo, ...]) -> Callable[[list[HeldProof]], int]:
    fees = fee_table(keysets)
    return lambda chosen: input_fee([to_proof(p) for p in chosen], fees)


def _cover(held: list[HeldProof], need: Callable[[list[HeldProof]], int]) -> list[HeldProof]:
    """Largest proofs first, until they cover what is needed (which may grow with them: the mint's fee)."""
    chosen: list[HeldProof] = []
    for proof in held:
        if sum(p.amount for p in chosen) >= need(chosen):
            break
        chosen.append(proof)
    return chosen


def _too_much(withdrawable_sat: int, mint_url: str, fee_sat: int) -> NotWithdrawable:
    return NotWithdrawable(
        f"{withdrawable_sat} sat may be withdrawn from {mint_url} now, the mint's fees ({fee_sat} sat) included"
    )
