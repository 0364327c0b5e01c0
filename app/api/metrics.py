"""Prometheus metrics: the request counters (counted by app.api.middleware.Edge, in memory only) and GET /metrics.

Added only with METRICS_ENABLED; with METRICS_TOKEN set, /metrics wants `Authorization: Bearer <METRICS_TOKEN>`."""

import hmac

from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import Message, Scope

from app.api.deps import bearer_secret
from app.api.errors import ERROR_SHOWN
from app.errors import Unauthorized
from app.observability.metrics import CONTENT_TYPE, Metrics

UNMATCHED = "unmatched"  # a path no route serves: never its text, which could be a secret and is unbounded
ROUTE_TEMPLATE = "route_template"  # in the scope state: the route of a request answered before routing (a 429)


def request_done(metrics: Metrics, scope: Scope, status: int, seconds: float) -> None:
    """Count one finished request (app.api.middleware.Edge calls it), and the error its reply showed, if any."""
    metrics.request_done(_route_label(scope), scope["method"], status, seconds)
    shown = scope.get("state", {}).get(ERROR_SHOWN)
    if shown is not None:
        metrics.error(*shown)


def _route_label(scope: Scope) -> str:
    """The route's template (`/v1/models/{model_id:path}`). FastAPI names its own routes in the scope; a plain route
    (the paid ones) only leaves its endpoint, and without path parameters its path is its template."""
    path = getattr(scope.get("route"), "path", None) or scope.get("state", {}).get(ROUTE_TEMPLATE)
    if isinstance(path, str):
        return path
    if scope.get("endpoint") is not None and not scope.get("path_params"):
        return str(scope["path"])
    return UNMATCHED


def is_event_stream(message: Message) -> bool:
    return any(name == b"content-type" and value.startswith(b"text/event-stream") for name, value in message["headers"])


def metrics_router(metrics: Metrics, token: str) -> APIRouter:
    router = APIRouter(tags=["operator"])

    @router.get("/metrics", include_in_schema=False)
    async def scrape(request: Request) -> Response:
        if token and not hmac.compare_digest(
            (bearer_secret(request.headers.get("authorization")) or "").encode(), token.encode()
        ):
            raise Unauthorized("send `Authorization: Bearer <METRICS_TOKEN>`")
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return router
