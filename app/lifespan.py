"""Builds the node's long-lived resources at start (from the parts in app/startup/), runs its periodic jobs, and
closes everything at stop."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from app import __version__
from app.admin.auth import AdminAuth
from app.admin.service import Admin
from app.db.database import Database, open_database
from app.db.files import secure_storage
from app.db.migrate import upgrade_to_head
from app.db.urls import redacted
from app.dvm.admission import PRUNE_AFTER_S
from app.dvm.cancel import JobCancels
from app.dvm.claims import BalanceClaims
from app.dvm.handler import HandlerInfo
from app.dvm.inbox import find_inbox
from app.dvm.listener import DvmListener
from app.dvm.nutzaps import NutzapInfo, NutzapListener, Nutzaps, nutzap_key
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
from app.pricing.rates import LiveRate
from app.proxy.background import BackgroundWork
from app.proxy.model_catalog import ModelCatalog
from app.proxy.service import ProxyService
from app.settings import Settings
from app.startup.payments import start_payments
from app.startup.periodic import PROCESS_LEASE_TTL_S, hold_process_lease, led, start_periodic, then
from app.startup.readiness import feed_metrics, start_readiness
from app.startup.upstreams import pricing_policy, start_rates, start_upstreams, with_demo_mint

log = logging.getLogger(__name__)

STALE_SWEEP_S = 300
PRUNE_S = 3600  # rows that only take room (long-expired leases, unpaid DVM jobs) go this often
LEASE_GRACE_S = 3600


async def build_node(settings: Settings, stack: AsyncExitStack) -> Node:
    secure_storage(settings.database_url, settings.data_dir)  # before the node writes anything
    settings, fake_mints = await with_demo_mint(settings, stack)
    await asyncio.to_thread(upgrade_to_head, settings.database_url)
    db = open_database(
        settings.database_url,
        sqlite_synchronous=settings.sqlite_synchronous,
        sqlite_metering_synchronous=settings.sqlite_metering_synchronous,
    )
    stack.push_async_callback(db.close)
    leases = await hold_process_lease(db, stack)
    background = BackgroundWork()
    stack.push_async_callback(background.drain)  # runs before db.close: settlements finish first
    ledger = Ledger(db, leases=leases)
    await ledger.release_orphaned()
    await ledger.release_stale(settings.reservation_ttl_s)

    upstreams, upstream_url = await start_upstreams(settings, stack)
    rates = await start_rates(settings, stack)
    catalog = ModelCatalog(upstreams, lambda btc_usd: pricing_policy(settings, btc_usd), rates)
    await catalog.refresh()
    proxy = ProxyService(ledger, catalog.current, upstreams, background, settings.max_completion_tokens, rates)
    if isinstance(rates, LiveRate):
        start_periodic(stack, (settings.btc_usd_refresh_s, then(rates.refresh, catalog.reprice)), first_run_now=True)
    start_periodic(
        stack,
        (settings.models_refresh_s, catalog.refresh),
        (PROCESS_LEASE_TTL_S, led(leases, "orphan-sweep", PROCESS_LEASE_TTL_S, ledger.release_orphaned)),
        (
            STALE_SWEEP_S,
            led(leases, "stale-sweep", STALE_SWEEP_S, lambda: ledger.release_stale(settings.reservation_ttl_s)),
        ),
    )
    purge = led(leases, "lease-purge", PRUNE_S, lambda: leases.purge_expired(LEASE_GRACE_S))
    start_periodic(stack, (PRUNE_S, purge), first_run_now=True)
    payments, lightning = await start_payments(settings, ledger, db, leases, stack)
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
    node.readiness = start_readiness(settings, db, upstreams, stack)
    log.info("node.started: database=%s upstream=%s", redacted(settings.database_url), upstream_url)
    return node


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
    prune = led(node.leases, "dvm-prune", PRUNE_S, lambda: jobs.prune_unpaid(PRUNE_AFTER_S))
    start_periodic(stack, (PRUNE_S, prune), first_run_now=True)
    config = DvmConfig(settings.dvm_default_model, partial_every_s=settings.dvm_partial_every_s)
    publisher = JobPublisher(keys, outbound, config.publish_timeout_s)
    service = DvmService(publisher, jobs, node.ledger, node.proxy, node.payments, config)
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
    p2pk = nutzap_key(keys)
    redeemer = Nutzaps(node.payments.deposits, jobs, p2pk, service.run_paid, publisher)
    nutzaps = NutzapListener(inbound, redeemer, keys.pubkey)
    await nutzaps.start()
    stack.push_async_callback(nutzaps.stop)
    if node.announcer is not None:
        info = HandlerInfo(
            settings.name, settings.description, node.catalog.current, node.rates, settings.max_completion_tokens
        )
        node.announcer.also_publish(info.events)
        node.announcer.also_publish(NutzapInfo(inbox.read, settings.cashu_mints, p2pk.pubkey).events)


def lifespan_for(settings: Settings) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            limits = getattr(app.state, "limits", None)  # set by app.main.create_app
            if limits is not None:
                stack.push_async_callback(limits.close)
            app.state.node = await build_node(settings, stack)
            feed_metrics(getattr(app.state, "metrics", None), app.state.node)
            yield

    return lifespan
