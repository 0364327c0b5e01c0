"""The ASGI application: routers, error handlers, middleware, lifespan. `uvicorn app.main:app` serves it."""

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp

import app as package
from app.api import admin, admin_pages, balance, catalog, dvm, health, lightning, proxy
from app.api.errors import install_error_handlers
from app.api.limits import ClientLimits, rate_limits_for
from app.api.metrics import metrics_router
from app.api.middleware import Edge
from app.api.openapi import install_openapi
from app.api.redaction import redact_access_logs
from app.lifespan import lifespan_for
from app.observability.logging import configure_logging
from app.observability.metrics import Metrics
from app.settings import Settings


class NodeApi(FastAPI):
    """FastAPI without Starlette's outermost ServerErrorMiddleware when it has no handler of ours to run: Edge renders
    an unexpected error (in the error envelope, with the id), and the other middleware would be one more wrapper of
    `send` for every chunk of every stream."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if isinstance(stack, ServerErrorMiddleware) and stack.handler is None and not stack.debug:
            return stack.app
        return stack


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    api = NodeApi(
        title=settings.name,
        version=package.__version__,
        lifespan=_collecting_less(lifespan_for(settings)),
        docs_url="/docs",
        redoc_url=None,
        redirect_slashes=False,  # a redirect would reflect the request's Host header
        # no OpenTelemetry here; left on, FastAPI looks for a tracer provider on every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(api)
    install_openapi(api)
    api.include_router(proxy.router)
    api.include_router(catalog.router)
    api.include_router(balance.router)
    api.include_router(dvm.router)
    api.include_router(lightning.router)
    api.include_router(admin.router)
    api.include_router(admin_pages.router)
    api.include_router(health.router)
    _observe_and_limit(api, settings)
    redact_access_logs(api.routes)
    _build_routes_now(api)
    return api


def _build_routes_now(api: FastAPI) -> None:
    """FastAPI builds each included route's parameters on the first request that reaches it, from annotation
    objects shared by every app in the process (`Query(...)` in a module-level alias). Two apps building them at
    once in one process (the tests' in-process nodes) raced into pydantic warnings and a 500; built here, on the
    thread that creates the app, the first request also no longer pays for it (about 150 ms)."""
    for route in api.router.routes:
        for build in ("effective_candidates", "effective_low_priority_routes"):
            built = getattr(route, build, None)  # FastAPI's included routers; absent elsewhere
            if callable(built):
                built()


# A collection of the oldest generation walks every tracked object: with 10,000 streams open they stalled every
# stream for up to 2.2 s at a time, 18 times in one run (bench/README.md). Once started, the node's own objects
# (modules, routes, clients, the catalog) live as long as it does: frozen, no collection walks them again. The oldest
# generation is then collected after 1,000 collections of the middle one rather than 10 (CPython also waits until
# a quarter of its objects are new): about 7 million container allocations, minutes at full load.
GC_THRESHOLDS = (700, 10, 1000)


def _collecting_less(lifespan: Callable[[FastAPI], Any]) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def collecting_less(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app):
            thresholds = gc.get_threshold()
            gc.collect()
            gc.freeze()
            gc.set_threshold(*GC_THRESHOLDS)
            try:
                yield
            finally:
                gc.set_threshold(*thresholds)
                gc.unfreeze()  # another node in this process (tests) starts from a clean slate

    return collecting_less


def _observe_and_limit(api: FastAPI, settings: Settings) -> None:
    """Rate limits (inside Edge: a refused request is still counted and carries its id), then Edge outermost (errors
    and 500s carry the id and CORS headers too). The lifespan closes the limits' Redis client and feeds the metrics
    what only a running node knows."""
    api.state.limits = rate_limits_for(settings)
    api.add_middleware(ClientLimits, limits=api.state.limits)
    api.state.metrics = Metrics() if settings.metrics_enabled else None
    if api.state.metrics is not None:
        api.include_router(metrics_router(api.state.metrics, settings.metrics_token.get_secret_value()))
    api.add_middleware(Edge, origins=settings.cors_origins, metrics=api.state.metrics)


def _app_for_uvicorn() -> FastAPI:
    """`uvicorn app.main:app`: uvicorn set up its own logging before importing this; LOG_FORMAT=json replaces it."""
    settings = Settings()
    if settings.log_format == "json":
        configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)


app = _app_for_uvicorn()
