"""The payment services over the trusted mints: deposits, refunds (to a token or a Lightning address), Lightning
top-ups, foreign-mint swaps, withdrawals, and the recovery that settles what a crash left open."""

import functools
from contextlib import AsyncExitStack

import httpx

from app.cashu.tokens import TokenLimits
from app.db.database import Database
from app.db.leases import Leases
from app.ledger.service import Ledger
from app.payments.deposits import Deposits
from app.payments.foreign import ForeignSwaps
from app.payments.lightning import Lightning
from app.payments.lightning_refunds import PURPOSE as LIGHTNING_REFUND
from app.payments.lightning_refunds import LightningRefunds
from app.payments.lnurl import invoice_for_address
from app.payments.mints import TrustedMints
from app.payments.ownership import Ownership
from app.payments.recovery import Recovery
from app.payments.refunds import Refunds
from app.payments.service import Payments
from app.payments.withdrawals import Withdrawals
from app.settings import Settings
from app.startup.periodic import start_periodic
from app.treasury.records import OpKind
from app.treasury.service import Treasury

RECOVER_OPEN_S = 5  # cheap: only operations whose next try is due, in the one process leading the sweep
LIGHTNING_SWEEP_S = 60


async def start_payments(
    settings: Settings, ledger: Ledger, db: Database, leases: Leases, stack: AsyncExitStack
) -> tuple[Payments, Lightning]:
    """Trusted mints over one keep-alive HTTP client; operations owned through leases in the database (one process
    sends a given swap or mint, however many run); operations left open are settled in the background at start
    and then periodically (a mint that is down never delays start-up)."""
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=64))
    stack.push_async_callback(http.aclose)
    mints = TrustedMints(http, settings.cashu_mints, timeout_s=settings.mint_timeout_s)
    treasury = Treasury(db)
    # longer than any one request to the mint may take; renewed while its owner works
    ownership = Ownership(leases, ttl_s=settings.mint_timeout_s + 5)
    foreign = ForeignSwaps(
        treasury, mints, allow_private=settings.allow_private_urls
    )  # settles journaled foreign swaps also when new ones are refused
    recovery = Recovery(treasury, mints, ownership)
    refunds = Refunds(treasury, mints, ownership, recovery)
    lightning_refunds = LightningRefunds(
        treasury, mints, ownership, refunds, http, allow_private=settings.allow_private_urls
    )
    recovery.settle_with(OpKind.FOREIGN, foreign)
    recovery.settle_with(OpKind.REFUND, lightning_refunds, LIGHTNING_REFUND)
    limits = TokenLimits(max_amount=settings.max_token_sat, max_proofs=settings.max_token_proofs)
    swap_in = foreign if settings.foreign_mints == "swap" else None
    deposits = Deposits(ledger, treasury, mints, ownership, recovery, limits=limits, foreign=swap_in)
    lightning = Lightning(ledger, treasury, mints, ownership)
    stack.push_async_callback(lightning.close)
    start_periodic(
        stack, (RECOVER_OPEN_S, recovery.recover_open), (LIGHTNING_SWEEP_S, lightning.recover_open), first_run_now=True
    )
    resolve = functools.partial(invoice_for_address, http, allow_private=settings.allow_private_urls)
    withdrawals = Withdrawals(treasury, mints, ownership, recovery, resolve_address=resolve)
    return Payments(ledger, deposits, refunds, lightning_refunds, withdrawals), lightning
