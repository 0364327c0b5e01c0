"""The models the node sells: the upstream's model list merged with the operator's prices.

An unpriced model is refused or charged the configured default price; it is never free by accident."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.errors import ModelNotFound
from app.pricing.prices import (
    TOKENS_PER_PRICE_UNIT,
    Price,
    Usage,
    cost_of,
    msat_per_mtok_to_sats_per_token,
    msat_per_mtok_to_usd_per_token,
    msat_to_usd,
    usd_per_mtok_to_msat,
)
from app.upstream.model_list import UpstreamModel


class InvalidPriceConfig(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class PricingPolicy:
    configured: Mapping[str, Price]
    default: Price | None  # None: unpriced upstream models are refused
    # UNPRICED_MODELS unset: unpriced models are refused as soon as an upstream's list gives prices
    refuse_unpriced_once_priced: bool = False
    usd_configured: frozenset[str] = frozenset()  # operator's prices given in USD: they depend on the rate


@dataclass(frozen=True, slots=True)
class PricedModel:
    id: str
    price: Price
    created: int
    owned_by: str
    described: Mapping[str, Any] = field(default_factory=dict)  # DESCRIBED_FIELDS the upstream sent
    usd_priced: bool = False  # its msat price follows the BTC/USD rate: not sold while the rate is stale

    @property
    def context_length(self) -> int | None:
        return _positive(self.described.get("context_length")) or _positive(self._top_provider("context_length"))

    @property
    def max_completion_tokens(self) -> int | None:
        return _positive(self._top_provider("max_completion_tokens"))

    def _top_provider(self, name: str) -> Any:
        top = self.described.get("top_provider")
        return top.get(name) if isinstance(top, dict) else None


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


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


def _price_of(
    model: UpstreamModel, policy: PricingPolicy, default: Price | None, btc_usd: float
) -> tuple[Price | None, bool]:
    configured = policy.configured.get(model.id)
    if configured is not None:
        return configured, model.id in policy.usd_configured
    if model.usd_price is not None and btc_usd > 0:
        return usd_per_token_price(model.usd_price.prompt, model.usd_price.completion, btc_usd), True
    return default, False


def usd_per_token_price(prompt_usd: float, completion_usd: float, btc_usd: float) -> Price:
    mtok = TOKENS_PER_PRICE_UNIT
    return Price(usd_per_mtok_to_msat(prompt_usd * mtok, btc_usd), usd_per_mtok_to_msat(completion_usd * mtok, btc_usd))


def usd_priced_models(raw: str) -> frozenset[str]:
    """The models MODEL_PRICES prices in USD (its shape was checked when the settings were read)."""
    table = orjson.loads(raw) if raw.strip() else {}
    return frozenset(model for model, entry in table.items() if "prompt_msat_per_mtok" not in entry)


class Catalog:
    def __init__(self, models: Iterable[PricedModel]) -> None:
        self._models = {m.id: m for m in models}

    @classmethod
    def build(cls, upstream_models: Iterable[UpstreamModel], policy: PricingPolicy, btc_usd: float = 0.0) -> "Catalog":
        """The operator's price wins; then the upstream's own (USD, already marked up) at `btc_usd`; then the
        default, unless the policy refuses unpriced models."""
        models = list(upstream_models)
        default = policy.default
        if policy.refuse_unpriced_once_priced and any(model.usd_price for model in models):
            default = None
        priced: dict[str, PricedModel] = {}
        for model in models:
            price, usd_priced = _price_of(model, policy, default, btc_usd)
            if price is not None:
                limits = {"context_length": model.context_length} if model.context_length else {}
                described = {**model.described, **limits}
                priced[model.id] = PricedModel(model.id, price, model.created, model.owned_by, described, usd_priced)
        for model_id, price in policy.configured.items():
            usd_priced = model_id in policy.usd_configured
            priced.setdefault(model_id, PricedModel(model_id, price, 0, "node", usd_priced=usd_priced))
        return cls(priced.values())

    def lookup(self, model: str) -> PricedModel:
        found = self._models.get(model)
        if found is None:
            raise ModelNotFound(f"The model `{model}` does not exist or is not offered by this node")
        return found

    def __len__(self) -> int:
        return len(self._models)

    def as_openai_list(self, btc_usd: float, operator_limit: int) -> dict[str, Any]:
        return {"object": "list", "data": [describe(m, btc_usd, operator_limit) for m in self._models.values()]}

    def describe(self, model: str, btc_usd: float, operator_limit: int) -> dict[str, Any]:
        return describe(self.lookup(model), btc_usd, operator_limit)


@dataclass(frozen=True, slots=True)
class MaxUsage:
    """The most tokens one request can use, per side and together (a long completion leaves less room for the
    prompt when both share one context window)."""

    prompt: int
    completion: int
    total: Usage


def max_usage(model: PricedModel, operator_limit: int) -> MaxUsage:
    """Routstr's rule from the context window and the completion limit; with neither known, a prompt and a
    completion of `operator_limit` each (what the node reserves for a request that names no limit)."""
    window, limit = model.context_length, model.max_completion_tokens
    if window and limit and window > limit:
        return MaxUsage(window, limit, Usage(window - limit, limit))
    if window:
        widest = Usage(0, window) if _completion_dearer(model) else Usage(window, 0)
        return MaxUsage(window, window, widest)
    if limit:
        return MaxUsage(limit, limit, Usage(0, limit))
    return MaxUsage(operator_limit, operator_limit, Usage(operator_limit, operator_limit))


def _completion_dearer(model: PricedModel) -> bool:
    return model.price.completion_msat_per_mtok >= model.price.prompt_msat_per_mtok


def describe(model: PricedModel, btc_usd: float, operator_limit: int) -> dict[str, Any]:
    """OpenAI's model object plus what Routstr's clients read: `pricing` (USD per token, maxima in USD),
    `sats_pricing` (sats per token, maxima in sats; `max_cost` gates their deposits), and the model's limits."""
    bounds = max_usage(model, operator_limit)
    maxima_msat = {
        "max_prompt_cost": cost_of(Usage(bounds.prompt, 0), model.price).total_msat,
        "max_completion_cost": cost_of(Usage(0, bounds.completion), model.price).total_msat,
        "max_cost": cost_of(bounds.total, model.price).total_msat,
    }
    prompt, completion = model.price.prompt_msat_per_mtok, model.price.completion_msat_per_mtok
    return {
        "id": model.id,
        "object": "model",
        "created": model.created,
        "owned_by": model.owned_by,
        "name": model.id,
        **model.described,
        **({"context_length": model.context_length} if model.context_length else {}),
        "pricing": {
            "prompt": msat_per_mtok_to_usd_per_token(prompt, btc_usd),
            "completion": msat_per_mtok_to_usd_per_token(completion, btc_usd),
            "request": 0.0,
            **{name: msat_to_usd(msat, btc_usd) for name, msat in maxima_msat.items()},
        },
        "sats_pricing": {
            "prompt": msat_per_mtok_to_sats_per_token(prompt),
            "completion": msat_per_mtok_to_sats_per_token(completion),
            "request": 0.0,
            **{name: msat / 1000 for name, msat in maxima_msat.items()},
        },
    }
