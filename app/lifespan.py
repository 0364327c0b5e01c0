"""Builds the node's long-lived resources at start, runs its periodic jobs, and closes everything at stop."""

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from app import __version__
from app.admin.auth import AdminAuth
from app.admin.service import Admin
from app.cashu.client import MintClient
from app.cashu.tokens import TokenLimits
from app.db.database import Database, open_database
from app.db.files import secure_storage
from app.db.leases import Leases, new_boot_id, process_lease
from app.db.migrate import upgrade_to_head
from app.db.ping import ping
from app.db.urls import redacted
from app.demo_upstream import DemoUpstreamFailed, start_demo_upstream, stop_demo_upstream
from app.devmint import start_local_mint, stop_local_mint
from app.dvm.cancel import JobCancels
from app.dvm.claims import BalanceClaims
from app.dvm.handler import HandlerInfo
from app.dvm.inbox import find_inbox
from app.dvm.listener import DvmListener
from app.dvm.publisher import JobPublisher
from app.dvm.recovery import JobRecovery
from app.dvm.service import DvmConfig, DvmService
from app.ledger.dvm_jobs import DvmJobs
from app.ledger.service import Ledger
from app.node import Node
from app.nostr.announcer import Announcer
from app.nostr.keys import load_node_keys
from app.nostr.pool import RelayPool
from app.nostr.provider_cache import ProviderCache
from app.observability.metrics import Metrics
from app.observability.ready import Check, Readiness
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
from app.pricing.catalog import PricingPolicy, parse_model_prices, usd_priced_models
from app.pricing.prices import Price
from app.pricing.rates import FixedRate, LiveRate
from app.proxy.background import BackgroundWork
from app.proxy.model_catalog import ModelCatalog
from app.proxy.service import ProxyService
from app.settings import ConfigError, Settings
from app.treasury.records import OpKind
from app.treasury.service import Treasury
from app.upstream.client import UpstreamConfig
from app.upstream.config import UpstreamSpec
from app.upstream.rates import Tickers, parse_sources
from app.upstream.registry import BreakerPolicy, Registry

log = logging.getLogger(__name__)

STALE_SWEEP_S = 300
RECOVER_OPEN_S = 5  # cheap: only operations whose next try is due, in the one process leading the sweep
LIGHTNING_SWEEP_S = 60
PROCESS_LEASE_TTL_S = 30.0  # a process that stopped renewing for this long is taken for dead


def pricing_policy(settings: Settings, btc_usd: float) -> PricingPolicy:
    default = None
    if settings.unpriced_models != "refuse":
        default = Price(settings.default_prompt_msat_per_mtok, settings.default_completion_msat_per_mtok)
    return PricingPolicy(
        parse_model_prices(settings.model_prices, btc_usd),
        default,
        refuse_unpriced_once_priced=settings.unpriced_models is None,
        usd_configured=usd_priced_models(settings.model_prices),
    )


async def _upstream_specs(settings: Settings, stack: AsyncExitStack) -> list[UpstreamSpec]:
    """UPSTREAMS or UPSTREAMS_FILE; else UPSTREAM_BASE_URL alone (the shorthand); else, for a demo, the stand-in."""
    specs = settings.upstream_specs()
    if specs:
        return specs
    url = await _upstream_url(settings, stack)
    return [UpstreamSpec("upstream", url, settings.upstream_api_key.get_secret_value())]


async def _upstreams(settings: Settings, stack: AsyncExitStack) -> tuple[Registry, str]:
    """The upstreams over their pools, and how to name them to the operator: one upstream's URL as configured,
    several as name=scheme://host/path each (no credentials)."""
    pool = UpstreamConfig(
        base_url="",
        connect_timeout_s=settings.upstream_connect_timeout_s,
        read_timeout_s=settings.upstream_read_timeout_s,
        max_connections=settings.upstream_max_connections,
        pool_wait_s=settings.upstream_pool_wait_s,
    )
    breakers = BreakerPolicy(settings.upstream_breaker_failures, settings.upstream_breaker_open_s)
    specs = await _upstream_specs(settings, stack)
    upstreams = Registry.build(specs, pool, breakers)
    await upstreams.start()
    stack.push_async_callback(upstreams.close)
    if len(specs) == 1:
        return upstreams, specs[0].base_url
    return upstreams, ", ".join(f"{spec.name}={_without_credentials(spec.base_url)}" for spec in specs)


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


async def _rates(settings: Settings, stack: AsyncExitStack) -> FixedRate | LiveRate:
    """BTC_USD_SOURCES asked in the background (start-up never waits for them); none: BTC_USD_RATE, always."""
    sources = parse_sources(settings.btc_usd_sources)
    if not sources:
        return FixedRate(settings.btc_usd_rate)
    tickers = Tickers(sources)
    await tickers.start()
    stack.push_async_callback(tickers.close)
    return LiveRate(tickers.quotes, settings.btc_usd_rate, settings.btc_usd_max_age_s)


async def _upstream_url(settings: Settings, stack: AsyncExitStack) -> str:
    if settings.upstream_base_url:
        return settings.upstream_base_url
    if not settings.demo:
        raise ConfigError("UPSTREAM_BASE_URL is not set (DEMO=true serves the built-in stand-in's demo replies)")
    try:
        standin = await start_demo_upstream(settings.data_dir)
    except DemoUpstreamFailed as failed:
        raise ConfigError(f"UPSTREAM_BASE_URL is not set and {failed}") from failed
    stack.push_async_callback(stop_demo_upstream, standin)
    log.warning("demo.upstream: no UPSTREAM_BASE_URL set, serving the stand-in's demo replies from %s", standin.url)
    return standin.url


async def _with_demo_mint(settings: Settings, stack: AsyncExitStack) -> tuple[Settings, tuple[str, ...]]:
    """DEMO=true without CASHU_MINTS: the node starts a FakeWallet mint and trusts only it, loudly."""
    if settings.cashu_mints:
        return settings, ()
    if not settings.demo:
        log.warning("cashu.no_mints: CASHU_MINTS is not set, this node takes no ecash")
        return settings, ()
    mint = await start_local_mint(settings.data_dir)
    stack.push_async_callback(stop_local_mint, mint)
    log.warning(
        "demo.fake_mint: DEMO=true, trusting the FakeWallet test mint at %s: it pays every invoice, so its ecash is"
        " worthless; never serve real users from a demo node",
        mint.url,
    )
    return settings.model_copy(update={"cashu_mints": [mint.url]}), (mint.url,)


async def _every(interval_s: float, job: Callable[[], Awaitable[Any]], first_run_now: bool) -> None:
    if not first_run_now:
        await asyncio.sleep(interval_s)
    while True:
        try:
            await job()
        except Exception:
            log.exception("periodic.failed")
        await asyncio.sleep(interval_s)


def _start_periodic(
    stack: AsyncExitStack, *jobs: tuple[float, Callable[[], Awaitable[Any]]], first_run_now: bool = False
) -> None:
    tasks = [asyncio.create_task(_every(interval, job, first_run_now)) for interval, job in jobs]

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    stack.push_async_callback(stop)


async def build_node(settings: Settings, stack: AsyncExitStack) -> Node:
    secure_storage(settings.database_url, settings.data_dir)  # before the node writes anything
    settings, fake_mints = await _with_demo_mint(settings, stack)
    await asyncio.to_thread(upgrade_to_head, settings.database_url)
    db = open_database(
        settings.database_url,
        sqlite_synchronous=settings.sqlite_synchronous,
        sqlite_metering_synchronous=settings.sqlite_metering_synchronous,
    )
    stack.push_async_callback(db.close)
    leases = await _hold_process_lease(db, stack)
    background = BackgroundWork()
    stack.push_async_callback(background.drain)  # runs before db.close: settlements finish first
    ledger = Ledger(db, leases=leases)
    await ledger.release_orphaned()
    await ledger.release_stale(settings.reservation_ttl_s)

    upstreams, upstream_url = await _upstreams(settings, stack)
    rates = await _rates(settings, stack)
    catalog = ModelCatalog(upstreams, lambda btc_usd: pricing_policy(settings, btc_usd), rates)
    await catalog.refresh()
    proxy = ProxyService(ledger, catalog.current, upstreams, background, settings.max_completion_tokens, rates)
    if isinstance(rates, LiveRate):
        _start_periodic(stack, (settings.btc_usd_refresh_s, _then(rates.refresh, catalog.reprice)), first_run_now=True)
    _start_periodic(
        stack,
        (settings.models_refresh_s, catalog.refresh),
        (PROCESS_LEASE_TTL_S, _led(leases, "orphan-sweep", PROCESS_LEASE_TTL_S, ledger.release_orphaned)),
        (
            STALE_SWEEP_S,
            _led(leases, "stale-sweep", STALE_SWEEP_S, lambda: ledger.release_stale(settings.reservation_ttl_s)),
        ),
    )
    payments, lightning = await _start_payments(settings, ledger, db, leases, stack)
    node = Node(
        settings, ledger, catalog, proxy, rates, payments, lightning, upstream_url, leases, fake_mints=fake_mints
    )
    node.admin = Admin(
        db,
        ledger,
        AdminAuth(
            db,
            admin_token=settings.admin_token.get_secret_value(),
            session_ttl_s=settings.admin_session_ttl_s,
        ),
    )
    await _start_nostr(node, stack)
    if settings.dvm_enabled:
        await _start_dvm(node, db, stack)
    node.readiness = _start_readiness(settings, db, upstreams, stack)
    log.info("node.started: database=%s upstream=%s", redacted(settings.database_url), upstream_url)
    return node


def _then(first: Callable[[], Awaitable[Any]], second: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
    async def both() -> None:
        await first()
        await second()

    return both


def _led(
    leases: Leases, job: str, interval_s: float, work: Callable[[], Awaitable[Any]]
) -> Callable[[], Awaitable[None]]:
    """`work` run by one process per database, the holder of the lease `job:<job>` (renewed at each run). When the
    leader dies, its lease expires two intervals later and the next process to ask takes the job over."""

    async def run() -> None:
        if await leases.take(f"job:{job}", 2 * interval_s):
            await work()

    return run


async def _hold_process_lease(db: Database, stack: AsyncExitStack) -> Leases:
    """This process's liveness lease, renewed while it runs and given up at a clean stop, so that other processes
    on the database can tell when what it held (reservations, mint operations) was orphaned by a crash."""
    leases = Leases(db, new_boot_id())
    name = process_lease(leases.owner)
    await leases.take(name, PROCESS_LEASE_TTL_S)
    stack.push_async_callback(leases.give_up, name)
    _start_periodic(stack, (PROCESS_LEASE_TTL_S / 3, lambda: leases.take(name, PROCESS_LEASE_TTL_S)))
    log.info("node.process boot_id=%s", leases.owner)
    return leases


async def _start_payments(
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
    _start_periodic(
        stack, (RECOVER_OPEN_S, recovery.recover_open), (LIGHTNING_SWEEP_S, lightning.recover_open), first_run_now=True
    )
    resolve = functools.partial(invoice_for_address, http, allow_private=settings.allow_private_urls)
    withdrawals = Withdrawals(treasury, mints, ownership, recovery, resolve_address=resolve)
    return Payments(ledger, deposits, refunds, lightning_refunds, withdrawals), lightning


async def _start_nostr(node: Node, stack: AsyncExitStack) -> None:
    """The node's Nostr identity, its kind 38421 announcement and, if enabled, the provider list. Relays never
    delay start-up; a malformed NSEC stops it."""
    settings = node.settings
    keys = load_node_keys(settings.nsec.get_secret_value(), settings.data_dir)
    node.npub = keys.npub
    if settings.announce:
        node.announcer = Announcer(
            keys,
            settings.relays,
            name=settings.name,
            about=settings.description,
            http_url=settings.http_url,
            onion_url=settings.onion_url,
            mints=settings.cashu_mints,
            version=__version__,
            interval_s=settings.announce_interval_s,
            provider_id=settings.provider_id,
            force=settings.announce_force,
            publish_relay_list=settings.publish_relay_list,
            lead=lambda: node.leases.take("job:announce", 2 * settings.announce_interval_s),
        )
        await node.announcer.start()
        stack.push_async_callback(node.announcer.stop)
    if settings.providers_enabled:
        node.providers = ProviderCache(settings.relays, refresh_s=settings.providers_refresh_s)
        await node.providers.start()
        stack.push_async_callback(node.providers.stop)


async def _start_dvm(node: Node, db: Database, stack: AsyncExitStack) -> None:
    """The NIP-90 service provider: jobs from the node's relays, paid and run on this node's ledger."""
    settings = node.settings
    keys = load_node_keys(settings.nsec.get_secret_value(), settings.data_dir)
    inbox = await find_inbox(keys.pubkey, settings.relays)  # NIP-65: read relays in, write relays out
    inbound = RelayPool(inbox.read)
    outbound = inbound if inbox.write == inbox.read else RelayPool(inbox.write)
    if outbound is not inbound:
        stack.push_async_callback(outbound.close)
    jobs = DvmJobs(db, node.leases.owner)
    config = DvmConfig(settings.dvm_default_model, partial_every_s=settings.dvm_partial_every_s)
    publisher = JobPublisher(keys, outbound, config.publish_timeout_s)
    service = DvmService(publisher, jobs, node.proxy, node.payments, config)
    recovery = JobRecovery(
        jobs, publisher, node.payments.refunds,
        is_alive=node.leases.is_alive, release=node.ledger.release, running=service.running,
    )  # fmt: skip
    listener = DvmListener(
        inbound, service, recovery, keys.pubkey,
        accept_untargeted=settings.dvm_accept_untargeted, max_jobs=settings.dvm_max_jobs,
        cancels=JobCancels(jobs, publisher),
    )  # fmt: skip
    await listener.start()
    stack.push_async_callback(listener.stop)
    node.dvm_claims = BalanceClaims(db, jobs, node.payments.refunds)
    if node.announcer is not None:
        info = HandlerInfo(
            settings.name, settings.description, node.catalog.current, node.rates, settings.max_completion_tokens
        )
        node.announcer.also_publish(info.events)


def lifespan_for(settings: Settings) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            limits = getattr(app.state, "limits", None)  # set by app.main.create_app
            if limits is not None:
                stack.push_async_callback(limits.close)
            app.state.node = await build_node(settings, stack)
            _feed_metrics(getattr(app.state, "metrics", None), app.state.node)
            yield

    return lifespan


def _start_readiness(settings: Settings, db: Database, upstreams: Registry, stack: AsyncExitStack) -> Readiness:
    """What GET /ready asks: the database every time; the upstream's model list and each trusted mint's /v1/info
    when their last answer is older than READY_MAX_AGE_S (and in the background, for the metrics)."""
    max_age_s = settings.ready_max_age_s
    http = httpx.AsyncClient()
    stack.push_async_callback(http.aclose)
    mints = [MintClient(http, url, timeout_s=settings.ready_probe_timeout_s) for url in settings.cashu_mints]
    checks = [
        Check("database", lambda: ping(db), 0),
        *_upstream_checks(upstreams, max_age_s),
        *(Check(f"mint:{mint.url}", mint.info, max_age_s) for mint in mints),
    ]
    readiness = Readiness(checks, probe_timeout_s=settings.ready_probe_timeout_s)
    _start_periodic(stack, (max_age_s / 2, readiness.refresh), first_run_now=True)
    return readiness


def _upstream_checks(upstreams: Registry, max_age_s: float) -> list[Check]:
    """`upstream` for the one upstream of UPSTREAM_BASE_URL, `upstream:<name>` each when UPSTREAMS lists several."""
    clients = upstreams.clients()
    if len(clients) == 1:
        return [Check("upstream", clients[0][1].list_models, max_age_s)]
    return [Check(f"upstream:{name}", client.list_models, max_age_s) for name, client in clients]


def _upstream_answers(readiness: Readiness) -> dict[str, float]:
    return {name: at for name, at in readiness.last_ok().items() if name.split(":")[0] == "upstream"}


def _feed_metrics(metrics: Metrics | None, node: Node) -> None:
    if metrics is None:
        return
    node.proxy.on_charge = metrics.charged
    node.proxy.upstreams.on_failed_try = metrics.upstream_try_failed
    readiness, announcer = node.readiness, node.announcer
    if readiness is not None:
        metrics.watch("routstr_mint_last_ok_timestamp_seconds", "Last answer of each trusted mint", "mint",
                      lambda: readiness.last_ok("mint:"))  # fmt: skip
        metrics.watch("routstr_upstream_last_ok_timestamp_seconds", "Last answer of the upstream", "upstream",
                      lambda: _upstream_answers(readiness))  # fmt: skip
    if announcer is not None:
        metrics.watch("routstr_relay_last_ok_timestamp_seconds", "Last event each relay accepted", "relay",
                      lambda: announcer.last_accepted)  # fmt: skip
