"""The paid OpenAI endpoints, with and without the /v1 prefix. Thin: read, find the payer, call the proxy, render."""

import logging

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.requests import bearer_credential, read_body
from app.api.responses import MeteredStreamingResponse
from app.errors import NodeError
from app.node import Node
from app.payments.deposits import Purpose
from app.payments.service import Payer
from app.proxy.calls import Endpoint
from app.proxy.service import JsonReply, StreamReply

log = logging.getLogger(__name__)
router = APIRouter()

CHANGE_LATER = "stream: claim the change with POST /v1/wallet/refund and the same X-Cashu header"


def _render(reply: JsonReply | StreamReply) -> Response:
    if isinstance(reply, JsonReply):
        return Response(reply.body, reply.status, reply.headers, media_type=reply.content_type)
    return MeteredStreamingResponse(reply.stream, reply.content_type, reply.headers)


async def _forward(request: Request, endpoint: Endpoint) -> Response:
    node: Node = request.app.state.node
    xcashu = request.headers.get("x-cashu", "").strip()
    if xcashu:
        return await _pay_per_request(request, node, endpoint, xcashu)
    payer = await node.payments.payer(bearer_credential(request))
    body = await read_body(request, node.settings.max_request_bytes)
    return _render(await node.proxy.call(endpoint, body, payer.key_hash))


async def _pay_per_request(request: Request, node: Node, endpoint: Endpoint, token: str) -> Response:
    """X-Cashu: the token pays this one request; what is left goes back as a token in the X-Cashu reply header
    (for streams, whose headers leave before the cost is known, it stays claimable with the same token)."""
    body = await read_body(request, node.settings.max_request_bytes)
    payer = await node.payments.payer(token, purpose=Purpose.XCASHU)
    try:
        reply = await node.proxy.call(endpoint, body, payer.key_hash)
    except NodeError as refused:
        refused.headers.update(await _change(node, payer))
        raise
    if isinstance(reply, JsonReply):
        reply.headers.update(await _change(node, payer))
    else:
        reply.headers["x-cashu-change"] = CHANGE_LATER
    return _render(reply)


async def _change(node: Node, payer: Payer) -> dict[str, str]:
    try:
        change = await node.payments.change_for(payer)
    except NodeError as exc:
        log.info("xcashu.no_change code=%s", exc.code)
        return {}
    return {"x-cashu": change.token}


async def chat_completions(request: Request) -> Response:
    return await _forward(request, Endpoint.CHAT)


async def completions(request: Request) -> Response:
    return await _forward(request, Endpoint.COMPLETIONS)


async def embeddings(request: Request) -> Response:
    return await _forward(request, Endpoint.EMBEDDINGS)


# Plain Starlette routes: these run for every token sold, and FastAPI's per-request dependency and parameter
# machinery has nothing to do here (the handlers parse only what they need).
for _prefix in ("/v1", ""):
    router.add_route(f"{_prefix}/chat/completions", chat_completions, methods=["POST"], include_in_schema=False)
    router.add_route(f"{_prefix}/completions", completions, methods=["POST"], include_in_schema=False)
    router.add_route(f"{_prefix}/embeddings", embeddings, methods=["POST"], include_in_schema=False)
