"""Steps shared by the routing tests: a node over several upstreams, a paid chat call, the key's books."""

import asyncio
from typing import Any

import httpx
import orjson

from app.db.database import open_database
from app.ledger.records import LedgerEntry
from app.ledger.service import Ledger
from tests.fixtures.node import NodeFactory, RunningNode
from tests.upstream.fronts import Front, priced_model

UPSTREAM_KEY = "sk-upstream-secret-0123456789abcdef"  # must never reach a log line


def upstream(name: str, front: Front, **fields: Any) -> dict[str, Any]:
    return {"name": name, "base_url": front.url, "api_key": UPSTREAM_KEY, "kind": "openrouter", **fields}


def priced(front: Front, prompt_usd: str, completion_usd: str = "", model: str = "standin-small") -> Front:
    """The front lists `model` at this price (completion twice the prompt unless given), and standin-large unpriced."""
    completion_usd = completion_usd or f"{float(prompt_usd) * 2:.12f}"
    unpriced = [] if model == "standin-large" else [{"id": "standin-large", "created": 0}]
    front.models = [priced_model(model, prompt_usd, completion_usd), *unpriced]
    return front


def routed_node(node_factory: NodeFactory, upstreams: list[dict[str, Any]], **overrides: Any) -> RunningNode:
    """Prices from the upstreams at a fixed 100,000 USD/BTC: 0.000001 USD per token is 1 msat."""
    settings: dict[str, Any] = {
        "upstreams": orjson.dumps(upstreams).decode(),
        "model_prices": "",
        "unpriced_models": None,
        "btc_usd_sources": [],
        "btc_usd_rate": 100_000.0,
        **overrides,
    }
    return node_factory(**settings)


def chat(node: RunningNode, key: str, model: str = "standin-small", **fields: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "route me somewhere cheap"}], **fields}
    return httpx.post(node.url + "/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)


def entries(node: RunningNode, key: str) -> list[LedgerEntry]:
    """The key's ledger rows, after asserting the ledger invariants hold for every key."""

    async def read() -> list[LedgerEntry]:
        db = open_database(node.settings.database_url)
        try:
            ledger = Ledger(db)
            assert await ledger.check() == []
            account = await ledger.find(key)
            assert account is not None
            return await ledger.entries(account.id)
        finally:
            await db.close()

    return asyncio.run(read())


def charged_msat(reply: httpx.Response, prompt_msat: int = 1, completion_msat: int = 2) -> int:
    """What a JSON reply's usage costs at these msat-per-token prices."""
    usage = reply.json()["usage"]
    return int(usage["prompt_tokens"] * prompt_msat + usage["completion_tokens"] * completion_msat)
