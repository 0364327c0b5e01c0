"""Dependencies the route handlers declare: the node, and who pays for a request.

"Who pays" is one rule for every endpoint: the `X-Cashu` token when the request carries one (it pays this one
request, the change goes back), else the `Authorization: Bearer` API key or Cashu token."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.errors import Unauthorized
from app.node import Node

BEARER_SCHEME = "bearer"
XCASHU_SCHEME = "xcashu"
MISSING_KEY = "missing API key: send `Authorization: Bearer sk-...` or a Cashu token"

bearer_auth = HTTPBearer(
    auto_error=False,
    scheme_name=BEARER_SCHEME,
    description="An API key (`sk-...`), or a Cashu token (`cashuA...`/`cashuB...`) used as the key",
)
xcashu_auth = APIKeyHeader(
    name="X-Cashu",
    auto_error=False,
    scheme_name=XCASHU_SCHEME,
    description="A Cashu token paying this one request; the change comes back in the `X-Cashu` reply header",
)


@dataclass(frozen=True, slots=True)
class Credential:
    secret: str
    per_request: bool  # an X-Cashu token: pays one request, the change goes back


def bearer_secret(authorization: str | None) -> str | None:
    scheme, _, secret = (authorization or "").partition(" ")
    secret = secret.strip()
    return secret if scheme.lower() == "bearer" and secret else None


def credential_from(bearer: str | None, xcashu: str | None) -> Credential:
    """The rule, for FastAPI routes (through `Payer`) and the plain Starlette paid routes alike."""
    token = (xcashu or "").strip()
    if token:
        return Credential(token, per_request=True)
    if not bearer:
        raise Unauthorized(MISSING_KEY)
    return Credential(bearer, per_request=False)


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def _bearer(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_auth)]) -> str | None:
    return (credentials.credentials.strip() or None) if credentials else None


def _payer(
    bearer: Annotated[str | None, Depends(_bearer)], xcashu: Annotated[str | None, Depends(xcashu_auth)]
) -> Credential:
    return credential_from(bearer, xcashu)


def _api_key(bearer: Annotated[str | None, Depends(_bearer)]) -> str:
    if bearer is None:
        raise Unauthorized(MISSING_KEY)
    return bearer


NodeDep = Annotated[Node, Depends(get_node)]
Payer = Annotated[Credential, Depends(_payer)]
ApiKey = Annotated[str, Depends(_api_key)]  # the key itself (top-ups credit a key, never an X-Cashu payment)
OptionalApiKey = Annotated[str | None, Depends(_bearer)]
