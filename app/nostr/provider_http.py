"""Checking a listed provider over HTTP: GET /v1/models and /v1/info on its first endpoint that answers."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from app.net import is_public_url


@dataclass(frozen=True)
class ProviderProbe:
    reachable: bool = False
    endpoint: str | None = None
    models: tuple[str, ...] = ()
    cheapest_completion_sats: float | None = None
    info: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "reachable": self.reachable,
            "endpoint": self.endpoint,
            "models": list(self.models),
            "cheapest_completion_sats": self.cheapest_completion_sats,
            "info": self.info,
        }


async def probe_provider(client: httpx.AsyncClient, urls: Sequence[str], allow_private: bool) -> ProviderProbe:
    for url in urls:
        if not _probeable(url, allow_private):
            continue
        probe = await _probe_endpoint(client, url.rstrip("/"))
        if probe is not None:
            return probe
    return ProviderProbe()


def _probeable(url: str, allow_private: bool) -> bool:
    if not url.startswith(("http://", "https://")) or ".onion" in url:
        return False  # onion endpoints need Tor, which the node does not use
    return allow_private or is_public_url(url)


async def _probe_endpoint(client: httpx.AsyncClient, base: str) -> ProviderProbe | None:
    try:
        models_response, info_response = await asyncio.gather(
            client.get(f"{base}/v1/models"), client.get(f"{base}/v1/info")
        )
        models_response.raise_for_status()
        models = _model_entries(models_response.json())
    except (httpx.HTTPError, ValueError):
        return None
    return ProviderProbe(
        reachable=True,
        endpoint=base,
        models=tuple(str(m.get("id")) for m in models if m.get("id")),
        cheapest_completion_sats=cheapest_completion(models),
        info=_info(info_response),
    )


def _model_entries(body: object) -> list[dict[str, Any]]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise ValueError("no data[] in /v1/models")
    return [model for model in data if isinstance(model, dict)]


def cheapest_completion(models: list[dict[str, Any]]) -> float | None:
    """The lowest `sats_pricing.completion` among the models, as Routstr's clients rank providers."""
    prices = []
    for model in models:
        pricing = model.get("sats_pricing")
        price = pricing.get("completion") if isinstance(pricing, dict) else None
        if isinstance(price, int | float) and not isinstance(price, bool) and price >= 0:
            prices.append(float(price))
    return min(prices, default=None)


def _info(response: httpx.Response) -> dict[str, Any] | None:
    if response.status_code != httpx.codes.OK:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
