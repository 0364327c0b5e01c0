"""`python -m app earnings`: what the node holds, owes and may give its operator, per mint; `earnings withdraw
--token [--mint M] [--amount SAT]` takes it out as a fresh token (printed once on stdout, never logged);
`earnings withdraw --bolt11 INVOICE [--mint M] [--yes]` pays an invoice (the fee shown first, paid with --yes), and
`--lightning-address A --amount SAT` the invoice that address gives;
`earnings token ID` prints the token of a withdrawal that recovery finished after a crash.

Every command first settles withdrawals left open (a crash, a mint that did not answer) from the mint's word."""

import argparse
import asyncio
import functools
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from app.db.database import open_database
from app.db.leases import Leases, new_boot_id
from app.errors import NodeError
from app.payments.lnurl import invoice_for_address
from app.payments.mints import TrustedMints
from app.payments.ownership import Ownership
from app.payments.recovery import Recovery, is_melt
from app.payments.withdrawals import Withdrawal, Withdrawals, withdrawal_of
from app.settings import Settings
from app.treasury.earnings import Earnings
from app.treasury.records import Operation, OpKind, OpState
from app.treasury.service import Treasury

SETTLE_WAIT_S = 2.0  # for an open withdrawal another process is settling right now


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]", handler: Callable[..., int]) -> None:
    earnings = commands.add_parser("earnings", help="ecash held per mint against what users are owed; withdraw")
    earnings.add_argument("--json", action="store_true", help="print JSON instead of a table")
    earnings.set_defaults(handler=handler)
    sub = earnings.add_subparsers(dest="earnings_command")
    withdraw = sub.add_parser("withdraw", help="take earnings out as a token (printed once on stdout) or to Lightning")
    how = withdraw.add_mutually_exclusive_group(required=True)
    how.add_argument("--token", action="store_true", help="as a fresh Cashu token")
    how.add_argument("--bolt11", metavar="INVOICE", help="pay this Lightning invoice (NUT-05 melt)")
    how.add_argument("--lightning-address", metavar="ADDRESS", help="pay --amount sat to this address (LNURL-pay)")
    withdraw.add_argument("--mint", help="the mint to withdraw from (default: the one with the most withdrawable)")
    withdraw.add_argument("--amount", type=int, help="sat for the token (default: all, less the mint's fee)")
    withdraw.add_argument("--yes", action="store_true", help="pay the invoice (without it: show the fee, pay nothing)")
    withdraw.set_defaults(handler=handler)
    token = sub.add_parser("token", help="print the token of a completed withdrawal (after a crash)")
    token.add_argument("id")
    token.set_defaults(handler=handler)


def run_earnings_cli(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 done; 1 nothing withdrawn (the reason on stderr) or its outcome still open; 2 a wrong option."""
    command: Callable[[Withdrawals, Treasury], Awaitable[int]] = {
        "show": lambda w, t: _show(t, args.json),
        "withdraw": lambda w, t: _withdraw(w, args),
        "token": lambda w, t: _token(t, args.id),
    }[args.earnings_command or "show"]

    async def run() -> int:
        async with _withdrawals(settings) as (withdrawals, treasury):
            try:
                await withdrawals.settle_open(SETTLE_WAIT_S)
                return await command(withdrawals, treasury)
            except NodeError as refused:
                print(f"nothing withdrawn: {refused.message}", file=sys.stderr)
                return 1

    return asyncio.run(run())


@asynccontextmanager
async def _withdrawals(settings: Settings) -> AsyncIterator[tuple[Withdrawals, Treasury]]:
    """What the node builds for payments (app.lifespan), for one command."""
    db = open_database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        async with httpx.AsyncClient() as http:
            mints = TrustedMints(http, settings.cashu_mints, timeout_s=settings.mint_timeout_s)
            treasury = Treasury(db)
            ownership = Ownership(Leases(db, new_boot_id()), ttl_s=settings.mint_timeout_s + 5)
            resolve = functools.partial(invoice_for_address, http, allow_private=settings.allow_private_urls)
            recovery = Recovery(treasury, mints, ownership)
            yield Withdrawals(treasury, mints, ownership, recovery, resolve_address=resolve), treasury
    finally:
        await db.close()


async def _show(treasury: Treasury, as_json: bool) -> int:
    earned, recent = await treasury.earnings(), await treasury.recent_withdrawals()
    if as_json:
        payload: dict[str, Any] = {**earned.to_json(), "withdrawals": [_listed(op) for op in recent]}
        print(json.dumps(payload, indent=2))
    else:
        print(format_earnings(earned, recent))
    return 0


async def _withdraw(withdrawals: Withdrawals, args: argparse.Namespace) -> int:
    if args.bolt11 is not None and args.amount is not None:
        print("--amount is for --token and --lightning-address: an invoice names its own amount", file=sys.stderr)
        return 2
    if args.lightning_address is not None:
        if args.amount is None:
            print("--lightning-address needs --amount SAT", file=sys.stderr)
            return 2
        invoice = await withdrawals.invoice_for_address(args.lightning_address, args.amount)
        return await _pay(withdrawals, invoice, args.mint, confirmed=args.yes)
    if args.bolt11 is None:
        return _hand_out(await withdrawals.to_token(mint_url=args.mint, amount_sat=args.amount))
    return await _pay(withdrawals, args.bolt11, args.mint, confirmed=args.yes)


async def _pay(withdrawals: Withdrawals, invoice: str, mint_url: str | None, *, confirmed: bool) -> int:
    """The melt quote's fee first; paid only with --yes."""
    offer = await withdrawals.offer(invoice, mint_url=mint_url)
    print(
        f"pay {offer.amount_sat} sat from {offer.mint_url}, Lightning fee up to {offer.fee_reserve_sat} sat (the "
        f"unused part comes back) plus the mint's input fee; {offer.withdrawable_sat} sat may be withdrawn"
    )
    if not confirmed:
        print("nothing paid: run again with --yes to pay")
        return 0
    paid = await withdrawals.pay_invoice(invoice, mint_url=offer.mint_url)
    if paid.state is not OpState.COMPLETED:
        print(f"withdrawal {paid.op_id} is still being settled with {paid.mint_url}; `python -m app earnings` "
              "shows it once settled", file=sys.stderr)  # fmt: skip
        return 1
    print(f"paid {paid.amount_sat} sat, fees {paid.fee_sat} sat, withdrawal {paid.op_id}, preimage "
          f"{paid.preimage or 'not given'}")  # fmt: skip
    return 0


async def _token(treasury: Treasury, op_id: str) -> int:
    op = await treasury.get(op_id)
    if op is None or op.kind is not OpKind.WITHDRAWAL or is_melt(op):
        print(f"no withdrawal as a token with id {op_id}", file=sys.stderr)
        return 1
    return _hand_out(withdrawal_of(op))


def _hand_out(done: Withdrawal) -> int:
    if done.token is None:
        print(f"withdrawal {done.op_id} is still being settled with {done.mint_url}; run "
              f"`python -m app earnings token {done.op_id}` later", file=sys.stderr)  # fmt: skip
        return 1
    print(f"withdrew {done.amount_sat} sat from {done.mint_url} (mint fee {done.fee_sat} sat), withdrawal "
          f"{done.op_id}", file=sys.stderr)  # fmt: skip
    print(done.token)
    return 0


def _listed(op: Operation) -> dict[str, Any]:
    return {"id": op.id, "state": op.state.value, "mint_url": op.mint_url, "amount_msat": op.amount_msat,
            "error": op.error, "created_at": op.created_at}  # fmt: skip


def format_earnings(earned: Earnings, recent: list[Operation]) -> str:
    rows = [("MINT", "HELD sat", "IN FLIGHT sat", "WITHDRAWABLE sat")]
    rows += [(m.mint_url, str(m.held_sat), str(m.in_flight_sat), str(m.withdrawable_sat)) for m in earned.mints]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    owed = earned.owed
    lines += [
        f"held {earned.held_msat} msat; owed {owed.total_msat} msat (balances {owed.balances_msat}, of which "
        f"reserved {owed.reserved_msat}; refunds in flight {owed.pending_refunds_msat})",
        f"withdrawable {earned.withdrawable_msat} msat in all (a mint's figure is the most it may give of that)",
    ]
    unsettled = [op for op in recent if op.state is not OpState.COMPLETED]
    lines += [f"withdrawal {op.id}: {op.state.value} {op.error or ''}".rstrip() for op in unsettled]
    return "\n".join(lines)
