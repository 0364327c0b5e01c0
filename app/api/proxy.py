"""The paid OpenAI endpoints, with and without the /v1 prefix. Thin: read, call the proxy, render."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.requests import bearer_credential, read_body
from app.api.responses import MeteredStreamingResponse
from app.ledger.keys import hash_key
from app.node import Node
from app.proxy.calls import Endpoint
from app.proxy.service import JsonReply

router = APIRouter()


async def _forward(request: Request, endpoint: Endpoint) -> Response:
    node: Node = request.app.state.node
    key_hash = hash_key(bearer_credential(request))
    body = await read_body(request, node.settings.max_request_bytes)
    reply = await node.proxy.call(endpoint, body, key_hash)
    if isinstance(reply, JsonReply):
        return Response(reply.body, reply.status, reply.headers, media_type=reply.content_type)
    return MeteredStreamingResponse(reply.stream, reply.content_type, reply.headers)


async def chat_completions(request: Request) -> Response:
    return await _forward(request, Endpoint.CHAT)


async def completions(request: Request) -> Response:
    return await _forward(request, Endpoint.COMPLETIONS)


async def embeddings(request: Request) -> Response:
    return await _forward(request, Endpoint.EMBEDDINGS)


for _prefix in ("/v1", ""):
    router.add_api_route(
        f"{_prefix}/chat/completions", chat_completions, methods=["POST"], include_in_schema=bool(_prefix)
    )
    router.add_api_route(f"{_prefix}/completions", completions, methods=["POST"], include_in_schema=bool(_prefix))
    router.add_api_route(f"{_prefix}/embeddings", embeddings, methods=["POST"], include_in_schema=bool(_prefix))
