"""Rate limits at the edge: per client IP on the open endpoints, per key on the paid ones.

`ClientLimits` (pure ASGI, before routing) knows the open endpoints by path; `rate_limited("group")` is the same
check as a FastAPI dependency for routes that prefer to declare it. The client IP is the ASGI client, which uvicorn
takes from X-Forwarded-For only when the peer is in FORWARDED_ALLOW_IPS."""

from collections.abc import Awaitable, Callable

import orjson
from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api import proxy
from app.api.errors import error_body, note_shown, shown_as
from app.api.metrics import ROUTE_TEMPLATE
from app.api.middleware import request_id
from app.limits.limiter import Rule, open_counter
from app.limits.service import RateLimited, RateLimits, key_subject
from app.settings import Settings

CREATE, INVOICE, ADMIN_LOGIN, KEY = "create", "invoice", "admin_login", "key"

# path -> group, for the endpoints anyone may call without a key
OPEN_ENDPOINTS = {
    f"{prefix}/{path}": group
    for prefix in ("/v1/balance", "/v1/wallet")
    for path, group in (("create", CREATE), ("topup", CREATE), ("lightning/invoice", INVOICE))
} | {"/admin/api/login": ADMIN_LOGIN}
PAID_ROUTES = frozenset(f"{prefix}{path}" for prefix in ("/v1", "") for path in proxy.PAID_PATHS)


def rate_limits_for(settings: Settings) -> RateLimits:
    rules = {
        CREATE: Rule(settings.rate_limit_create_per_min),
        INVOICE: Rule(settings.rate_limit_invoice_per_min),
        ADMIN_LOGIN: Rule(settings.rate_limit_login_per_min),
        KEY: Rule(settings.key_rpm),
    }
    counter = open_counter(settings.redis_url.get_secret_value())
    exempt = frozenset(settings.rate_limit_exempt_ips)
    return RateLimits(counter, rules, prefix=settings.rate_limit_prefix, exempt=exempt)


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class ClientLimits:
    """429 with Retry-After before the request reaches its route, when its IP or key is over its group's limit."""

    def __init__(self, app: ASGIApp, limits: RateLimits) -> None:
        self.app = app
        self._limits = limits
        self._keys = limits.limits(KEY)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                await self._check(scope)
            except RateLimited as limited:
                await _send_limited(scope, send, limited)
                return
        await self.app(scope, receive, send)

    async def _check(self, scope: Scope) -> None:
        path = scope["path"]
        group = OPEN_ENDPOINTS.get(path)
        if group is not None:
            await self._limits.check(group, client_ip(scope))
        elif self._keys and path in PAID_ROUTES:
            secret = _payer_secret(scope)
            if secret:
                await self._limits.check(KEY, key_subject(secret))


def _payer_secret(scope: Scope) -> str | None:
    """Who pays, as app.api.deps decides it: X-Cashu, else the Bearer credential."""
    bearer = None
    for name, value in scope["headers"]:
        if name == b"x-cashu" and value.strip():
            return bytes(value).decode("latin-1").strip()
        if name == b"authorization":
            scheme, _, secret = bytes(value).decode("latin-1").partition(" ")
            bearer = secret.strip() if scheme.lower() == "bearer" else None
    return bearer or None


async def _send_limited(scope: Scope, send: Send, limited: RateLimited) -> None:
    note_shown(scope, limited)
    scope["state"][ROUTE_TEMPLATE] = scope["path"]  # a literal path of a route (OPEN_ENDPOINTS, PAID_ROUTES)
    body = orjson.dumps(error_body(limited, request_id(scope)))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name.encode(), value.encode()) for name, value in limited.headers.items()]
    await send({"type": "http.response.start", "status": shown_as(limited).status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def rate_limited(group: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency: `dependencies=[Depends(rate_limited("admin_login"))]` counts the route's calls per client IP
    in `group` (RATE_LIMIT_LOGIN_PER_MIN for admin_login) and answers 429 over the limit."""

    async def check(request: Request) -> None:
        limits: RateLimits = request.app.state.limits
        await limits.check(group, client_ip(request.scope))

    return check
