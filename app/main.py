"""The ASGI application: routers, error handlers, middleware, lifespan. `uvicorn app.main:app` serves it."""

from fastapi import FastAPI

import app as package
from app.api import admin, admin_pages, balance, catalog, lightning, proxy
from app.api.errors import install_error_handlers
from app.api.middleware import Cors, RequestIds
from app.api.openapi import install_openapi
from app.api.redaction import redact_access_logs
from app.lifespan import lifespan_for
from app.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    api = FastAPI(
        title=settings.name,
        version=package.__version__,
        lifespan=lifespan_for(settings),
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
    api.include_router(lightning.router)
    api.include_router(admin.router)
    api.include_router(admin_pages.router)
    redact_access_logs(api.routes)
    api.add_middleware(RequestIds)
    api.add_middleware(Cors, origins=settings.cors_origins)  # outermost: errors and 500s carry CORS headers too
    return api


app = create_app()
