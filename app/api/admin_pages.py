"""The dashboard at /admin: server-rendered HTML (no JavaScript), every value escaped. A login form until the
operator logs in; then earnings per mint, usage per model over time (an SVG chart), balances owed, open
reservations, announcement and relay status, and recent errors, from the same queries as the admin API."""

import time
from html import escape
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.admin.errors import AdminUnauthorized, LoginThrottled
from app.admin.service import Admin
from app.api.admin import DAY_S, announcement, clear_session_cookie, node_status, set_session_cookie
from app.api.admin_deps import SESSION_COOKIE, AnyAdmin, client_address, require_same_origin
from app.api.admin_plot import usage_chart
from app.api.deps import NodeDep
from app.api.requests import read_body
from app.node import Node

router = APIRouter(prefix="/admin", include_in_schema=False)

BUCKET_S = 3600
STYLE = (
    "body{font:14px system-ui,sans-serif;margin:24px;color:#0f172a;max-width:1000px}"
    "table{border-collapse:collapse;margin:6px 0 18px}td,th{border:1px solid #cbd5e1;padding:3px 8px;text-align:left}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}h2{margin-top:28px;font-size:17px}.err{color:#b91c1c}"
    "header{display:flex;justify-content:space-between;align-items:center}"
)
# the page needs no script, so none may run; inline styles only; forms post only to this node
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )
    headers = {"content-security-policy": CSP, "x-frame-options": "DENY", "cache-control": "no-store"}
    return HTMLResponse(html, status, headers)


def _login_form(node_name: str, message: str = "", status: int = 200) -> HTMLResponse:
    error = f'<p class="err" id="login-error">{escape(message)}</p>' if message else ""
    return _page(
        f"{node_name} admin",
        f"<h1>{escape(node_name)} admin</h1>{error}"
        '<form method="post" action="/admin/login"><label>Password <input type="password" name="password"'
        ' id="password" autocomplete="current-password" autofocus></label> <button id="login">Log in</button></form>',
        status,
    )


@router.get("")
async def dashboard(request: Request, node: NodeDep, admin: AnyAdmin) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    try:
        await admin.auth.check(cookie, client_address(request))
    except (AdminUnauthorized, LoginThrottled) as refused:
        form = _login_form(node.settings.name, refused.message if cookie else "")
        clear_session_cookie(form)  # counted once, not per load
        return form
    return _page(f"{node.settings.name} admin", await _dashboard(node, admin))


@router.post("/login")
async def login(request: Request, node: NodeDep, admin: AnyAdmin) -> Response:
    require_same_origin(request)
    form = parse_qs((await read_body(request, 4096)).decode(errors="replace"))
    try:
        session = await admin.auth.login(form.get("password", [""])[0], client_address(request))
    except LoginThrottled as refused:
        return _login_form(node.settings.name, refused.message, 429)
    except AdminUnauthorized as refused:
        return _login_form(node.settings.name, refused.message, 401)
    response = RedirectResponse("/admin", status_code=303)
    set_session_cookie(response, request, session.token, session.expires_in_s)
    return response


@router.post("/logout")
async def logout(request: Request, admin: AnyAdmin) -> Response:
    require_same_origin(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await admin.auth.logout(token)
    response = RedirectResponse("/admin", status_code=303)
    clear_session_cookie(response)
    return response


async def _dashboard(node: Node, admin: Admin) -> str:
    now = int(time.time())
    status = node_status(node)
    since = now - DAY_S
    usage = await admin.usage(since, BUCKET_S)
    return "".join(
        [
            f"<header><h1>{escape(status['name'])} admin</h1>"
            '<form method="post" action="/admin/logout"><button id="logout">Log out</button></form></header>',
            _status_section(status),
            _earnings_section(await admin.earnings()),
            _usage_section(usage, since, now),
            _owed_section(await admin.owed()),
            _reservations_section((await admin.reservations(20)).to_json()),
            _announcement_section(announcement(node)),
            _errors_section(await admin.errors(20)),
        ]
    )


def _cell(value: Any, ident: str | None = None) -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    attrs = (f' id="{escape(ident)}"' if ident else "") + (' class="n"' if numeric else "")
    return f"<td{attrs}>{escape(str(value))}</td>"


def _table(headings: list[str], rows: list[str], ident: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    body = "".join(rows) or f'<tr><td colspan="{len(headings)}">none</td></tr>'
    return f'<table id="{escape(ident)}"><tr>{head}</tr>{body}</table>'


def _pairs(pairs: list[tuple[str, Any]], ident: str) -> str:
    rows = [f"<tr><th>{escape(label)}</th>{_cell(value, key)}</tr>" for (label, value), key in _keyed(pairs, ident)]
    return f'<table id="{escape(ident)}">{"".join(rows)}</table>'


def _keyed(pairs: list[tuple[str, Any]], prefix: str) -> list[tuple[tuple[str, Any], str]]:
    return [((label, value), f"{prefix}-{label.lower().replace(' ', '_')}") for label, value in pairs]


def _status_section(status: dict[str, Any]) -> str:
    database = status["database"]
    return "<h2>Node</h2>" + _pairs(
        [
            ("Version", status["version"]),
            ("Uptime s", status["uptime_s"]),
            ("Demo", status["demo"]),
            ("Database", database["kind"]),
            ("Upstream", status["upstream"]),
            ("Mints", ", ".join(status["mints"])),
        ],
        "status",
    )


def _earnings_section(earnings: dict[str, Any]) -> str:
    rows = [
        f"<tr>{_cell(m['mint_url'])}{_cell(m['held_msat'])}{_cell(m['in_flight_msat'])}</tr>" for m in earnings["mints"]
    ]
    totals = [
        ("Held msat", earnings["held_msat"]),
        ("Owed msat", earnings["owed_msat"]),
        ("Earnings msat", earnings["earnings_msat"]),
        ("Granted msat", earnings["granted_msat"]),
        ("Reconciles", earnings["reconciles"]),
    ]
    return (
        "<h2>Earnings per mint</h2>"
        + _table(["mint", "held msat", "in flight msat"], rows, "mints")
        + _pairs(totals, "earnings")
        # the withdrawals section: filled in when withdrawals are wired to the dashboard
        + '<section id="withdrawals"></section>'
    )


def _usage_section(usage: list[dict[str, Any]], since: int, now: int) -> str:
    per_model: dict[str, list[int]] = {}
    for row in usage:
        totals = per_model.setdefault(str(row["model"]), [0, 0])
        totals[0] += int(row["requests"])
        totals[1] += int(row["msat"])
    rows = [
        f"<tr>{_cell(model)}{_cell(requests, f'usage-{model}-requests')}{_cell(msat, f'usage-{model}-msat')}</tr>"
        for model, (requests, msat) in sorted(per_model.items())
    ]
    return (
        "<h2>Usage per model, last 24 hours</h2>"
        + usage_chart(usage, "requests", since, BUCKET_S, now)
        + usage_chart(usage, "msat", since, BUCKET_S, now)
        + _table(["model", "requests", "msat"], rows, "usage")
    )


def _owed_section(owed: dict[str, int]) -> str:
    pairs = [
        ("Owed msat", owed["owed_msat"]),
        ("Reserved msat", owed["reserved_msat"]),
        ("Keys with balance", owed["keys_with_balance"]),
        ("Keys", owed["keys"]),
    ]
    return "<h2>Balances owed</h2>" + _pairs(pairs, "owed")


def _reservations_section(page: dict[str, Any]) -> str:
    rows = [
        f"<tr>{_cell(r['request_id'])}{_cell(r['key_id'])}{_cell(r['amount_msat'])}{_cell(_ago(r['created_at']))}</tr>"
        for r in page["data"]
    ]
    return f'<h2>Open reservations (<span id="reservations-total">{page["total"]}</span>)</h2>' + _table(
        ["request", "key", "msat", "age"], rows, "reservations"
    )


def _announcement_section(state: dict[str, Any]) -> str:
    rows = [
        f"<tr>{_cell(url)}{_cell(result.get('status', ''))}{_cell(result.get('message', '') or '')}</tr>"
        for url, result in state.get("relays", {}).items()
    ]
    reason = state.get("skipped_reason") or ""
    return (
        "<h2>Nostr announcement</h2>"
        + _pairs([("Announcing", state.get("announcing")), ("Reason", reason), ("npub", state.get("npub"))], "nostr")
        + _table(["relay", "status", "message"], rows, "relays")
    )


def _errors_section(errors: dict[str, Any]) -> str:
    responses = [
        f"<tr>{_cell(_ago(e['at']))}{_cell(e['method'] + ' ' + e['route'])}{_cell(e['status'])}{_cell(e['code'])}</tr>"
        for e in errors["responses"]
    ]
    operations = [
        f"<tr>{_cell(_ago(o['updated_at']))}{_cell(o['kind'])}{_cell(o['state'])}{_cell(o['mint_url'])}"
        f"{_cell(o['amount_msat'])}{_cell(o['error'] or '')}</tr>"
        for o in errors["mint_operations"]
    ]
    return (
        "<h2>Recent errors</h2>"
        + _table(["when", "route", "status", "code"], responses, "error-responses")
        + _table(["when", "kind", "state", "mint", "msat", "error"], operations, "failed-operations")
    )


def _ago(at: int) -> str:
    seconds = max(0, int(time.time()) - int(at))
    return (
        f"{seconds // 3600}h {seconds % 3600 // 60}m ago"
        if seconds >= 3600
        else f"{seconds // 60}m {seconds % 60}s ago"
    )
