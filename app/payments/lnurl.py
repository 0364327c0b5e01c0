"""Lightning addresses (LUD-16) resolved to an invoice over LNURL-pay (LUD-06): `user@host` ->
GET https://host/.well-known/lnurlp/user -> {"tag": "payRequest", "callback", "minSendable", "maxSendable"} ->
GET callback?amount=<msat> -> {"pr": bolt11}. The invoice must ask exactly the amount requested.

Plain http only for a loopback host (127.0.0.1, ::1, localhost), and loopback or private hosts only when the operator
allows them (ALLOW_PRIVATE_URLS): the address is the user's choice (app.payments.outbound)."""

import re
from typing import Any

import httpx

from app.bolt11 import bolt11_amount_msat
from app.errors import BadRequest, NodeError
from app.payments.outbound import outbound_url_refusal

LNURL_TIMEOUT_S = 10.0
_USER = re.compile(r"^[a-z0-9._+-]+$")
_HOST = re.compile(r"^(\[[0-9a-f:]+\]|[a-z0-9.-]+)(:\d{1,5})?$")
_LOOPBACK = {"127.0.0.1", "localhost", "[::1]"}


class InvalidLightningAddress(BadRequest):
    default_message = "a Lightning address looks like user@host"


class LightningAddressFailed(NodeError):
    """The address's service did not give a usable invoice (unreachable, refused, or a wrong amount)."""

    default_message = "the Lightning address did not give an invoice to pay"


def lnurlp_url(address: str) -> str:
    """The LNURL-pay endpoint of a Lightning address; InvalidLightningAddress for anything else."""
    user, at, host = address.strip().lower().partition("@")
    if not at or not _USER.match(user) or not _HOST.match(host):
        raise InvalidLightningAddress(param="lightning_address")
    scheme = "http" if host.rsplit(":", 1)[0] in _LOOPBACK or host.startswith("[::1]") else "https"
    return f"{scheme}://{host}/.well-known/lnurlp/{user}"


async def invoice_for_address(
    http: httpx.AsyncClient, address: str, amount_msat: int, *, allow_private: bool = False
) -> str:
    """A bolt11 invoice of exactly `amount_msat` from the address's LNURL-pay service. The address and the callback
    it gives are chosen by the user: they are called only where app.payments.outbound allows."""
    pay_request = await _get_json(http, lnurlp_url(address), {}, allow_private)
    if pay_request.get("tag") != "payRequest" or not isinstance(pay_request.get("callback"), str):
        raise LightningAddressFailed("the Lightning address is not an LNURL-pay service")
    low, high = _sendable(pay_request)
    if not low <= amount_msat <= high:
        raise LightningAddressFailed(
            f"the Lightning address takes {low} to {high} msat, not {amount_msat}", min_msat=low, max_msat=high
        )
    answer = await _get_json(http, pay_request["callback"], {"amount": str(amount_msat)}, allow_private)
    invoice = answer.get("pr")
    if not isinstance(invoice, str) or bolt11_amount_msat(invoice) != amount_msat:
        raise LightningAddressFailed("the Lightning address gave no invoice for the amount asked")
    return invoice


async def _get_json(http: httpx.AsyncClient, url: str, params: dict[str, str], allow_private: bool) -> dict[str, Any]:
    refusal = outbound_url_refusal(url, allow_private=allow_private)
    if refusal is not None:
        raise LightningAddressFailed(f"the Lightning address's service is not called by this node: {refusal}")
    try:
        response = await http.get(url, params=params, timeout=LNURL_TIMEOUT_S, follow_redirects=False)
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise LightningAddressFailed(f"the Lightning address's service failed: {type(exc).__name__}") from exc
    if not isinstance(data, dict) or not response.is_success or data.get("status") == "ERROR":
        reason = data.get("reason") if isinstance(data, dict) else None
        raise LightningAddressFailed(f"the Lightning address refused: {str(reason or response.status_code)[:200]}")
    return data


def _sendable(pay_request: dict[str, Any]) -> tuple[int, int]:
    low, high = pay_request.get("minSendable"), pay_request.get("maxSendable")
    if not isinstance(low, int) or not isinstance(high, int) or isinstance(low, bool) or isinstance(high, bool):
        raise LightningAddressFailed("the Lightning address's service gave no amounts it accepts")
    return low, high
