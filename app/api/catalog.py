"""Free endpoints: the priced model list, one model, the node's public info (health: app.api.health)."""

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

import app
from app.api.deps import NodeDep
from app.api.responses import json_response
from app.api.schemas import ModelEntry, ModelList, NodeInfo, error_responses
from app.errors import NotFound

router = APIRouter(tags=["catalog"])


@router.get("/v1/models", response_model=ModelList)
async def list_models(node: NodeDep) -> Response:
    btc_usd = await node.rates.btc_usd()
    return json_response(node.catalog.current().as_openai_list(btc_usd, node.settings.max_completion_tokens))


@router.get("/v1/models/{model_id:path}", response_model=ModelEntry, responses=error_responses((404,)))
async def get_model(model_id: str, node: NodeDep) -> Response:
    btc_usd = await node.rates.btc_usd()
    return json_response(node.catalog.current().describe(model_id, btc_usd, node.settings.max_completion_tokens))


@router.get("/models", include_in_schema=False)
async def list_models_unprefixed(node: NodeDep) -> Response:
    return await list_models(node)


@router.get("/models/{model_id:path}", include_in_schema=False)
async def get_model_unprefixed(model_id: str, node: NodeDep) -> Response:
    return await get_model(model_id, node)


@router.get("/v1/info", response_model=NodeInfo)
async def info(node: NodeDep) -> Response:
    settings = node.settings
    nostr: dict[str, Any] = node.announcer.status() if node.announcer else {"npub": node.npub, "announcing": False}
    return json_response(
        {
            "name": settings.name,
            "description": settings.description,
            "version": app.__version__,
            "npub": node.npub,
            "mints": list(settings.cashu_mints),
            "demo": settings.demo,
            "fake_mints": list(node.fake_mints),  # FakeWallet mints: their ecash is worthless
            "http_url": settings.http_url,
            "onion_url": settings.onion_url,
            "models": len(node.catalog.current()),
            "nostr": nostr,
        }
    )


@router.get("/v1/providers", responses=error_responses((404,)))
async def providers(node: NodeDep) -> Response:
    if node.providers is None:
        raise NotFound("provider discovery is not enabled on this node (PROVIDERS_ENABLED)")
    return json_response(node.providers.snapshot())
