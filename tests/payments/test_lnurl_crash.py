"""A node that dies while paying a refund to a Lightning address (before the melt reaches the mint, or after), or
loses the mint's answer: the refund settles once from the mint's word (NUT-07, the melt quote's state, NUT-09 for
the fee change), after a restart if need be. Real FakeWallet mints and LNURL service, both databases."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from app.cashu.tokens import TokenLimits
from app.db.database import Database, open_database
from app.db.leases import Leases, new_boot_id
from app.ledger.service import Ledger
from app.payments.deposits import Deposits, Purpose
from app.payments.lightning_refunds import PURPOSE, LightningRefunds
from app.payments.mints import TrustedMints
from app.payments.ownership import Ownership
from app.payments.recovery import Recovery
from app.payments.refunds import Refunds
from app.treasury.records import OpKind, OpState
from app.treasury.service import Treasury
from tests.fixtures.lnurl import LnurlService
from tests.fixtures.mint import RunningMint
from tests.treasury.stacks import Intercepting, books

Forward = Callable[[httpx.Request], Awaitable[httpx.Response]]


class Crash(Exception):
    """The process dies here."""


@dataclass
class Process:
    db: Database
    ledger: Ledger
    treasury: Treasury
    deposits: Deposits
    recovery: Recovery
    pay: LightningRefunds


@asynccontextmanager
async def process(
    database_url: str, mint_url: str, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[Process]:
    async with AsyncExitStack() as exits:
        db = open_database(database_url)
        exits.push_async_callback(db.close)
        http = await exits.enter_async_context(httpx.AsyncClient(transport=transport))
        ledger, treasury, mints = Ledger(db), Treasury(db), TrustedMints(http, [mint_url])
        ownership = Ownership(Leases(db, new_boot_id()), ttl_s=20)
        recovery = Recovery(treasury, mints, ownership)
        refunds = Refunds(treasury, mints, ownership, recovery)
        pay = LightningRefunds(treasury, mints, ownership, refunds, http, allow_private=True)  # a loopback service
        recovery.settle_with(OpKind.REFUND, pay, PURPOSE)
        deposits = Deposits(ledger, treasury, mints, ownership, recovery, limits=TokenLimits(1_000_000, 256))
        yield Process(db, ledger, treasury, deposits, recovery, pay)


def dying(*, after_sending: bool) -> Callable[[httpx.Request, Forward], Awaitable[httpx.Response]]:
    async def rewrite(request: httpx.Request, forward: Forward) -> httpx.Response:
        if after_sending:
            await forward(request)
        raise Crash()

    return rewrite


@pytest.mark.parametrize("after_sending", [False, True], ids=["before_melt", "after_melt"])
async def test_a_crash_while_paying_settles_once_after_restart(
    database_url: str, mint: RunningMint, lnurl_service: LnurlService, after_sending: bool
) -> None:
    token = await mint.make_token(100)
    async with process(
        database_url, mint.url, Intercepting(dying(after_sending=after_sending), "/v1/melt/bolt11")
    ) as first:
        account = (await first.deposits.deposit(token, Purpose.CREATE)).account
        with pytest.raises(Crash):
            await first.pay.refund(account.id, account.available_msat, lnurl_service.address())
        [journaled] = await first.treasury.open_operations()
        assert (journaled.kind, journaled.purpose, journaled.state) == (OpKind.REFUND, PURPOSE, OpState.PLANNED)

    async with process(database_url, mint.url) as restarted:
        assert await restarted.recovery.recover_open() == 1
        settled = await restarted.treasury.get(journaled.id)
        assert settled is not None and settled.state is OpState.COMPLETED
        assert (await lnurl_service.last_invoice()) == (98, True)
        after = await restarted.ledger.find_by_id(account.id)
        assert after is not None and after.balance_msat == 1_000  # the unused fee reserve came back
        report = await books(restarted.db)
        assert report.reconciles and report.refunded_msat == 99_000 and report.open_operations == 0


async def test_a_lost_melt_answer_is_settled_at_once(
    database_url: str, mint: RunningMint, lnurl_service: LnurlService
) -> None:
    async def lost(request: httpx.Request, forward: Forward) -> httpx.Response:
        await forward(request)
        raise httpx.ReadError("connection reset", request=request)

    token = await mint.make_token(100)
    async with process(database_url, mint.url, Intercepting(lost, "/v1/melt/bolt11")) as node:
        account = (await node.deposits.deposit(token, Purpose.CREATE)).account

        paid = await node.pay.refund(account.id, account.available_msat, lnurl_service.address())

        assert (paid.amount_msat, paid.fee_msat, paid.returned_msat) == (98_000, 1_000, 1_000)
        assert (await books(node.db)).reconciles
