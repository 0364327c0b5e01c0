"""Lightning top-up: an invoice from the node's mint (NUT-04), and its status, which credits the key once paid.
Served under /v1/balance/lightning/* and the /v1/wallet/lightning/* aliases."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from app.api.deps import NodeDep, OptionalApiKey
from app.api.responses import json_response
from app.api.schemas import InvoiceReply, InvoiceRequest, body_schema, error_responses, json_body
from app.payments.lightning import Invoice, InvoiceStatus

MAX_INVOICE_BODY = 4 * 1024
InvoiceIn = Annotated[InvoiceRequest, Depends(json_body(InvoiceRequest, MAX_INVOICE_BODY))]

router = APIRouter(tags=["lightning"])


def _topup_key(bearer: str | None, body: InvoiceRequest) -> str | None:
    """The key to top up: the Bearer key, or Routstr's older `api_key` body field."""
    return bearer or (body.api_key or "").strip() or None


def _invoice_json(invoice: Invoice) -> dict[str, Any]:
    return {"invoice_id": invoice.invoice_id, "bolt11": invoice.bolt11, "amount_sats": invoice.amount_sat,
            "expires_at": invoice.expires_at, "status": invoice.state.value, "payment_hash": invoice.payment_hash,
            "created_at": invoice.created_at, "paid_at": invoice.paid_at}  # fmt: skip


def _status_json(status: InvoiceStatus) -> dict[str, Any]:
    body = _invoice_json(status.invoice)
    if status.account is not None:
        body |= {"balance": status.account.balance_msat, "msats": status.credited_msat}
    if status.api_key is not None:
        body["api_key"] = status.api_key
    return body


async def create_invoice(node: NodeDep, bearer: OptionalApiKey, body: InvoiceIn) -> Response:
    credential = _topup_key(bearer, body)
    invoice = await node.lightning.create_invoice(body.amount_sats, body.purpose, credential)
    return json_response(_invoice_json(invoice))


async def invoice_status(invoice_id: str, node: NodeDep) -> Response:
    return json_response(_status_json(await node.lightning.status(invoice_id)))


for _prefix in ("/v1/balance/lightning", "/v1/wallet/lightning", "/lightning"):  # the last is Routstr's own
    router.add_api_route(
        f"{_prefix}/invoice", create_invoice, methods=["POST"], response_model=InvoiceReply,
        responses=error_responses((400, 401, 413, 502, 503)), openapi_extra=body_schema(InvoiceRequest),
    )  # fmt: skip
    router.add_api_route(
        f"{_prefix}/invoice/{{invoice_id}}/status", invoice_status, methods=["GET"], response_model=InvoiceReply,
        responses=error_responses((400, 404, 502, 503)),
    )  # fmt: skip
