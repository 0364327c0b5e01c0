"""Every error leaves the node in OpenAI's shape: {"error": {"message", "type", "code"}}."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

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


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.error("request.failed", exc_info=exc)
    return error_response(500, "internal error", "server_error", "internal_error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NodeError, _node_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
