"""Lightning top-up: an invoice from the node's mint (NUT-04), and its status, which credits the key once paid.
Served under /v1/balance/lightning/* and the /v1/wallet/lightning/* aliases."""

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.deps import NodeDep
from app.api.requests import bearer_credential, read_body
from app.api.responses import json_response
from app.errors import BadRequest
from app.payments.lightning import Invoice, InvoiceStatus

router = APIRouter()

MAX_INVOICE_BODY = 4 * 1024


async def _json_object(request: Request) -> dict[str, Any]:
    body = await read_body(request, MAX_INVOICE_BODY)
    try:
        payload = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise BadRequest("request body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise BadRequest("request body must be a JSON object")
    return payload


def _topup_credential(request: Request, payload: dict[str, Any]) -> str | None:
    """The key to top up: the Bearer key, or Routstr's older `api_key` body field."""
    if payload.get("purpose") != "topup":
        return None
    named = payload.get("api_key")
    if "authorization" not in request.headers and isinstance(named, str) and named.strip():
        return named.strip()
    return bearer_credential(request)


def _invoice_json(invoice: Invoice) -> dict[str, Any]:
    return {"invoice_id": invoice.invoice_id, "bolt11": invoice.bolt11, "amount_sats": invoice.amount_sat,
            "expires_at": invoice.expires_at, "status": invoice.state.value}  # fmt: skip


def _status_json(status: InvoiceStatus) -> dict[str, Any]:
    body = _invoice_json(status.invoice)
    if status.account is not None:
        body |= {"balance": status.account.balance_msat, "msats": status.credited_msat}
    if status.api_key is not None:
        body["api_key"] = status.api_key
    return body


async def create_invoice(request: Request, node: NodeDep) -> Response:
    payload = await _json_object(request)
    purpose = payload.get("purpose", "create")
    credential = _topup_credential(request, payload)
    invoice = await node.lightning.create_invoice(payload.get("amount_sats"), purpose, credential)
    return json_response(_invoice_json(invoice))


async def invoice_status(invoice_id: str, node: NodeDep) -> Response:
    return json_response(_status_json(await node.lightning.status(invoice_id)))


for _prefix in ("/v1/balance/lightning", "/v1/wallet/lightning"):
    router.add_api_route(f"{_prefix}/invoice", create_invoice, methods=["POST"])
    router.add_api_route(f"{_prefix}/invoice/{{invoice_id}}/status", invoice_status, methods=["GET"])
