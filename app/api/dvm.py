"""The DVM's HTTP side: a Nostr customer takes their balance back as a token, authenticated with NIP-98."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.deps import NodeDep
from app.api.responses import json_response
from app.api.schemas import Refunded, error_responses
from app.dvm.claims import REFUND_PATH
from app.errors import NotFound

router = APIRouter(tags=["dvm"])


def _urls(request: Request, public_url: str) -> list[str]:
    """The URLs a caller may have signed: the one this node was asked at, and its public address's."""
    return [str(request.url), public_url.rstrip("/") + request.url.path] if public_url else [str(request.url)]


async def refund(request: Request, node: NodeDep) -> Response:
    if node.dvm_claims is None:
        raise NotFound("this node runs no DVM")
    urls = _urls(request, node.settings.http_url)
    paid = await node.dvm_claims.refund(request.headers.get("authorization"), urls, request.method)
    return json_response({"token": paid.token, "msats": paid.msats, "fee_msats": paid.fee_msats})


router.add_api_route(
    REFUND_PATH, refund, methods=["POST"], response_model=Refunded, responses=error_responses((400, 401, 404, 503))
)
