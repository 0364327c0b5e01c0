"""Operator commands: `python -m app serve | migrate | keys create/show | ledger check | wallet report [--verify] |
admin set-password | earnings [withdraw]`."""

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from app.db.database import Database, open_database
from app.db.files import InsecureStorage, secure_storage
from app.db.migrate import upgrade_to_head
from app.dvm.cli import add_arguments as add_dvm_arguments
from app.dvm.cli import add_refund_arguments as add_dvm_refund_arguments
from app.earnings_cli import register as register_earnings
from app.ledger.service import Ledger
from app.observability.logging import configure_logging, log_config
from app.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from app.treasury.verify import MintVerification

Command = Callable[[Settings, argparse.Namespace], int]

OWN_DESCRIPTORS = 256  # the node's own files and sockets besides the upstream pool: database, mints, relays, logs


def _migrated(settings: Settings) -> None:
    secure_storage(settings.database_url, settings.data_dir)
    upgrade_to_head(settings.database_url)  # outside the loop: alembic runs its own for PostgreSQL


def _with_database(settings: Settings, use: Callable[[Database], Awaitable[int]]) -> int:
    _migrated(settings)

    async def run() -> int:
        db = open_database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        try:
            return await use(db)
        finally:
            await db.close()

    return asyncio.run(run())


def _with_ledger(settings: Settings, use: Callable[[Ledger], Awaitable[int]]) -> int:
    return _with_database(settings, lambda db: use(Ledger(db)))


def serve(settings: Settings, args: argparse.Namespace) -> int:
    refusal = settings.serving_refusal()
    if refusal is not None:
        raise refusal
    _migrated(settings)
    _serve(settings, args)
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from app.http_server import connection_limit, listen_backlog_shortfall, raise_open_files_limit

    open_files = raise_open_files_limit()  # worker processes inherit it
    max_connections = connection_limit(
        settings.http_max_connections, open_files, OWN_DESCRIPTORS, settings.upstream_max_connections
    )
    logging.getLogger(__name__).info(
        "server.limits: workers=%d open_files=%d max_connections=%d per worker",
        settings.workers,
        open_files,
        max_connections,
    )
    backlog = max(2048, max_connections)  # uvicorn's 2048 overflows when thousands of streams open in a second
    kernel_cap = listen_backlog_shortfall(backlog)
    if kernel_cap is not None:
        logging.getLogger(__name__).warning(
            "server.backlog_capped: the kernel keeps at most %d connections waiting to be accepted, the node asked "
            "for %d; a burst beyond that is dropped or reset: sysctl -w net.core.somaxconn=%d",
            kernel_cap,
            backlog,
            backlog,
        )
    options: dict[str, Any] = dict(
        factory=True,
        workers=settings.workers,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="app.http_server:GuardedHttpTools",
        limit_concurrency=max_connections,
        backlog=backlog,
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
        timeout_keep_alive=settings.http_keep_alive_s,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        access_log=settings.access_log,
        log_level=settings.log_level.lower(),
        log_config=log_config(settings.log_format, settings.log_level),  # each worker logs as LOG_FORMAT says
    )
    # an import string and a factory, so that uvicorn can start the same app in each worker process
    if settings.workers == 1:
        uvicorn.run("app.cli:served_app", **options)
        return
    from app.http_workers import BalancedWorkers

    try:
        workers = BalancedWorkers(uvicorn.Config("app.cli:served_app", **options))  # a socket each: balanced
    except OSError as exc:  # as uvicorn says it for one worker: one line, exit 1
        logging.getLogger(__name__).error("server.bind_failed: %s:%d: %s", args.host, args.port, exc)
        raise SystemExit(1) from None
    workers.run()


def served_app() -> "FastAPI":
    """What uvicorn serves in each worker process: the node for the settings in the environment (as `serve` read
    them), with the HTTP protocol's timeouts taken from them. The database was migrated before the workers start."""
    from app.http_server import GuardedHttpTools
    from app.main import create_app

    settings = load_settings()
    GuardedHttpTools.header_timeout_s = settings.http_header_timeout_s
    GuardedHttpTools.body_timeout_s = settings.http_body_timeout_s
    return create_app(settings)


def migrate(settings: Settings, _: argparse.Namespace) -> int:
    _migrated(settings)
    print("database is at the newest schema")
    return 0


def keys_create(settings: Settings, args: argparse.Namespace) -> int:
    async def create(ledger: Ledger) -> int:
        key, _ = await ledger.create_key(args.balance_msat)
        print(key)
        return 0

    return _with_ledger(settings, create)


def keys_show(settings: Settings, args: argparse.Namespace) -> int:
    async def show(ledger: Ledger) -> int:
        account = await ledger.find(args.key)
        if account is None:
            print("no such key", file=sys.stderr)
            return 1
        entries = await ledger.entries(account.id)
        spent = -sum(e.amount_msat for e in entries if e.kind == "charge")
        _print_json(
            {
                "key_hash": account.key_hash,
                "balance_msat": account.balance_msat,
                "reserved_msat": account.reserved_msat,
                "spent_msat": spent,
                "ledger_entries": len(entries),
            }
        )
        return 0

    return _with_ledger(settings, show)


def ledger_check(settings: Settings, _: argparse.Namespace) -> int:
    async def check(ledger: Ledger) -> int:
        violations = await ledger.check()
        totals = await ledger.totals()
        _print_json({"ok": not violations, "violations": [asdict(v) for v in violations], "totals": asdict(totals)})
        return 1 if violations else 0

    return _with_ledger(settings, check)


def wallet_report(settings: Settings, args: argparse.Namespace) -> int:
    from app.treasury.report import wallet_report as build_report
    from app.treasury.service import Treasury

    async def report(db: Database) -> int:
        built = await build_report(Treasury(db))
        payload = built.to_json()
        verified = await _verify_with_mints(db, settings.mint_timeout_s) if args.verify else None
        if verified is not None:
            payload["verify"] = verified.to_json()
        _print_json(payload)
        return 0 if built.reconciles and (verified is None or verified.ok) else 1

    return _with_database(settings, report)


async def _verify_with_mints(db: Database, timeout_s: float) -> "MintVerification":
    """Each mint named in the journal, asked directly (also one no longer trusted: its ecash is still ours)."""
    import httpx

    from app.cashu.client import MintClient
    from app.treasury.verify import verify_with_mints

    async with httpx.AsyncClient() as http:
        clients: dict[str, MintClient] = {}

        def client_for(mint_url: str) -> MintClient:
            return clients.setdefault(mint_url, MintClient(http, mint_url, timeout_s=timeout_s))

        return await verify_with_mints(db, client_for)


def admin_set_password(settings: Settings, _: argparse.Namespace) -> int:
    """The admin password from the terminal (asked twice), or the first line of stdin when it is not a terminal."""
    from app.admin.auth import AdminAuth
    from app.admin.passwords import WeakPassword

    password = _read_password()
    if password is None:
        print("the two passwords differ; nothing was changed", file=sys.stderr)
        return 1

    async def store(db: Database) -> int:
        auth = AdminAuth(db, admin_token="", session_ttl_s=settings.admin_session_ttl_s)
        try:
            await auth.set_password(password)
        except WeakPassword as exc:
            print(exc, file=sys.stderr)
            return 1
        print("admin password set (stored as an scrypt hash); every admin session was ended")
        return 0

    return _with_database(settings, store)


def _read_password() -> str | None:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("new admin password: ")
    return first if getpass.getpass("again: ") == first else None


def discover(settings: Settings, args: argparse.Namespace) -> int:
    from app.nostr.discover_cli import run_discover_cli

    return run_discover_cli(settings.relays, args.json)


def earnings(settings: Settings, args: argparse.Namespace) -> int:
    from app.earnings_cli import run_earnings_cli

    _migrated(settings)
    return run_earnings_cli(settings, args)


def dvm_request(_: Settings, args: argparse.Namespace) -> int:
    from app.dvm.cli import run_request

    return run_request(args)


def dvm_refund(_: Settings, args: argparse.Namespace) -> int:
    from app.dvm.cli import run_refund

    return run_refund(args)


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, default=str))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="migrate the database, then serve the node")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.set_defaults(handler=serve)
    commands.add_parser("migrate", help="bring the database to the newest schema").set_defaults(handler=migrate)
    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key with an opening balance; prints the key once")
    create.add_argument("--balance-msat", type=int, required=True)
    create.set_defaults(handler=keys_create)
    show = keys.add_parser("show", help="balance and spend of a key")
    show.add_argument("key")
    show.set_defaults(handler=keys_show)
    ledger = commands.add_parser("ledger", help="the books").add_subparsers(dest="ledger_command", required=True)
    ledger.add_parser(
        "check", help="prove the books: balances, row signs and chains, one move per operation"
    ).set_defaults(handler=ledger_check)
    wallet = commands.add_parser("wallet", help="the node's ecash").add_subparsers(dest="wallet_command", required=True)
    report = wallet.add_parser("report", help="proofs held per mint against user balances")
    report.add_argument(
        "--verify", action="store_true", help="also ask each mint (NUT-07/09/12) about every proof the node holds, "
        "spent, took in or paid out; exit 1 on any difference"
    )  # fmt: skip
    report.set_defaults(handler=wallet_report)
    admin = commands.add_parser("admin", help="the admin API and dashboard").add_subparsers(
        dest="admin_command", required=True
    )
    admin.add_parser(
        "set-password", help="set the admin password (asked twice, or read from stdin); ends every admin session"
    ).set_defaults(handler=admin_set_password)
    find = commands.add_parser("discover", help="list the providers announced on the configured relays")
    find.add_argument("--json", action="store_true", help="print JSON instead of a table")
    find.set_defaults(handler=discover)
    register_earnings(commands, earnings)
    dvm = commands.add_parser("dvm", help="NIP-90 data vending machine").add_subparsers(
        dest="dvm_command", required=True
    )
    job = dvm.add_parser("request", help="publish a kind 5050 job, wait for its result, print it and the change")
    add_dvm_arguments(job)
    job.set_defaults(handler=dvm_request)
    claim = dvm.add_parser("refund", help="take a Nostr customer's balance on a node back as a token (NIP-98 auth)")
    add_dvm_refund_arguments(claim)
    claim.set_defaults(handler=dvm_refund)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 done, 1 a check failed, 2 a configuration error (one line per setting, no traceback)."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_format, settings.log_level)
        handler: Command = args.handler
        return handler(settings, args)
    except (ConfigError, InsecureStorage) as exc:
        print(f"configuration error: {exc}".replace("\n", "\nconfiguration error: "), file=sys.stderr)
        return 2
