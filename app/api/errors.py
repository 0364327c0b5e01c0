"""Every error leaves the node in OpenAI's shape: {"error": {"message", "type", "code"}}."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.responses import json_response
from app.errors import NodeError

log = logging.getLogger(__name__)


def error_response(status: int, message: str, type_: str, code: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": {"message": message, "type": type_, "code": code}}, status, headers)


async def _node_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, NodeError)
    return json_response(exc.body(), exc.status, exc.headers or None)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return error_response(
        400, f"invalid request: {where}: {first.get('msg', 'bad value')}", "invalid_request_error", "invalid_request"
    )


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, str(exc.detail), "invalid_request_error", code)


class UnexpectedErrors:
    """The one place for exceptions no handler knows: logged once, answered with a clean 500 that says
    `Connection: close` (the connection's state is unknown after a bug), and not raised further, so the server
    does not cut the connection without a word. A response already under way can only be cut."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:
            if started:
                raise
            log.error("request.failed", exc_info=exc)
            response = error_response(500, "internal error", "server_error", "internal_error", {"Connection": "close"})
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NodeError, _node_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(UnexpectedErrors)
