"""A node that dies at each step of a foreign swap (before the melt, after it, after the mint at the trusted mint):
a process started afterwards on the same database settles it from the mints' word, the token is credited once,
and posting it again changes nothing. Real FakeWallet mints, both databases."""

import asyncio

import pytest

from app.payments.deposits import Purpose, key_for_token
from app.treasury.records import OpKind, OpState
from tests.fixtures.mint import RunningMint
from tests.payments.crash_harness import Crash, answer_lost, dying, process
from tests.payments.test_deposits import proof_states
from tests.treasury.stacks import Intercepting, books

CREDITED_MSAT = 97_000  # a 100 sat token of `mint_fee` (see test_foreign.py)


CRASH_POINTS = {
    "before_melt": ("/v1/melt/bolt11", False),
    "after_melt": ("/v1/melt/bolt11", True),
    "after_mint": ("/v1/mint/bolt11", True),
}


@pytest.mark.parametrize("crash_point", list(CRASH_POINTS))
async def test_a_crash_at_each_step_settles_once_after_restart(
    database_url: str, mint: RunningMint, mint_fee: RunningMint, crash_point: str
) -> None:
    path, after_sending = CRASH_POINTS[crash_point]
    token = await mint_fee.make_token(100)

    async with process(database_url, mint.url, Intercepting(dying(after_sending=after_sending), path)) as first:
        with pytest.raises(Crash):
            await first.deposits.deposit(token, Purpose.CREATE)
        [journaled] = await first.treasury.open_operations()
        assert (journaled.kind, journaled.state) == (OpKind.FOREIGN, OpState.PLANNED)

    async with process(database_url, mint.url) as restarted:
        await restarted.recovery.recover_open()
        swept = await restarted.treasury.get(journaled.id)
        assert swept is not None
        if crash_point == "before_melt":  # the token never left: only its holder can send it again
            assert swept.state is OpState.PLANNED
            assert await proof_states(mint_fee, token) == {"UNSPENT"}
        else:
            assert swept.state is OpState.COMPLETED and swept.amount_msat == CREDITED_MSAT

        again = await restarted.deposits.deposit(token, Purpose.CREATE)
        twice = await restarted.deposits.deposit(token, Purpose.CREATE)

        assert again.account.balance_msat == twice.account.balance_msat == CREDITED_MSAT
        assert twice.credited_msat == 0
        account = await restarted.ledger.find(key_for_token(token))
        assert account is not None and account.balance_msat == CREDITED_MSAT
        assert await proof_states(mint_fee, token) == {"SPENT"}
        report = await books(restarted.db)
        assert report.reconciles and report.deposited_msat == CREDITED_MSAT and report.open_operations == 0


async def test_a_melt_answer_lost_on_the_way_is_settled_at_once(
    database_url: str, mint: RunningMint, mint_fee: RunningMint
) -> None:
    token = await mint_fee.make_token(100)

    async with process(database_url, mint.url, Intercepting(answer_lost, "/v1/melt/bolt11")) as node:
        deposit = await node.deposits.deposit(token, Purpose.CREATE)

        assert deposit.credited_msat == CREDITED_MSAT
        assert await proof_states(mint_fee, token) == {"SPENT"}
        assert (await books(node.db)).reconciles


async def test_two_processes_given_the_same_token_at_once_credit_it_once(
    database_url: str, mint: RunningMint, mint_fee: RunningMint
) -> None:
    token = await mint_fee.make_token(100)

    async with process(database_url, mint.url) as one, process(database_url, mint.url) as two:
        first, second = await asyncio.gather(
            one.deposits.deposit(token, Purpose.CREATE), two.deposits.deposit(token, Purpose.CREATE)
        )

        assert first.account.id == second.account.id
        assert sorted([first.credited_msat, second.credited_msat]) == [0, CREDITED_MSAT]
        report = await books(one.db)
        assert report.reconciles and report.deposited_msat == CREDITED_MSAT
