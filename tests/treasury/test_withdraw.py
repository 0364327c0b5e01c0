"""The operator's withdrawal as a token: only what the node earned, the mint's fee included, journaled so that the
wallet report reconciles and every mint confirms the journal; racing user refunds it never takes a user's msat."""

import asyncio
from collections.abc import Sequence

import httpx
import pytest

from app.cashu.client import MintClient
from app.cashu.errors import MintRejected
from app.cashu.messages import ProofState
from app.cashu.tokens import decode_token
from app.ledger.records import Totals
from app.payments.deposits import Purpose
from app.payments.refunds import Refund, WalletShort
from app.payments.withdrawals import Withdrawal
from app.treasury.errors import RefundInProgress
from app.treasury.records import OpState
from app.treasury.verify import MintVerification, verify_with_mints
from app.treasury.withdrawals import NotWithdrawable
from tests.fixtures.mint import RunningMint
from tests.treasury.stacks import Intercepting, Stack, answering, books, stack, token_states_at
from tests.treasury.test_earnings import charge


async def verified(node: Stack) -> MintVerification:
    async with httpx.AsyncClient() as http:
        return await verify_with_mints(node.db, lambda url: MintClient(http, url))


def assert_books_add_up(totals: Totals) -> None:
    """deposits = balances + charged + refunded: no user's msat went anywhere else."""
    assert totals.deposited_msat == totals.balances_msat + totals.charged_msat + totals.refunded_msat


async def test_withdraw_everything_earned_as_a_token(database_url: str, mint: RunningMint) -> None:
    async with stack(database_url, mint.url) as node:
        deposit = await node.deposits.deposit(await mint.make_token(100), Purpose.CREATE)
        await charge(node, deposit.account.key_hash, 30_500)
        paid = await node.withdrawals.to_token()
        after = await node.treasury.earnings()
        refund = await node.refunds.refund(deposit.account.id)
        report = await books(node.db)
        totals = await node.ledger.totals()
        audit = await verified(node)

    assert (paid.state, paid.amount_sat, paid.fee_sat) == (OpState.COMPLETED, 30, 0)
    assert paid.token is not None and decode_token(paid.token).amount == 30
    assert token_states_at(mint.url, paid.token) == {ProofState.UNSPENT}
    assert after.withdrawable_msat == 500  # less than a sat: stays
    assert decode_token(refund.token).amount == 69  # the user's whole sats, untouched by the withdrawal
    assert (report.withdrawn_msat, report.assets_msat, report.liabilities_msat, report.reconciles) == (
        30_000, 1_000, 500, True,
    )  # fmt: skip
    assert_books_add_up(totals)
    assert audit.ok, audit.differences


async def test_more_than_earned_is_refused_and_nothing_moves(database_url: str, mint: RunningMint) -> None:
    async with stack(database_url, mint.url) as node:
        deposit = await node.deposits.deposit(await mint.make_token(100), Purpose.CREATE)
        await charge(node, deposit.account.key_hash, 20_000)
        with pytest.raises(NotWithdrawable):
            await node.withdrawals.to_token(amount_sat=21)
        with pytest.raises(NotWithdrawable):
            await node.withdrawals.to_token(mint_url="http://127.0.0.1:1/elsewhere", amount_sat=1)
        partly = await node.withdrawals.to_token(mint_url=mint.url, amount_sat=5)
        earned = await node.treasury.earnings()
        report = await books(node.db)

    assert (partly.amount_sat, earned.withdrawable_msat, earned.owed.total_msat) == (5, 15_000, 80_000)
    assert (report.withdrawn_msat, report.open_operations, report.reconciles) == (5_000, 0, True)


async def test_nothing_earned_nothing_withdrawn(database_url: str, mint: RunningMint) -> None:
    async with stack(database_url, mint.url) as node:
        await node.deposits.deposit(await mint.make_token(10), Purpose.CREATE)
        with pytest.raises(NotWithdrawable):
            await node.withdrawals.to_token()


async def test_the_mint_fee_comes_out_of_the_earnings(database_url: str, mint_fee: RunningMint) -> None:
    async with stack(database_url, mint_fee.url) as node:
        deposit = await node.deposits.deposit(await mint_fee.make_token(64, proofs=4), Purpose.CREATE)
        await charge(node, deposit.account.key_hash, deposit.account.balance_msat - 20_000)
        earned = await node.treasury.earnings()
        with pytest.raises(NotWithdrawable):
            await node.withdrawals.to_token(amount_sat=earned.mints[0].withdrawable_sat)
        paid = await node.withdrawals.to_token()
        report = await books(node.db)
        audit = await verified(node)

    assert paid.fee_sat == 1 and paid.amount_sat == earned.mints[0].withdrawable_sat - 1
    assert (report.withdrawn_msat, report.liabilities_msat, report.reconciles) == (
        (paid.amount_sat + 1) * 1000, 20_000, True,
    )  # fmt: skip
    assert audit.ok, audit.differences


async def refund_until_paid(node: Stack, key_id: int) -> Refund:
    """A refund asked again while the wallet's change from concurrent ones is still on its way back."""
    for _ in range(100):
        try:
            return await node.refunds.refund(key_id)
        except (WalletShort, RefundInProgress):
            await asyncio.sleep(0.05)
    raise AssertionError(f"key {key_id} was never refunded")


async def withdraw_until_done(node: Stack, amount_sat: int) -> Withdrawal:
    """The withdrawal asked again while refunds in flight keep the change it needs."""
    for _ in range(100):
        try:
            return await node.withdrawals.to_token(amount_sat=amount_sat)
        except NotWithdrawable:
            await asyncio.sleep(0.05)
    raise AssertionError("the withdrawal never went through")


async def test_a_withdrawal_racing_refunds_on_two_processes_never_takes_a_users_msat(
    database_url: str, mint: RunningMint
) -> None:
    users = 4
    tokens = [await mint.make_token(16, proofs=1) for _ in range(users)]
    async with stack(database_url, mint.url) as one, stack(database_url, mint.url) as two:
        deposits = [await one.deposits.deposit(token, Purpose.CREATE) for token in tokens]
        for deposit in deposits:
            await charge(one, deposit.account.key_hash, 4_000)
        earned = await one.treasury.earnings()
        nodes: Sequence[Stack] = (one, two) * users
        results = await asyncio.gather(
            *(node.withdrawals.to_token(amount_sat=16) for node in (two, one, two)),
            *(refund_until_paid(nodes[i], d.account.id) for i, d in enumerate(deposits)),
            return_exceptions=True,
        )
        tries, refunds = results[:3], results[3:]
        done = [t for t in tries if isinstance(t, Withdrawal)]
        withdrawn = done[0] if done else await withdraw_until_done(one, 16)
        report = await books(one.db)
        totals = await one.ledger.totals()
        audit = await verified(one)
        with pytest.raises(NotWithdrawable):
            await one.withdrawals.to_token(amount_sat=1)

    assert earned.withdrawable_msat == 16_000
    assert len(done) <= 1 and all(isinstance(t, Withdrawal | NotWithdrawable) for t in tries), tries
    assert all(isinstance(r, Refund) for r in refunds), refunds
    assert sorted(decode_token(r.token).amount for r in refunds if isinstance(r, Refund)) == [12] * users
    assert withdrawn.amount_sat == 16 and withdrawn.token is not None
    assert token_states_at(mint.url, withdrawn.token) == {ProofState.UNSPENT}
    assert (report.withdrawn_msat, report.liabilities_msat, report.assets_msat, report.reconciles) == (
        16_000, 0, 0, True,
    )  # fmt: skip
    assert (totals.deposited_msat, totals.charged_msat, totals.refunded_msat) == (64_000, 16_000, 48_000)
    assert_books_add_up(totals)
    assert audit.ok, audit.differences


async def test_a_withdrawal_the_mint_refuses_gives_its_proofs_back(database_url: str, mint: RunningMint) -> None:
    refusing = Intercepting(answering(400, {"code": 11000, "detail": "no"}, forward_first=False))
    async with stack(database_url, mint.url, refusing) as refused, stack(database_url, mint.url) as node:
        deposit = await node.deposits.deposit(await mint.make_token(32), Purpose.CREATE)
        await charge(node, deposit.account.key_hash, 12_000)
        before = await node.treasury.earnings()
        with pytest.raises(MintRejected):
            await refused.withdrawals.to_token()
        after = await node.treasury.earnings()
        (failed,) = await node.treasury.recent_withdrawals()
        paid = await node.withdrawals.to_token()
        report = await books(node.db)

    assert (failed.state, failed.error) == (OpState.FAILED, "invalid")
    assert after == before and before.withdrawable_msat == 12_000
    assert paid.amount_sat == 12
    assert (report.withdrawn_msat, report.assets_msat, report.liabilities_msat, report.reconciles) == (
        12_000, 20_000, 20_000, True,
    )  # fmt: skip
