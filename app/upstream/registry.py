"""Every configured upstream with its pooled client, breaker and last model list; the routes per sold model."""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from app.errors import NodeError
from app.upstream.breaker import Breaker
from app.upstream.client import UpstreamClient, UpstreamConfig, UpstreamReply
from app.upstream.config import ModelSelection, UpstreamSpec
from app.upstream.model_list import UpstreamModel, UsdPrice
from app.upstream.routing import FailedTry, Route, Upstream, ranked, send_with_failover

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failures: int = 5
    open_s: float = 30.0


@dataclass(slots=True)
class _Entry:
    upstream: Upstream
    models: ModelSelection
    listed: dict[str, UpstreamModel] | None = None  # by sold id, as the upstream listed it; None: never read


class Registry:
    def __init__(self, entries: Sequence[_Entry]) -> None:
        self._entries = list(entries)
        self.on_failed_try: FailedTry | None = None  # metrics
        self._routes: dict[str, tuple[Route, ...]] = {}

    @classmethod
    def build(cls, specs: Sequence[UpstreamSpec], pool: UpstreamConfig, breakers: BreakerPolicy) -> "Registry":
        """One pooled client per upstream, with `pool`'s timeouts and limits."""
        entries = []
        for order, spec in enumerate(specs):
            config = replace(pool, base_url=spec.base_url, api_key=spec.api_key, kind=spec.kind)
            breaker = Breaker(breakers.failures, breakers.open_s)
            upstream = Upstream(spec.name, UpstreamClient(config), breaker, spec.markup, spec.weight, order)
            entries.append(_Entry(upstream, spec.models))
        return cls(entries)

    def clients(self) -> list[tuple[str, UpstreamClient]]:
        """Every upstream's name and client, in configuration order."""
        return [(entry.upstream.name, entry.upstream.client) for entry in self._entries]

    async def start(self) -> None:
        for entry in self._entries:
            await entry.upstream.client.start()

    async def close(self) -> None:
        for entry in self._entries:
            await entry.upstream.client.close()

    async def refresh(self) -> list[UpstreamModel]:
        """Read every upstream's model list (an upstream that cannot answer keeps its last good one) and return the
        models to sell: per sold id, the cheapest offer's listing under the sold id, its price marked up."""
        await asyncio.gather(*(self._refresh_one(entry) for entry in self._entries))
        by_model: dict[str, list[tuple[Route, UpstreamModel]]] = {}
        for entry in self._entries:
            for sold_id, model in (entry.listed or {}).items():
                route = Route(entry.upstream, model.id, _marked(model, entry.upstream.markup))
                by_model.setdefault(sold_id, []).append((route, model))
        self._routes = {sold_id: ranked(route for route, _ in offers) for sold_id, offers in by_model.items()}
        return [_sold_listing(sold_id, offers, self._routes[sold_id][0]) for sold_id, offers in by_model.items()]

    async def _refresh_one(self, entry: _Entry) -> None:
        try:
            models = await entry.upstream.client.list_models()
        except NodeError as exc:
            log.warning("upstream.model_list_failed: upstream=%s error=%s", entry.upstream.name, exc.message)
            return
        listed: dict[str, UpstreamModel] = {}
        for model in models:
            sold_id = entry.models.sold_id(model.id)
            if sold_id is not None:
                listed.setdefault(sold_id, model)
        entry.listed = listed

    def routes(self, sold_model: str) -> tuple[Route, ...]:
        """The upstreams to try, in order: those that list the model; else (a model only the operator prices) every
        upstream whose selection takes its id, by weight."""
        found = self._routes.get(sold_model)
        if found is not None:
            return found
        return ranked(
            Route(entry.upstream, upstream_model)
            for entry in self._entries
            if (upstream_model := entry.models.upstream_id(sold_model)) is not None
        )

    async def send(self, sold_model: str, path: str, body: bytes) -> UpstreamReply:
        return await send_with_failover(self.routes(sold_model), sold_model, path, body, self.on_failed_try)


def _marked(model: UpstreamModel, markup: float) -> UsdPrice | None:
    return None if model.usd_price is None else model.usd_price.times(markup)


def _sold_listing(sold_id: str, offers: list[tuple[Route, UpstreamModel]], best: Route) -> UpstreamModel:
    model = next(model for route, model in offers if route is best)
    return replace(model, id=sold_id, usd_price=best.usd_price)
