"""The catalog the proxy prices against, refreshed from the upstreams' model lists and repriced as the BTC/USD rate
moves, in the background."""

import logging
from collections.abc import Callable

from app.pricing.catalog import Catalog, PricingPolicy
from app.pricing.rates import RateSource
from app.upstream.model_list import UpstreamModel
from app.upstream.registry import Registry

log = logging.getLogger(__name__)


class ModelCatalog:
    def __init__(self, upstreams: Registry, policy_at: Callable[[float], PricingPolicy], rates: RateSource) -> None:
        self._upstreams = upstreams
        self._policy_at = policy_at  # the operator's prices at a BTC/USD rate (some may be in USD)
        self._rates = rates
        self._listed: list[UpstreamModel] = []
        self._current = Catalog.build([], policy_at(1.0))

    def current(self) -> Catalog:
        return self._current

    async def refresh(self) -> None:
        """Read the upstreams' lists (each keeps its last good one when it cannot be asked) and reprice."""
        self._listed = await self._upstreams.refresh()
        await self.reprice()
        log.info("catalog.refreshed: %d models", len(self._current))

    async def reprice(self) -> None:
        btc_usd = await self._rates.btc_usd()
        self._current = Catalog.build(self._listed, self._policy_at(btc_usd), btc_usd)
