"""The catalog the proxy prices against, refreshed from the upstream's model list in the background."""

import asyncio
import logging

from app.errors import NodeError
from app.pricing.catalog import Catalog, PricingPolicy
from app.upstream.client import UpstreamClient

log = logging.getLogger(__name__)


class ModelCatalog:
    def __init__(self, upstream: UpstreamClient, policy: PricingPolicy) -> None:
        self._upstream = upstream
        self._policy = policy
        self._current = Catalog.build([], policy)

    def current(self) -> Catalog:
        return self._current

    async def refresh(self) -> None:
        """Keep the last good catalog when the upstream cannot be asked: only configured models if it never could."""
        try:
            upstream_models = await self._upstream.list_models()
        except NodeError as exc:
            log.warning("catalog.refresh_failed: %s", exc.message)
            return
        self._current = Catalog.build(upstream_models, self._policy)
        log.info("catalog.refreshed: %d models", len(self._current))

    async def refresh_every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self.refresh()
