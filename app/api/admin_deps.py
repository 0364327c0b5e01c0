"""Who may use the admin API and dashboard: a bearer (a session token or ADMIN_TOKEN) or the session cookie the
login sets. Requests that change state and are authenticated by the cookie must come from the node's own origin
(the cookie is SameSite=Strict as well): a page elsewhere cannot make the operator's browser act."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.admin.errors import CrossOriginRefused
from app.admin.service import Admin
from app.api.deps import NodeDep
from app.errors import ServiceUnavailable

SESSION_COOKIE = "routstr_admin_session"
SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))

admin_bearer = HTTPBearer(
    auto_error=False, scheme_name="admin", description="An admin session token (POST /admin/api/login) or ADMIN_TOKEN"
)


def admin_service(node: NodeDep) -> Admin:
    if node.admin is None:
        raise ServiceUnavailable("the admin API is not running on this node")
    return node.admin


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def require_same_origin(request: Request) -> None:
    """The request's Origin (or, without one, its Referer) must name this very host."""
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    host = request.headers.get("host", "")
    scheme_sep = origin.find("://")
    origin_host = origin[scheme_sep + 3 :].split("/", 1)[0] if scheme_sep >= 0 else ""
    if not host or origin_host != host:
        raise CrossOriginRefused()


def session_token(request: Request, credentials: HTTPAuthorizationCredentials | None) -> tuple[str | None, bool]:
    """The token presented and whether it came from the cookie."""
    if credentials and credentials.credentials.strip():
        return credentials.credentials.strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return cookie, cookie is not None


async def _authorised(
    request: Request,
    admin: Annotated[Admin, Depends(admin_service)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)],
) -> Admin:
    token, from_cookie = session_token(request, credentials)
    await admin.auth.check(token, client_address(request))
    if from_cookie and request.method not in SAFE_METHODS:
        require_same_origin(request)
    return admin


AdminDep = Annotated[Admin, Depends(_authorised)]
AnyAdmin = Annotated[Admin, Depends(admin_service)]  # before login
