"""One node process's payments services on a shared database (as the node builds them at start-up, each its own boot
id), optionally behind a transport that makes the process die at a mint request or lose the mint's answer: a test
starts another process on the same database afterwards and watches it settle what the first left open."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx

from app.cashu.tokens import TokenLimits
from app.db.database import Database, open_database
from app.db.leases import Leases, new_boot_id
from app.ledger.service import Ledger
from app.payments.deposits import Deposits
from app.payments.foreign import ForeignSwaps
from app.payments.lightning_refunds import PURPOSE, LightningRefunds
from app.payments.mints import TrustedMints
from app.payments.ownership import Ownership
from app.payments.recovery import Recovery
from app.payments.refunds import Refunds
from app.treasury.records import OpKind
from app.treasury.service import Treasury
from tests.treasury.stacks import Rewrite

Forward = Callable[[httpx.Request], Awaitable[httpx.Response]]


class Crash(Exception):
    """The process dies here: nothing after this line of the node's work runs."""


def dying(*, after_sending: bool) -> Rewrite:
    """The process dies at the request, before it reaches the mint or once the mint has done it."""

    async def rewrite(request: httpx.Request, forward: Forward) -> httpx.Response:
        if after_sending:
            await forward(request)
        raise Crash()

    return rewrite


async def answer_lost(request: httpx.Request, forward: Forward) -> httpx.Response:
    """The mint did the request, its answer never arrives."""
    await forward(request)
    raise httpx.ReadError("connection reset", request=request)


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
    database_url: str, trusted_url: str, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[Process]:
    async with AsyncExitStack() as exits:
        db = open_database(database_url)
        exits.push_async_callback(db.close)
        http = await exits.enter_async_context(httpx.AsyncClient(transport=transport))
        ledger, treasury, mints = Ledger(db), Treasury(db), TrustedMints(http, [trusted_url])
        ownership = Ownership(Leases(db, new_boot_id()), ttl_s=20)
        recovery = Recovery(treasury, mints, ownership)
        foreign = ForeignSwaps(treasury, mints, allow_private=True)  # the test mints are on 127.0.0.1
        refunds = Refunds(treasury, mints, ownership, recovery)
        pay = LightningRefunds(treasury, mints, ownership, refunds, http, allow_private=True)  # a loopback service
        recovery.settle_with(OpKind.FOREIGN, foreign)
        recovery.settle_with(OpKind.REFUND, pay, PURPOSE)
        limits = TokenLimits(max_amount=1_000_000, max_proofs=256)
        deposits = Deposits(ledger, treasury, mints, ownership, recovery, limits=limits, foreign=foreign)
        yield Process(db, ledger, treasury, deposits, recovery, pay)
