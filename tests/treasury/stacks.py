"""Two node "processes" in one test: each a full set of payments services (its own boot id, HTTP client and
in-process state) on one shared database, optionally behind a transport that slows or rewrites what one of them
sends to the real mint."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from app.cashu.client import MintClient
from app.cashu.messages import ProofState
from app.cashu.tokens import TokenLimits
from app.db.database import Database, open_database
from app.db.leases import Leases, new_boot_id
from app.ledger.service import Ledger
from app.payments.deposits import Deposits
from app.payments.mints import TrustedMints
from app.payments.ownership import Ownership
from app.payments.recovery import Recovery, RetryPolicy
from app.payments.refunds import Refunds
from app.payments.service import Payments
from app.treasury.report import WalletReport, wallet_report
from app.treasury.service import Treasury
from app.treasury.verify import verify_with_mints
from tests.fixtures.gate import token_states

OP_LEASE_TTL_S = 20.0

Rewrite = Callable[[httpx.Request, Callable[[httpx.Request], Awaitable[httpx.Response]]], Awaitable[httpx.Response]]


class Intercepting(httpx.AsyncBaseTransport):
    """Forwards every request to the real mint; requests to `path` go through `rewrite` (delay, answer instead)."""

    def __init__(self, rewrite: Rewrite, path: str = "/v1/swap") -> None:
        self._real = httpx.AsyncHTTPTransport()
        self._rewrite = rewrite
        self._path = path

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != self._path:
            return await self._forward(request)
        return await self._rewrite(request, self._forward)

    async def _forward(self, request: httpx.Request) -> httpx.Response:
        answer = await self._real.handle_async_request(request)
        await answer.aread()
        return httpx.Response(answer.status_code, headers={"content-type": "application/json"}, content=answer.content)

    async def aclose(self) -> None:
        await self._real.aclose()


def answering(status: int, body: dict[str, Any], *, forward_first: bool) -> Rewrite:
    """The mint's answer replaced by `status`/`body`; with `forward_first` the mint got (and did) the request."""

    async def rewrite(
        request: httpx.Request, forward: Callable[[httpx.Request], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        if forward_first:
            await forward(request)
        return httpx.Response(status, json=body)

    return rewrite


def delayed(delay_s: float) -> Rewrite:
    """The request reaches the mint `delay_s` late (a slower path to the mint for one process)."""

    async def rewrite(
        request: httpx.Request, forward: Callable[[httpx.Request], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        await asyncio.sleep(delay_s)
        return await forward(request)

    return rewrite


@dataclass
class Stack:
    """What one node process builds in app.lifespan for payments."""

    db: Database
    ledger: Ledger
    treasury: Treasury
    ownership: Ownership
    recovery: Recovery
    deposits: Deposits
    refunds: Refunds
    payments: Payments


@asynccontextmanager
async def stack(
    database_url: str,
    mint_url: str,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    policy: RetryPolicy | None = None,
) -> AsyncIterator[Stack]:
    async with AsyncExitStack() as exits:
        db = open_database(database_url)
        exits.push_async_callback(db.close)
        http = await exits.enter_async_context(httpx.AsyncClient(transport=transport))
        ledger, treasury = Ledger(db), Treasury(db)
        mints = TrustedMints(http, [mint_url])
        ownership = Ownership(Leases(db, new_boot_id()), ttl_s=OP_LEASE_TTL_S)
        recovery = Recovery(treasury, mints, ownership, policy or RetryPolicy())
        deposits = Deposits(
            ledger, treasury, mints, ownership, recovery, limits=TokenLimits(max_amount=1_000_000, max_proofs=256)
        )
        refunds = Refunds(treasury, mints, ownership, recovery)
        yield Stack(db, ledger, treasury, ownership, recovery, deposits, refunds, Payments(ledger, deposits, refunds))


async def books(db: Database) -> WalletReport:
    """The wallet report, after asserting balance = ledger sum for every key and that the mints agree with the
    journal (what `wallet report --verify` checks: held proofs unspent, credited tokens spent, refunds signed)."""
    assert await Ledger(db).check() == []
    async with httpx.AsyncClient() as http:
        verified = await verify_with_mints(db, lambda url: MintClient(http, url))
    assert verified.ok, verified.differences
    return await wallet_report(Treasury(db))


def token_states_at(mint_url: str, token_text: str) -> set[ProofState]:
    """What the mint itself says (NUT-07) about a token's proofs (from a worker thread: callable in a running loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(token_states, token_text, mint_url).result()
