"""How each domain error leaves the node: one table from error class to HTTP status, `type` and `code`.

Bodies keep OpenAI's envelope, so OpenAI SDKs raise their typed exceptions, with Routstr's types and codes inside,
which routstr-sdk branches on: `{"error": {"message", "type", "code", ...}, "request_id"}`."""

import logging
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.admin import errors as admin
from app.api.redaction import redact_path, route_words
from app.cashu import errors as cashu
from app.cashu.p2pk import NotLockedToKey
from app.errors import (
    BadRequest,
    BodyTooLarge,
    InsufficientBalance,
    MinimumBalanceRequired,
    ModelNotFound,
    NodeError,
    NotFound,
    RequestsInFlight,
    ServiceUnavailable,
    TokenRequestsInFlight,
    Unauthorized,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from app.limits.service import RateLimited
from app.nostr.errors import InvalidEvent, InvalidNostrKey
from app.nostr.nip98 import InvalidHttpAuth
from app.payments.foreign import ForeignSwapFailed
from app.payments.lnurl import InvalidLightningAddress, LightningAddressFailed
from app.payments.refunds import WalletShort
from app.payments.withdrawals import WithdrawalBusy
from app.pricing.rates import PriceUnavailable
from app.proxy.fields import AboveMaximum, BelowMinimum, InvalidType, InvalidValue
from app.proxy.streams import ReplyOverBudget
from app.treasury.errors import RefundInProgress
from app.treasury.withdrawals import NotWithdrawable
from app.upstream.client import ReplyTooLarge, UpstreamDropped, UpstreamPoolFull
from app.upstream.refusals import UpstreamFailed, UpstreamRejected
from app.upstream.routing import NoHealthyUpstream

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Shown:
    status: int
    type: str
    code: str


INVALID = "invalid_request_error"
_LOCATIONS = frozenset(("body", "query", "header", "path"))
UPSTREAM = "upstream_error"

SHOWN_AS: dict[type[NodeError], Shown] = {
    NodeError: Shown(500, "api_error", "internal_error"),
    BadRequest: Shown(400, INVALID, "invalid_request"),
    # OpenAI's own codes for a request field of the wrong type or out of range
    InvalidType: Shown(400, INVALID, "invalid_type"),
    BelowMinimum: Shown(400, INVALID, "integer_below_min_value"),
    AboveMaximum: Shown(400, INVALID, "integer_above_max_value"),
    InvalidValue: Shown(400, INVALID, "invalid_value"),
    BodyTooLarge: Shown(413, INVALID, "request_too_large"),
    Unauthorized: Shown(401, INVALID, "invalid_api_key"),
    InsufficientBalance: Shown(402, "insufficient_quota", "insufficient_balance"),
    MinimumBalanceRequired: Shown(402, "minimum_balance_required", "insufficient_balance"),
    ModelNotFound: Shown(404, INVALID, "model_not_found"),
    NotFound: Shown(404, INVALID, "not_found"),
    UpstreamUnavailable: Shown(502, UPSTREAM, "upstream_unavailable"),
    UpstreamDropped: Shown(502, UPSTREAM, "upstream_dropped"),
    UpstreamFailed: Shown(502, UPSTREAM, "upstream_error"),
    UpstreamRejected: Shown(400, UPSTREAM, "upstream_rejected"),  # shown with the upstream's own 4xx status
    ReplyTooLarge: Shown(502, UPSTREAM, "upstream_reply_too_large"),
    ReplyOverBudget: Shown(502, UPSTREAM, "upstream_over_budget"),
    UpstreamTimeout: Shown(504, UPSTREAM, "upstream_timeout"),
    ServiceUnavailable: Shown(503, "api_error", "service_unavailable"),
    UpstreamPoolFull: Shown(503, "api_error", "upstream_pool_full"),  # the node is saturated, not the upstream
    WalletShort: Shown(503, "api_error", "wallet_insufficient_funds"),
    RefundInProgress: Shown(409, INVALID, "refund_in_progress"),
    RequestsInFlight: Shown(400, INVALID, "requests_in_flight"),  # as routstr-core ("ongoing requests")
    TokenRequestsInFlight: Shown(425, INVALID, "requests_in_flight"),
    cashu.CashuError: Shown(400, "cashu_error", "cashu_token_redemption_failed"),
    cashu.TokenAlreadySpent: Shown(400, "token_already_spent", "cashu_token_already_spent"),
    cashu.ProofsPending: Shown(503, "api_error", "cashu_proofs_pending"),  # in a swap right now: ask again later
    cashu.InvalidToken: Shown(400, "invalid_token", "invalid_cashu_token"),
    cashu.TokenZeroValue: Shown(400, "cashu_error", "cashu_token_zero_value"),
    NotLockedToKey: Shown(400, "invalid_token", "cashu_token_not_locked_to_node"),  # a nutzap's proofs (NUT-11)
    # routstr-sdk reads this code as "pay with a token from another mint"
    cashu.UntrustedMint: Shown(422, "mint_error", "cashu_foreign_mint_swap_failed"),
    InvalidLightningAddress: Shown(400, INVALID, "invalid_lightning_address"),
    LightningAddressFailed: Shown(400, "payment_error", "lightning_address_failed"),  # the address given fails
    ForeignSwapFailed: Shown(422, "mint_error", "cashu_foreign_mint_swap_failed"),
    cashu.SwapFeesExceedAmount: Shown(422, "mint_error", "cashu_token_swap_fees_exceed_amount"),
    cashu.MintUnreachable: Shown(503, "mint_unreachable", "cashu_mint_unreachable"),
    cashu.SwapOutcomeUnknown: Shown(503, "mint_unreachable", "cashu_mint_unreachable"),
    cashu.MintRejected: Shown(400, "cashu_error", "cashu_token_redemption_failed"),
    cashu.KeysetUnknown: Shown(400, "cashu_error", "cashu_token_redemption_failed"),
    cashu.TransactionUnbalanced: Shown(500, "api_error", "cashu_transaction_unbalanced"),
    cashu.BadMintSignature: Shown(502, "mint_error", "cashu_mint_bad_signature"),
    InvalidNostrKey: Shown(500, "api_error", "invalid_nostr_key"),
    InvalidEvent: Shown(400, INVALID, "invalid_nostr_event"),
    InvalidHttpAuth: Shown(401, INVALID, "invalid_nostr_auth"),  # NIP-98
    PriceUnavailable: Shown(503, "api_error", "price_unavailable"),  # a USD-priced model while the rate is stale
    NoHealthyUpstream: Shown(502, UPSTREAM, "upstream_unavailable"),  # every upstream for the model failed or is out
    admin.AdminUnauthorized: Shown(401, INVALID, "admin_unauthorized"),
    admin.AdminNotConfigured: Shown(401, INVALID, "admin_not_configured"),
    admin.LoginThrottled: Shown(429, "rate_limit_error", "rate_limit_exceeded"),
    admin.CrossOriginRefused: Shown(403, INVALID, "cross_origin_refused"),
    RateLimited: Shown(429, "requests", "rate_limit_exceeded"),  # OpenAI's type and code for a request rate limit
    NotWithdrawable: Shown(409, INVALID, "not_withdrawable"),  # would take from what users are owed
    WithdrawalBusy: Shown(503, "api_error", "wallet_busy"),
}


def shown_as(error: NodeError) -> Shown:
    """The closest entry up the class tree (every NodeError subclass has its own; a test holds that)."""
    for cls in type(error).__mro__:
        shown = SHOWN_AS.get(cls)
        if shown is not None:
            return shown
    return SHOWN_AS[NodeError]


def error_body(error: NodeError, request_id: str | None = None) -> dict[str, Any]:
    shown = shown_as(error)
    body: dict[str, Any] = {"error": {"message": error.message, "type": shown.type, "code": shown.code, **error.extra}}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def request_id_of(request: Request) -> str | None:
    state = request.scope.get("state")
    return state.get("request_id") if isinstance(state, dict) else None


def _json(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def error_response(request: Request, status: int, message: str, type_: str, code: str) -> Response:
    return _json(
        {"error": {"message": message, "type": type_, "code": code}, "request_id": request_id_of(request)}, status
    )


def status_of(error: NodeError) -> int:
    if isinstance(error, UpstreamRejected):
        return error.upstream_status
    return shown_as(error).status


async def _node_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NodeError)
    note_shown(request.scope, exc)
    _remember(request, status_of(exc), shown_as(exc).code)
    return _json(error_body(exc, request_id_of(request)), status_of(exc), exc.headers or None)


def _remember(request: Request, status: int, code: str) -> None:
    """For the admin dashboard's recent errors: the route's template, never the path's own values."""
    node = getattr(request.app.state, "node", None)
    if node is not None and node.admin is not None:
        route = getattr(request.scope.get("route"), "path", None)
        route = route or redact_path(request.url.path, route_words(request.app.routes))
        node.admin.recent_errors.add(request.method, route, status, code, request_id_of(request))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in _LOCATIONS)
    message = f"invalid request: {where}: {first.get('msg', 'bad value')}"
    error = {"message": message, "type": INVALID, "code": "invalid_request", "param": where or None}
    return _json({"error": error, "request_id": request_id_of(request)}, 400)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(request, exc.status_code, str(exc.detail), INVALID, code)


ERROR_SHOWN = "error_shown"  # in the request's scope state: (code, the upstream failed), for app.api.metrics


def note_shown(scope: MutableMapping[str, Any], error: NodeError) -> None:
    """Leave what app.api.metrics counts once the reply is sent: the error's code, and whether the upstream failed."""
    state = scope.get("state")
    if isinstance(state, dict):
        shown = shown_as(error)
        state[ERROR_SHOWN] = (shown.code, shown.type == UPSTREAM)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NodeError, _node_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)


def unexpected_error_body(request_id: str) -> bytes:
    """The 500 the request-id middleware sends when a handler raised something that is not a NodeError."""
    return orjson.dumps(
        {
            "error": {"message": "internal error", "type": "api_error", "code": "internal_error"},
            "request_id": request_id,
        }
    )
