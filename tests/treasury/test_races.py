"""Two node processes on one database (two service stacks with their own in-process state), racing for the same
money against a real mint. Whatever the interleaving: a token is credited once and never lost, a refund pays once,
and the books reconcile."""

import asyncio
import os

import httpx
import pytest

from app.cashu.client import MintClient
from app.cashu.errors import SwapOutcomeUnknown
from app.cashu.tokens import decode_token
from app.cashu.wallet import SwapPlan, plan_receive
from app.payments.deposits import Deposit, Purpose, token_hash
from app.treasury import journal
from app.treasury.records import OpState
from tests.fixtures.mint import RunningMint
from tests.treasury.stacks import Intercepting, Stack, answering, books, delayed, stack

PENDING = {"detail": "proofs are pending", "code": 11002}

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


async def test_recovery_leaves_an_operation_its_live_owner_works_on_and_the_sweep_runs_once_per_database(
    database_url: str, mint: RunningMint
) -> None:
    token = await mint.make_token(4)
    async with (
        stack(database_url, mint.url, Intercepting(answering(400, PENDING, forward_first=False))) as owner,
        stack(database_url, mint.url) as other,
    ):
        with pytest.raises(SwapOutcomeUnknown):
            await owner.deposits.deposit(token, Purpose.BEARER)
        op = await owner.db.run(journal.operation_by_token(token_hash(token)))
        assert op is not None
        async with owner.ownership.own(op.id) as owned:
            assert owned
            assert await other.recovery.recover(op) is None  # another live process owns it: hands off
        assert await owner.recovery.recover_open() == 0  # leads the sweep (the operation is not due yet)
        assert await other.recovery.recover_open() == 0  # not the leader: no sweep at all
        settled = await other.recovery.recover(op, (await plan_of(other, token)).inputs)
        report = await books(other.db)

    assert settled is not None and settled.state is OpState.COMPLETED
    assert (report.deposited_msat, report.open_operations, report.reconciles) == (4_000, 0, True)


async def plan_of(node: Stack, token: str) -> SwapPlan:
    """The swap a deposit of `token` plans: what a process has in hand when the token is presented again."""
    parsed = decode_token(token)
    async with httpx.AsyncClient() as http:
        return await plan_receive(MintClient(http, parsed.mint), parsed)
