"""Free endpoints: the priced model list, the node's public info, health."""

from fastapi import APIRouter
from starlette.responses import Response

import app
from app.api.deps import NodeDep
from app.api.responses import json_response

router = APIRouter()


@router.get("/v1/models")
async def list_models(node: NodeDep) -> Response:
    btc_usd = await node.rates.btc_usd()
    return json_response(node.catalog.current().as_openai_list(btc_usd, node.settings.default_max_tokens))


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
            "http_url": settings.http_url,
            "onion_url": settings.onion_url,
            "models": len(node.catalog.current()),
        }
    )


@router.get("/health")
async def health() -> Response:
    return json_response({"status": "ok"})
