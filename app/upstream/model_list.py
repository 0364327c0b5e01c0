"""The upstream's model list, read defensively: an entry whose fields the node reads have the wrong type or an absurd
value is skipped, never trusted and never fatal."""

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

MAX_ID_CHARS = 256
MAX_CONTEXT_TOKENS = 100_000_000
MAX_CREATED = 2**53  # a timestamp any JSON client can hold
# What the upstream's model list may say about a model (OpenRouter's shape), shown to clients as it came.
DESCRIBED_FIELDS = ("name", "description", "architecture", "top_provider", "per_request_limits")
MAX_USD_PER_TOKEN = 1.0  # a thousand times the dearest model listed today: above it a price is taken for garbage


@dataclass(frozen=True, slots=True)
class UsdPrice:
    """A model's price as its upstream lists it (OpenRouter's `pricing`): USD per token."""

    prompt: float
    completion: float

    def times(self, factor: float) -> "UsdPrice":
        return UsdPrice(self.prompt * factor, self.completion * factor)


@dataclass(frozen=True, slots=True)
class UpstreamModel:
    id: str
    created: int
    owned_by: str
    context_length: int | None  # prompt plus completion tokens, when the upstream says
    described: Mapping[str, Any] = field(default_factory=dict)  # DESCRIBED_FIELDS as the upstream sent them
    usd_price: UsdPrice | None = None  # the upstream's own price, when its list gives one


def parse_model_list(payload: Any) -> list[UpstreamModel]:
    """The good entries of an OpenAI `{"data": [...]}` list; the bad ones are counted in one log line."""
    data = payload.get("data") if isinstance(payload, dict) else None
    entries = data if isinstance(data, list) else []
    models = [model for model in map(_entry, entries) if model is not None]
    skipped = len(entries) - len(models)
    if skipped or not isinstance(data, list):
        log.warning(
            "upstream.model_list_garbage: skipped=%d kept=%d list=%s", skipped, len(models), type(data).__name__
        )
    return models


def _entry(raw: Any) -> UpstreamModel | None:
    if not isinstance(raw, dict):
        return None
    model_id, created, owned_by = raw.get("id"), raw.get("created") or 0, raw.get("owned_by") or ""
    context_length = raw.get("context_length")
    if not isinstance(model_id, str) or not 0 < len(model_id) <= MAX_ID_CHARS or not model_id.isprintable():
        return None
    if not _int_within(created, 0, MAX_CREATED) or not isinstance(owned_by, str) or len(owned_by) > MAX_ID_CHARS:
        return None
    if context_length is not None and not _int_within(context_length, 1, MAX_CONTEXT_TOKENS):
        return None
    described = {name: raw[name] for name in DESCRIBED_FIELDS if raw.get(name) is not None}
    return UpstreamModel(model_id, created, owned_by, context_length, described, _usd_price(raw.get("pricing")))


def _usd_price(pricing: Any) -> UsdPrice | None:
    """OpenRouter's `pricing.prompt`/`pricing.completion`, decimal strings in USD per token. A negative price (its
    routers' "variable") or anything unreadable means unpriced."""
    if not isinstance(pricing, dict):
        return None
    prompt, completion = _usd(pricing.get("prompt")), _usd(pricing.get("completion"))
    if prompt is None or completion is None:
        return None
    return UsdPrice(prompt, completion)


def _usd(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and 0 <= number <= MAX_USD_PER_TOKEN else None


def _int_within(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
