"""Free endpoints: the priced model list, the node's public info, health."""

from fastapi import APIRouter
from starlette.responses import Response

import app
from app.api.deps import NodeDep
from app.api.responses import json_response
from app.errors import NotFound

router = APIRouter()


@router.get("/v1/models")
async def list_models(node: NodeDep) -> Response:
    btc_usd = await node.rates.btc_usd()
    return json_response(node.catalog.current().as_openai_list(btc_usd, node.settings.max_completion_tokens))


@router.get("/models", include_in_schema=False)
async def list_models_unprefixed(node: NodeDep) -> Response:
    return await list_models(node)


@router.get("/v1/info")
async def info(node: NodeDep) -> Response:
    settings = node.settings
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
            "nostr": node.announcer.status() if node.announcer else {"npub": node.npub, "announcing": False},
        }
    )


@router.get("/v1/providers")
async def providers(node: NodeDep) -> Response:
    if node.providers is None:
        raise NotFound("provider discovery is not enabled on this node (PROVIDERS_ENABLED)")
    return json_response(node.providers.snapshot())


@router.get("/health")
async def health() -> Response:
    return json_response({"status": "ok"})
