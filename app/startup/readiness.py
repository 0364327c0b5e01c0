"""What GET /ready asks and what /metrics watches beside the request counters."""

from contextlib import AsyncExitStack

import httpx

from app.cashu.client import MintClient
from app.db.database import Database
from app.db.ping import ping
from app.node import Node
from app.observability.metrics import Metrics
from app.observability.ready import Check, Readiness
from app.settings import Settings
from app.startup.periodic import start_periodic
from app.upstream.registry import Registry


def start_readiness(settings: Settings, db: Database, upstreams: Registry, stack: AsyncExitStack) -> Readiness:
    """The database every time; the upstream's model list and each trusted mint's /v1/info when their last answer
    is older than READY_MAX_AGE_S (and in the background, for the metrics)."""
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
    start_periodic(stack, (max_age_s / 2, readiness.refresh), first_run_now=True)
    return readiness


def _upstream_checks(upstreams: Registry, max_age_s: float) -> list[Check]:
    """`upstream` for the one upstream of UPSTREAM_BASE_URL, `upstream:<name>` each when UPSTREAMS lists several."""
    clients = upstreams.clients()
    if len(clients) == 1:
        return [Check("upstream", clients[0][1].list_models, max_age_s)]
    return [Check(f"upstream:{name}", client.list_models, max_age_s) for name, client in clients]


def _upstream_answers(readiness: Readiness) -> dict[str, float]:
    return {name: at for name, at in readiness.last_ok().items() if name.split(":")[0] == "upstream"}


def feed_metrics(metrics: Metrics | None, node: Node) -> None:
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
