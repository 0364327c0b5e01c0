"""The admin API under /admin/api (Routstr's paths where it has them: login, logout, settings): node status, keys
(create with a grant, top up, disable), the ledger, usage per model, balances owed, open reservations, earnings per
mint, announcement status per relay, upstream and prices, redacted settings, recent errors."""

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field, StrictInt
from starlette.responses import Response

import app
from app.admin.redaction import redact_settings, redact_url
from app.admin.reports import MAX_PAGE, EntryFilter
from app.api.admin_deps import SESSION_COOKIE, AdminDep, AnyAdmin, client_address, require_same_origin, session_token
from app.api.admin_deps import admin_bearer as bearer
from app.api.deps import NodeDep
from app.api.responses import json_response
from app.api.schemas import json_body
from app.db.urls import redacted
from app.ledger.records import EntryKind
from app.node import Node

MAX_ADMIN_BODY = 16 * 1024
DAY_S = 86_400

router = APIRouter(prefix="/admin/api", tags=["admin"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Offset = Annotated[int, Query(ge=0)]


class Login(BaseModel):
    password: str = Field(max_length=1024)


class NewKey(BaseModel):
    balance_msat: StrictInt = Field(0, ge=0)


class TopUp(BaseModel):
    amount_msat: StrictInt = Field(gt=0)


def set_session_cookie(response: Response, request: Request, token: str, max_age_s: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age_s,
        path="/admin",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/admin", httponly=True, samesite="strict")


@router.post("/login")
async def login(
    request: Request, admin: AnyAdmin, body: Annotated[Login, Depends(json_body(Login, MAX_ADMIN_BODY))]
) -> Response:
    if request.headers.get("origin"):  # a browser: only the dashboard's own page may log in
        require_same_origin(request)
    session = await admin.auth.login(body.password, client_address(request))
    response = json_response({"ok": True, "token": session.token, "expires_in": session.expires_in_s})
    set_session_cookie(response, request, session.token, session.expires_in_s)
    return response


@router.post("/logout")
async def logout(
    request: Request, admin: AdminDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Response:
    token, _ = session_token(request, credentials)
    if token:
        await admin.auth.logout(token)
    response = json_response({"ok": True})
    clear_session_cookie(response)
    return response


def node_status(node: Node) -> dict[str, Any]:
    settings = node.settings
    assert node.admin is not None
    return {
        "name": settings.name,
        "version": app.__version__,
        "uptime_s": node.admin.uptime_s(),
        "demo": settings.demo,
        "mints": list(settings.cashu_mints),
        "fake_mints": list(node.fake_mints),
        "upstream": redact_url(node.upstream_url),
        "database": {"kind": "sqlite" if settings.is_sqlite else "postgresql", "url": redacted(settings.database_url)},
        "npub": node.npub,
        "boot_id": node.leases.owner,
    }


@router.get("/status")
async def status(node: NodeDep, _: AdminDep) -> Response:
    return json_response(node_status(node))


@router.get("/keys")
async def keys(admin: AdminDep, limit: Limit = 50, offset: Offset = 0) -> Response:
    return json_response((await admin.keys(limit, offset)).to_json())


@router.post("/keys")
async def create_key(admin: AdminDep, body: Annotated[NewKey, Depends(json_body(NewKey, MAX_ADMIN_BODY))]) -> Response:
    key, row = await admin.create_key(body.balance_msat)
    return json_response({"api_key": key, **row}, status=201)


@router.post("/keys/{key_id}/topup")
async def top_up(
    key_id: int, admin: AdminDep, body: Annotated[TopUp, Depends(json_body(TopUp, MAX_ADMIN_BODY))]
) -> Response:
    return json_response(await admin.top_up(key_id, body.amount_msat))


@router.post("/keys/{key_id}/disable")
async def disable_key(key_id: int, admin: AdminDep) -> Response:
    return json_response(await admin.set_disabled(key_id, True))


@router.post("/keys/{key_id}/enable")
async def enable_key(key_id: int, admin: AdminDep) -> Response:
    return json_response(await admin.set_disabled(key_id, False))


@router.get("/ledger")
async def ledger(
    admin: AdminDep,
    key_id: int | None = None,
    kind: EntryKind | None = None,
    since: Annotated[int | None, Query(ge=0, description="unix seconds")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    where = EntryFilter(key_id, kind.value if kind else None, since)
    return json_response((await admin.ledger(where, limit, offset)).to_json())


@router.get("/usage")
async def usage(
    admin: AdminDep,
    since: Annotated[int | None, Query(ge=0, description="unix seconds; default the last 24 hours")] = None,
    bucket_s: Annotated[int, Query(ge=60, le=7 * DAY_S)] = 3600,
) -> Response:
    start = since if since is not None else int(time.time()) - DAY_S
    return json_response({"since": start, "bucket_s": bucket_s, "data": await admin.usage(start, bucket_s)})


@router.get("/balances")
async def balances(admin: AdminDep) -> Response:
    return json_response(await admin.owed())


@router.get("/reservations")
async def reservations(admin: AdminDep, limit: Limit = 100) -> Response:
    return json_response((await admin.reservations(limit)).to_json())


@router.get("/earnings")
async def earnings(admin: AdminDep) -> Response:
    return json_response(await admin.earnings())


def announcement(node: Node) -> dict[str, Any]:
    if node.announcer is None:
        return {"npub": node.npub, "announcing": False, "skipped_reason": "ANNOUNCE=false", "relays": {}}
    return node.announcer.status()


@router.get("/announcement")
async def announcement_status(node: NodeDep, _: AdminDep) -> Response:
    return json_response(announcement(node))


async def upstream_and_prices(node: Node) -> dict[str, Any]:
    btc_usd = await node.rates.btc_usd()
    listed = node.catalog.current().as_openai_list(btc_usd, node.settings.max_completion_tokens)["data"]
    models = [{"id": m["id"], "sats_pricing": m["sats_pricing"], "pricing": m["pricing"]} for m in listed]
    return {"upstream": redact_url(node.upstream_url), "btc_usd": btc_usd, "models": models}


@router.get("/upstream")
async def upstream(node: NodeDep, _: AdminDep) -> Response:
    return json_response(await upstream_and_prices(node))


@router.get("/settings")
async def settings(node: NodeDep, _: AdminDep) -> Response:
    return json_response(redact_settings(dict(node.settings)))


@router.get("/errors")
async def errors(admin: AdminDep, limit: Limit = 50) -> Response:
    return json_response(await admin.errors(limit))
