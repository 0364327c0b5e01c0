"""The paid OpenAI endpoints, with and without the /v1 prefix. Thin: read, find the payer, call the proxy, render."""

import logging
from collections.abc import Awaitable, Callable

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from app.api.deps import bearer_secret, credential_from
from app.api.errors import error_body, status_of
from app.api.middleware import request_id
from app.api.requests import read_body
from app.api.responses import MeteredStreamingResponse
from app.errors import InsufficientBalance, MinimumBalanceRequired, NodeError
from app.node import Node
from app.payments.deposits import Purpose
from app.payments.service import Payer
from app.proxy.calls import Endpoint
from app.proxy.service import JsonReply, StreamReply

log = logging.getLogger(__name__)
router = APIRouter()

CHANGE_LATER = "stream: claim what the reservation leaves with POST /v1/wallet/refund and the same X-Cashu header"
PAID_PATHS = {
    "/chat/completions": Endpoint.CHAT,
    "/completions": Endpoint.COMPLETIONS,
    "/embeddings": Endpoint.EMBEDDINGS,
    "/responses": Endpoint.RESPONSES,
}


def _render(reply: JsonReply | StreamReply) -> Response:
    if isinstance(reply, JsonReply):
        return Response(reply.body, reply.status, reply.headers, media_type=reply.content_type)
    return MeteredStreamingResponse(reply.stream, reply.content_type, reply.headers)


async def _forward(request: Request, endpoint: Endpoint) -> Response:
    node: Node = request.app.state.node
    headers = request.headers
    credential = credential_from(bearer_secret(headers.get("authorization")), headers.get("x-cashu"))
    if credential.per_request:
        return await _pay_per_request(request, node, endpoint, credential.secret)
    payer = await node.payments.payer(credential.secret)
    body = await read_body(request, node.settings.max_request_bytes)
    return _render(await node.proxy.call(endpoint, body, payer.key_hash, request_id(request.scope)))


async def _pay_per_request(request: Request, node: Node, endpoint: Endpoint, token: str) -> Response:
    """X-Cashu: the token pays this one request; what is left goes back as a token in the X-Cashu reply header.
    A stream's headers leave before its cost is known: they carry the token's value minus the reservation, and what
    the reservation leaves after settling stays claimable with the same token."""
    body = await read_body(request, node.settings.max_request_bytes)
    max_cost_msat = node.proxy.max_cost_msat(endpoint, body)  # an unknown model or a bad field: the token untouched
    payer = await node.payments.payer(token, purpose=Purpose.XCASHU, minimum_msat=max_cost_msat)
    try:
        reply = await node.proxy.call(endpoint, body, payer.key_hash, request_id(request.scope))
    except InsufficientBalance as short:
        below_minimum = MinimumBalanceRequired(short.message)
        below_minimum.headers.update(await _change(node, payer))
        raise below_minimum from short
    except NodeError as refused:
        refused.headers.update(await _change(node, payer))
        raise
    if isinstance(reply, JsonReply):
        reply.headers.update(await _change(node, payer))
        return _render(reply)
    try:
        reply.headers.update(await _change(node, payer))
    except BaseException:
        await reply.stream.finish()  # never sent: nothing produced reaches the client, the reservation is released
        raise
    reply.headers["x-cashu-change"] = CHANGE_LATER
    return _render(reply)


async def _change(node: Node, payer: Payer) -> dict[str, str]:
    try:
        change = await node.payments.change_for(payer)
    except NodeError as exc:
        log.info("xcashu.no_change error=%s", type(exc).__name__)
        return {}
    return {"x-cashu": change.token}


class _PaidRoute:
    """A paid endpoint as a bare ASGI app rather than a Starlette request-response function, which would wrap `send`
    once more for every chunk of a stream; its errors are rendered by the exception middleware all the same."""

    def __init__(self, handle: Callable[[Request], Awaitable[Response]]) -> None:
        self._handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._handle(Request(scope, receive, send))
        await response(scope, receive, send)


def _route(endpoint: Endpoint) -> _PaidRoute:
    async def forward(request: Request) -> Response:
        return await _forward(request, endpoint)

    return _PaidRoute(forward)


async def _messages(request: Request) -> Response:
    """Anthropic's Messages API, metered like chat. Its errors keep Routstr's envelope and add Anthropic's
    `"type": "error"` beside it, so Anthropic's SDKs, OpenAI's and Routstr's all read them."""
    try:
        return await _forward(request, Endpoint.MESSAGES)
    except NodeError as error:
        body = {"type": "error", **error_body(error, request_id(request.scope))}
        return Response(orjson.dumps(body), status_of(error), error.headers or None, media_type="application/json")


# Plain Starlette routes: these run for every token sold, and FastAPI's per-request dependency and parameter
# machinery has nothing to do here (the handlers parse only what they need). app.api.openapi describes them.
for _prefix in ("/v1", ""):
    for _path, _endpoint in PAID_PATHS.items():
        router.routes.append(Route(f"{_prefix}{_path}", _route(_endpoint), methods=["POST"], include_in_schema=False))
    router.routes.append(Route(f"{_prefix}/messages", _PaidRoute(_messages), methods=["POST"], include_in_schema=False))
