"""The operator's earnings: ecash held against what users are owed, per mint, never counting ecash promised to an
operation in flight."""

import os

import pytest

from app.cashu.errors import SwapOutcomeUnknown
from app.payments.deposits import Purpose
from app.treasury.earnings import MintHeld, Owed, assess
from app.treasury.records import OpState
from tests.fixtures.mint import RunningMint
from tests.treasury.stacks import Intercepting, Stack, answering, stack


async def charge(node: Stack, key_hash: str, cost_msat: int) -> None:
    """A paid request's charge, as the proxy makes it: reserve, then settle."""
    request_id = os.urandom(8).hex()
    await node.ledger.reserve(key_hash, cost_msat, request_id)
    assert await node.ledger.settle(request_id, cost_msat) is not None


def test_withdrawable_is_held_less_balances_and_refunds_in_flight_and_never_negative() -> None:
    held = [MintHeld("http://a", 70, 5), MintHeld("http://b", 30, 0)]
    earned = assess(held, Owed(balances_msat=60_500, reserved_msat=2_000, pending_refunds_msat=9_000))

    assert (earned.held_msat, earned.in_flight_msat, earned.owed.total_msat) == (100_000, 5_000, 69_500)
    assert earned.withdrawable_msat == 30_500
    assert [(m.mint_url, m.withdrawable_sat) for m in earned.mints] == [("http://a", 30), ("http://b", 30)]
    one_big_balance = assess(held, Owed(60_000, 0, 0, largest_balance_msat=59_001))  # 60 sat refunded from one mint
    assert [m.withdrawable_sat for m in one_big_balance.mints] == [10, 30]  # b's 30 may go: a keeps 60
    owing_more = assess(held, Owed(balances_msat=150_000, reserved_msat=0, pending_refunds_msat=0))
    assert owing_more.withdrawable_msat == 0 and {m.withdrawable_sat for m in owing_more.mints} == {0}


async def test_earnings_are_the_charges_less_grants(database_url: str, mint: RunningMint) -> None:
    async with stack(database_url, mint.url) as node:
        deposit = await node.deposits.deposit(await mint.make_token(100), Purpose.CREATE)
        await charge(node, deposit.account.key_hash, 30_500)
        charged = await node.treasury.earnings()
        await node.ledger.create_key(10_000)  # an operator grant: owed, never backed by ecash
        granted = await node.treasury.earnings()

    assert (charged.held_msat, charged.owed.balances_msat, charged.withdrawable_msat) == (100_000, 69_500, 30_500)
    assert [(m.held_sat, m.in_flight_sat, m.withdrawable_sat) for m in charged.mints] == [(100, 0, 30)]
    assert granted.withdrawable_msat == 20_500


async def test_a_refund_in_flight_counts_as_owed_and_its_proofs_as_nothing(
    database_url: str, mint: RunningMint
) -> None:
    unanswered = Intercepting(answering(504, {"detail": "gateway timeout"}, forward_first=False))
    async with stack(database_url, mint.url, unanswered) as cut_off, stack(database_url, mint.url) as node:
        deposit = await node.deposits.deposit(await mint.make_token(64, proofs=1), Purpose.CREATE)
        await charge(node, deposit.account.key_hash, 14_000)
        before = await node.treasury.earnings()
        with pytest.raises(SwapOutcomeUnknown):
            await cut_off.refunds.refund(deposit.account.id)
        in_flight = await node.treasury.earnings()
        (refund,) = await node.treasury.open_operations()
        settled = await node.recovery.recover(refund)
        after = await node.treasury.earnings()

    assert before.withdrawable_msat == 14_000
    assert (in_flight.held_msat, in_flight.in_flight_msat, in_flight.owed.total_msat) == (0, 64_000, 50_000)
    assert in_flight.withdrawable_msat == 0
    assert settled is not None and settled.state is OpState.COMPLETED
    assert (after.held_msat, after.owed.total_msat, after.withdrawable_msat) == (14_000, 0, 14_000)
