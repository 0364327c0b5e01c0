"""Ecash in and out: Routstr's /v1/balance/* endpoints and the /v1/wallet/* aliases routstr-sdk uses."""

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.deps import NodeDep
from app.api.requests import bearer_credential, read_body
from app.api.responses import json_response
from app.errors import BadRequest

router = APIRouter()

TOKEN_FIELDS = ("cashu_token", "initial_balance_token", "token")
MAX_BALANCE_BODY = 64 * 1024


async def _token_from(request: Request) -> str:
    """The token from the JSON body, or from the query string (Routstr's older form; never logged)."""
    body = await read_body(request, MAX_BALANCE_BODY)
    payload: Any = {}
    if body.strip():
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest("request body is not valid JSON") from exc
    for source in (payload if isinstance(payload, dict) else {}, request.query_params):
        for field in TOKEN_FIELDS:
            value = source.get(field)
            if isinstance(value, str) and value.strip():
                return value.strip()
    raise BadRequest("a Cashu token is required (JSON field `cashu_token`)", param="cashu_token")


def _payer_credential(request: Request) -> str:
    """Bearer key or token; a per-request payer may name its X-Cashu token instead."""
    xcashu = request.headers.get("x-cashu", "").strip()
    return xcashu if xcashu and "authorization" not in request.headers else bearer_credential(request)


async def create(request: Request, node: NodeDep) -> Response:
    deposit = await node.payments.create(await _token_from(request))
    return json_response(
        {"api_key": deposit.api_key, "balance": deposit.account.balance_msat, "key_hash": deposit.account.key_hash}
    )


async def topup(request: Request, node: NodeDep) -> Response:
    deposit = await node.payments.topup(bearer_credential(request), await _token_from(request))
    return json_response({"msats": deposit.credited_msat, "balance": deposit.account.balance_msat})


async def info(request: Request, node: NodeDep) -> Response:
    credential = _payer_credential(request)
    account = await node.payments.account(credential)
    return json_response({"api_key": credential, "balance": account.balance_msat, "reserved": account.reserved_msat})


async def refund(request: Request, node: NodeDep) -> Response:
    paid = await node.payments.refund(_payer_credential(request))
    return json_response({"token": paid.token, "msats": paid.msats, "fee_msats": paid.fee_msats})


for _prefix in ("/v1/balance", "/v1/wallet"):
    router.add_api_route(f"{_prefix}/create", create, methods=["POST", "GET"])
    router.add_api_route(f"{_prefix}/topup", topup, methods=["POST"])
    router.add_api_route(f"{_prefix}/info", info, methods=["GET"])
    router.add_api_route(f"{_prefix}/refund", refund, methods=["POST"])
router.add_api_route("/v1/wallet/", info, methods=["GET"], include_in_schema=False)
router.add_api_route("/v1/wallet", info, methods=["GET"], include_in_schema=False)
