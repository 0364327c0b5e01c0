"""Ecash in and out: Routstr's /v1/balance/* endpoints and the /v1/wallet/* aliases routstr-sdk uses."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from starlette.responses import Response

from app.api.deps import ApiKey, NodeDep, Payer
from app.api.responses import json_response
from app.api.schemas import (
    BalanceInfo,
    CreatedKey,
    RefundBody,
    Refunded,
    TokenBody,
    ToppedUp,
    body_schema,
    error_responses,
    json_body,
)
from app.errors import BadRequest, RequestsInFlight, TokenRequestsInFlight

RETRY_AFTER_S = 2  # an X-Cashu client asks for its change again after this (Routstr's 425)

MAX_BALANCE_BODY = 64 * 1024
TokenIn = Annotated[TokenBody, Depends(json_body(TokenBody, MAX_BALANCE_BODY))]
# Routstr's older form puts the token in the query string (never logged: see app.api.redaction)
RefundIn = Annotated[RefundBody, Depends(json_body(RefundBody, MAX_BALANCE_BODY))]
QueryToken = Annotated[str | None, Query(description="a Cashu token (Routstr's older form; prefer the body)")]

router = APIRouter(tags=["balance"])


def _token(body: TokenBody, *query: str | None) -> str:
    found = body.first_token() or next((t.strip() for t in query if t and t.strip()), None)
    if found is None:
        raise BadRequest("a Cashu token is required (JSON field `cashu_token`)", param="cashu_token")
    return found


async def create(
    node: NodeDep, body: TokenIn, initial_balance_token: QueryToken = None, cashu_token: QueryToken = None
) -> Response:
    deposit = await node.payments.create(_token(body, initial_balance_token, cashu_token))
    account = deposit.account
    return json_response({"api_key": deposit.api_key, "balance": account.balance_msat, "key_hash": account.key_hash})


async def create_from_query(
    node: NodeDep, initial_balance_token: QueryToken = None, cashu_token: QueryToken = None
) -> Response:
    return await create(node, TokenBody(), initial_balance_token, cashu_token)


async def topup(node: NodeDep, key: ApiKey, body: TokenIn, cashu_token: QueryToken = None) -> Response:
    deposit = await node.payments.topup(key, _token(body, cashu_token))
    return json_response({"msats": deposit.credited_msat, "balance": deposit.account.balance_msat})


async def info(node: NodeDep, payer: Payer) -> Response:
    account = await node.payments.account(payer.secret)
    api_key = node.payments.api_key_for(payer.secret)
    return json_response({"api_key": api_key, "balance": account.balance_msat, "reserved": account.reserved_msat})


async def refund(node: NodeDep, payer: Payer, body: RefundIn) -> Response:
    address = (body.lightning_address or "").strip()
    try:
        if address:
            return await _refund_to_address(node, payer.secret, address)
        paid = await node.payments.refund(payer.secret)
    except RequestsInFlight as busy:
        if not payer.per_request:
            raise
        raise _token_busy() from busy
    return json_response({"token": paid.token, "msats": paid.msats, "fee_msats": paid.fee_msats})


async def _refund_to_address(node: NodeDep, credential: str, address: str) -> Response:
    paid = await node.payments.refund_to_address(credential, address)
    return json_response({"recipient": paid.recipient, "msats": paid.amount_msat, "fee_msats": paid.fee_msat,
                          "returned_msats": paid.returned_msat, "payment_preimage": paid.payment_preimage})  # fmt: skip


def _token_busy() -> TokenRequestsInFlight:
    busy = TokenRequestsInFlight()
    busy.headers["retry-after"] = str(RETRY_AFTER_S)
    return busy


def _route(
    path: str,
    endpoint: Callable[..., Awaitable[Response]],
    method: str,
    reply: type[BaseModel],
    errors: tuple[int, ...],
    body: dict[str, Any] | None = None,
) -> None:
    responses = error_responses(errors)
    router.add_api_route(
        path, endpoint, methods=[method], response_model=reply, responses=responses, openapi_extra=body
    )


for _prefix in ("/v1/balance", "/v1/wallet"):
    _route(f"{_prefix}/create", create, "POST", CreatedKey, (400, 413, 422, 503), body_schema(TokenBody, False))
    _route(f"{_prefix}/create", create_from_query, "GET", CreatedKey, (400, 422, 503))
    _route(f"{_prefix}/topup", topup, "POST", ToppedUp, (400, 401, 413, 422, 503), body_schema(TokenBody, False))
    _route(f"{_prefix}/info", info, "GET", BalanceInfo, (400, 401, 422, 503))
    _route(
        f"{_prefix}/refund", refund, "POST", Refunded, (400, 401, 422, 425, 502, 503), body_schema(RefundBody, False)
    )
router.add_api_route("/v1/wallet/", info, methods=["GET"], include_in_schema=False)
router.add_api_route("/v1/wallet", info, methods=["GET"], include_in_schema=False)
