"""The models the node sells: the upstream's model list merged with the operator's prices.

An unpriced model is refused or charged the configured default price; it is never free by accident."""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from app.errors import ModelNotFound
from app.pricing.prices import (
    Price,
    msat_per_mtok_to_sats_per_token,
    msat_per_mtok_to_usd_per_token,
    usd_per_mtok_to_msat,
)
from app.upstream.model_list import UpstreamModel


class InvalidPriceConfig(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class PricingPolicy:
    configured: Mapping[str, Price]
    default: Price | None  # None: unpriced upstream models are refused


@dataclass(frozen=True, slots=True)
class PricedModel:
    id: str
    price: Price
    created: int
    owned_by: str
    context_length: int | None = None  # prompt plus completion tokens, when the upstream says


def parse_model_prices(raw: str, btc_usd: float) -> dict[str, Price]:
    """MODEL_PRICES: JSON {model: {prompt_msat_per_mtok, completion_msat_per_mtok}} or the same in *_usd_per_mtok."""
    if not raw.strip():
        return {}
    try:
        table = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidPriceConfig(f"MODEL_PRICES is not valid JSON: {exc}") from exc
    if not isinstance(table, dict):
        raise InvalidPriceConfig("MODEL_PRICES must be a JSON object keyed by model id")
    return {model: _price_entry(model, entry, btc_usd) for model, entry in table.items()}


def _price_entry(model: str, entry: Any, btc_usd: float) -> Price:
    if not isinstance(entry, dict):
        raise InvalidPriceConfig(f"MODEL_PRICES[{model!r}] must be an object")
    if "prompt_msat_per_mtok" in entry:
        return Price(int(entry["prompt_msat_per_mtok"]), int(entry["completion_msat_per_mtok"]))
    if "prompt_usd_per_mtok" in entry:
        return Price(
            usd_per_mtok_to_msat(float(entry["prompt_usd_per_mtok"]), btc_usd),
            usd_per_mtok_to_msat(float(entry["completion_usd_per_mtok"]), btc_usd),
        )
    raise InvalidPriceConfig(f"MODEL_PRICES[{model!r}] needs prompt/completion msat or usd per Mtok")


class Catalog:
    def __init__(self, models: Iterable[PricedModel]) -> None:
        self._models = {m.id: m for m in models}

    @classmethod
    def build(cls, upstream_models: Iterable[UpstreamModel], policy: PricingPolicy) -> "Catalog":
        priced: dict[str, PricedModel] = {}
        for model in upstream_models:
            price = policy.configured.get(model.id, policy.default)
            if price is not None:
                priced[model.id] = PricedModel(model.id, price, model.created, model.owned_by, model.context_length)
        for model_id, price in policy.configured.items():
            priced.setdefault(model_id, PricedModel(model_id, price, 0, "node"))
        return cls(priced.values())

    def lookup(self, model: str) -> PricedModel:
        found = self._models.get(model)
        if found is None:
            raise ModelNotFound(f"The model `{model}` does not exist or is not offered by this node")
        return found

    def __len__(self) -> int:
        return len(self._models)

    def as_openai_list(self, btc_usd: float, max_completion_tokens: int) -> dict[str, Any]:
        data = [_describe(m, btc_usd, max_completion_tokens) for m in self._models.values()]
        return {"object": "list", "data": data}


def _describe(model: PricedModel, btc_usd: float, operator_limit: int) -> dict[str, Any]:
    """OpenAI's model object plus `pricing` (USD per token) and `sats_pricing` (sats per token), as Routstr's
    clients read them; `max_completion_cost` is what a request without max_tokens reserves for its completion."""
    prompt, completion = model.price.prompt_msat_per_mtok, model.price.completion_msat_per_mtok
    max_tokens = min(operator_limit, model.context_length or operator_limit)
    max_completion_msat = math.ceil(completion * max_tokens / 1_000_000)
    described = {
        "id": model.id,
        "object": "model",
        "created": model.created,
        "owned_by": model.owned_by,
        "name": model.id,
        "pricing": {
            "prompt": msat_per_mtok_to_usd_per_token(prompt, btc_usd),
            "completion": msat_per_mtok_to_usd_per_token(completion, btc_usd),
            "request": 0.0,
            "max_completion_cost": max_completion_msat / 100_000_000_000 * btc_usd,
        },
        "sats_pricing": {
            "prompt": msat_per_mtok_to_sats_per_token(prompt),
            "completion": msat_per_mtok_to_sats_per_token(completion),
            "request": 0.0,
            "max_completion_cost": max_completion_msat / 1000,
        },
    }
    if model.context_length is not None:
        described["context_length"] = model.context_length
    return described
