"""Two node processes on one database (two service stacks with their own in-process state), racing for the same
money against a real mint. Whatever the interleaving: a token is credited once and never lost, a refund pays once,
and the books reconcile."""

import asyncio
import os

from app.payments.deposits import Deposit, Purpose
from tests.fixtures.mint import RunningMint
from tests.treasury.stacks import Intercepting, books, delayed, stack

TOKENS = int(os.environ.get("RACE_TOKENS", "8"))  # RACE_TOKENS=30 reproduces the measurement


async def test_the_same_token_deposited_by_two_processes_at_once_is_credited_once_and_never_lost(
    database_url: str, mint: RunningMint
) -> None:
    tokens = [await mint.make_token(2) for _ in range(TOKENS)]
    async with (
        stack(database_url, mint.url, Intercepting(delayed(0.04))) as slow,
        stack(database_url, mint.url) as fast,
    ):

        async def both(token: str) -> list[Deposit | BaseException]:
            first = asyncio.create_task(slow.deposits.deposit(token, Purpose.CREATE))
            await asyncio.sleep(0.01)  # the second process sees the deposit journaled, its swap still on the way
            second = asyncio.create_task(fast.deposits.deposit(token, Purpose.CREATE))
            return list(await asyncio.gather(first, second, return_exceptions=True))

        outcomes = await asyncio.gather(*(both(token) for token in tokens))
        await fast.recovery.recover_open()
        await slow.recovery.recover_open()
        keys = {o.api_key for pair in outcomes for o in pair if isinstance(o, Deposit)}
        report = await books(fast.db)

    assert report.deposited_msat == TOKENS * 2000, outcomes
    assert (report.liabilities_msat, report.assets_msat, report.reconciles) == (TOKENS * 2000, TOKENS * 2000, True)
    assert len(keys) == TOKENS
    assert all(isinstance(o, Deposit) for pair in outcomes for o in pair), outcomes
