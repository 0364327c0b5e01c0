"""The node's NIP-89 handler information (kind 31990) for kind 5050: how DVM clients find it, its models and prices,
and the params it reads. Published by the announcer beside the kind 38421 listing."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.dvm.requests import JOB_KIND
from app.nostr.announcer import Addressable
from app.pricing.catalog import Catalog
from app.pricing.rates import RateSource

HANDLER_KIND = 31990
HANDLER_D = "routstr-node-5050"


@dataclass(frozen=True, slots=True)
class HandlerInfo:
    name: str
    about: str
    catalog: Callable[[], Catalog]
    rates: RateSource
    operator_limit: int  # MAX_COMPLETION_TOKENS: the maxima a client deposits for

    async def events(self) -> list[Addressable]:
        models = await self._models()
        content = {
            "name": self.name.strip() or "routstr-node",
            "about": self.about.strip() or "LLM text generation paid in Cashu ecash",
            "models": models,
            "cashuAccepted": True,
            "acceptsNutZaps": True,
            "nip90Params": _params([model["id"] for model in models]),
        }
        tags = [["d", HANDLER_D], ["k", str(JOB_KIND)], ["t", "text-generation"]]
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        return [Addressable(HANDLER_KIND, HANDLER_D, tags, text)]

    async def _models(self) -> list[dict[str, Any]]:
        listed = self.catalog().as_openai_list(await self.rates.btc_usd(), self.operator_limit)["data"]
        return [{"id": model["id"], "sats_pricing": model["sats_pricing"]} for model in listed]


def _params(model_ids: list[str]) -> dict[str, Any]:
    number = {"required": False, "values": []}
    return {
        "model": {"required": True, "values": model_ids},
        "max_tokens": number,
        "temperature": number,
        "top_p": number,
        "top-k": number,
        "frequency_penalty": number,
        "presence_penalty": number,
    }
