"""The upstreams the node forwards to (configured, or the demo stand-in), the BTC/USD rate its prices use, and the
demo node's FakeWallet mint."""

import logging
from contextlib import AsyncExitStack
from urllib.parse import urlsplit

from app.demo_upstream import DemoUpstreamFailed, start_demo_upstream, stop_demo_upstream
from app.devmint import start_local_mint, stop_local_mint
from app.pricing.catalog import PricingPolicy, parse_model_prices, usd_priced_models
from app.pricing.prices import Price
from app.pricing.rates import FixedRate, LiveRate
from app.settings import ConfigError, Settings
from app.upstream.client import UpstreamConfig
from app.upstream.config import UpstreamSpec
from app.upstream.rates import Tickers, parse_sources
from app.upstream.registry import BreakerPolicy, Registry

log = logging.getLogger(__name__)


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


async def start_upstreams(settings: Settings, stack: AsyncExitStack) -> tuple[Registry, str]:
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


async def _upstream_specs(settings: Settings, stack: AsyncExitStack) -> list[UpstreamSpec]:
    """UPSTREAMS or UPSTREAMS_FILE; else UPSTREAM_BASE_URL alone (the shorthand); else, for a demo, the stand-in."""
    specs = settings.upstream_specs()
    if specs:
        return specs
    url = await _upstream_url(settings, stack)
    return [UpstreamSpec("upstream", url, settings.upstream_api_key.get_secret_value())]


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


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


async def start_rates(settings: Settings, stack: AsyncExitStack) -> FixedRate | LiveRate:
    """BTC_USD_SOURCES asked in the background (start-up never waits for them); none: BTC_USD_RATE, always."""
    sources = parse_sources(settings.btc_usd_sources)
    if not sources:
        return FixedRate(settings.btc_usd_rate)
    tickers = Tickers(sources)
    await tickers.start()
    stack.push_async_callback(tickers.close)
    return LiveRate(tickers.quotes, settings.btc_usd_rate, settings.btc_usd_max_age_s)


async def with_demo_mint(settings: Settings, stack: AsyncExitStack) -> tuple[Settings, tuple[str, ...]]:
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
