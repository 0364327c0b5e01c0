"""One mint's HTTP API (NUT-01..09) over a shared httpx client. Mint and transport errors are mapped here, once."""

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from app.cashu.errors import (
    CashuError,
    InvalidToken,
    KeysetUnknown,
    MintRejected,
    MintUnreachable,
    ProofsPending,
    SwapOutcomeUnknown,
    TokenAlreadySpent,
    TransactionUnbalanced,
)
from app.cashu.keysets import Keyset, KeysetInfo
from app.cashu.messages import BlindedMessage, BlindSignature, MeltQuote, MintQuote, ProofStateEntry
from app.cashu.tokens import Proof, normalize_mint_url

# Mint error codes (NUT errors, as nutshell numbers them) with a specific meaning for the node.
_ERRORS_BY_MINT_CODE: Mapping[int, type[CashuError]] = {
    10001: InvalidToken,
    # 11000 is not here: nutshell answers it for any transaction error, most of them about the inputs a sender
    # chose (a witness without a spending condition, a bad amount, a secret out of criteria): a MintRejected.
    11001: TokenAlreadySpent,
    11002: ProofsPending,
    11005: TransactionUnbalanced,
    12001: KeysetUnknown,
}
# Failures that prove the request never reached the mint, so a state-changing call did not happen.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_KEYSETS_TTL_S = 60.0
_MAX_DETAIL_CHARS = 300  # a mint's explanation, passed on to the user; not a channel for pages of text
_TRY_AGAIN = (408, 429)  # client errors that say "not now", not "never"

T = TypeVar("T")


class MintClient:
    """Talks to one mint. The httpx client is owned by the caller (one per process, keep-alive)."""

    def __init__(self, http: httpx.AsyncClient, url: str, *, timeout_s: float = 15.0) -> None:
        self.url = url.strip().rstrip("/")
        self.normalized_url = normalize_mint_url(url)
        self._http = http
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0))
        self._keys: dict[str, Keyset] = {}
        self._keysets: tuple[float, tuple[KeysetInfo, ...]] | None = None

    async def info(self) -> dict[str, Any]:
        return await self._get("/v1/info")

    async def keysets(self, *, refresh: bool = False) -> tuple[KeysetInfo, ...]:
        """The mint's keysets; cached briefly because a fee or active flag may change."""
        now = time.monotonic()
        if not refresh and self._keysets is not None and now - self._keysets[0] < _KEYSETS_TTL_S:
            return self._keysets[1]
        data = await self._get("/v1/keysets")
        keysets = tuple(KeysetInfo.from_wire(item) for item in data["keysets"])
        self._keysets = (now, keysets)
        return keysets

    async def keys(self, keyset_id: str) -> Keyset:
        """Public keys of one keyset; cached for good, a keyset's keys never change."""
        if keyset_id not in self._keys:
            data = await self._get(f"/v1/keys/{keyset_id}")
            matching = [Keyset.from_wire(item) for item in data["keysets"] if item["id"] == keyset_id]
            if not matching:
                raise KeysetUnknown(f"the mint did not return keyset {keyset_id}")
            self._keys[keyset_id] = matching[0]
        return self._keys[keyset_id]

    async def swap(self, inputs: Sequence[Proof], outputs: Sequence[BlindedMessage]) -> list[BlindSignature]:
        """NUT-03. No answer raises SwapOutcomeUnknown: settle with checkstate and restore."""
        body = {"inputs": [p.to_wire() for p in inputs], "outputs": [o.to_wire() for o in outputs]}
        data = await self._post_changing("/v1/swap", body)
        return _signatures(data, "signatures")

    async def mint_quote(self, amount: int, unit: str = "sat") -> MintQuote:
        data = await self._post("/v1/mint/quote/bolt11", {"amount": amount, "unit": unit})
        return _parsed(MintQuote.from_wire, data)

    async def mint_quote_status(self, quote_id: str) -> MintQuote:
        return _parsed(MintQuote.from_wire, await self._get(f"/v1/mint/quote/bolt11/{quote_id}"))

    async def mint(self, quote_id: str, outputs: Sequence[BlindedMessage]) -> list[BlindSignature]:
        """NUT-04. No answer raises SwapOutcomeUnknown: the outputs may be signed, restore them."""
        body = {"quote": quote_id, "outputs": [o.to_wire() for o in outputs]}
        return _signatures(await self._post_changing("/v1/mint/bolt11", body), "signatures")

    async def melt_quote(self, request: str, unit: str = "sat") -> MeltQuote:
        data = await self._post("/v1/melt/quote/bolt11", {"request": request, "unit": unit})
        return _parsed(MeltQuote.from_wire, data)

    async def melt_quote_status(self, quote_id: str) -> MeltQuote:
        return _parsed(MeltQuote.from_wire, await self._get(f"/v1/melt/quote/bolt11/{quote_id}"))

    async def melt(self, quote_id: str, inputs: Sequence[Proof], outputs: Sequence[BlindedMessage] = ()) -> MeltQuote:
        """NUT-05 (blank `outputs` receive fee change, NUT-08). No answer raises SwapOutcomeUnknown."""
        body: dict[str, Any] = {"quote": quote_id, "inputs": [p.to_wire() for p in inputs]}
        if outputs:
            body["outputs"] = [o.to_wire() for o in outputs]
        return _parsed(MeltQuote.from_wire, await self._post_changing("/v1/melt/bolt11", body))

    async def checkstate(self, ys: Sequence[str]) -> list[ProofStateEntry]:
        """NUT-07 states of proofs by Y = hash_to_curve(secret), in the order asked."""
        data = await self._post("/v1/checkstate", {"Ys": list(ys)})
        return _parsed(lambda d: [ProofStateEntry.from_wire(item) for item in d["states"]], data)

    async def restore(self, outputs: Sequence[BlindedMessage]) -> list[tuple[BlindedMessage, BlindSignature]]:
        """NUT-09: the signatures the mint already issued for any of `outputs`, paired with their output."""
        data = await self._post("/v1/restore", {"outputs": [o.to_wire() for o in outputs]})
        return _parsed(_restored_pairs, data)

    async def _get(self, path: str) -> dict[str, Any]:
        return await self._read_only(self._http.get(self.url + path, timeout=self._timeout))

    async def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self._read_only(self._http.post(self.url + path, json=body, timeout=self._timeout))

    async def _read_only(self, sending: Awaitable[httpx.Response]) -> dict[str, Any]:
        """A request that changes nothing at the mint: any transport failure is simply "unreachable"."""
        try:
            response = await sending
        except httpx.HTTPError as exc:
            raise MintUnreachable(f"mint {self.url} unreachable: {type(exc).__name__}") from exc
        return _json_or_raise(response)

    async def _post_changing(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a request that spends or issues ecash: anything but a clear answer has an unknown outcome."""
        try:
            response = await self._http.post(self.url + path, json=body, timeout=self._timeout)
        except _NOT_SENT as exc:
            raise MintUnreachable(f"mint {self.url} unreachable: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise SwapOutcomeUnknown(f"mint {self.url} gave no answer: {type(exc).__name__}") from exc
        try:
            return _json_or_raise(response)
        except MintUnreachable as exc:
            if response.is_client_error:
                raise  # refused before any work (a 404, 413 or 429 from the mint or a proxy): nothing changed
            raise SwapOutcomeUnknown(f"mint {self.url} gave no usable answer") from exc


def _json_or_raise(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object; a refusal the mint explains (a NUT error code, or a 4xx with a detail) is a definite
    CashuError; anything else is MintUnreachable (the caller knows whether that leaves an outcome unknown)."""
    data = _json_object(response)
    if response.is_success and data is not None:
        return data
    if data is not None and _is_mint_code(data.get("code")):
        raise _mint_error(data["code"], _detail(data))
    if response.is_client_error and response.status_code not in _TRY_AGAIN and data is not None and "detail" in data:
        # a definite refusal without a NUT code (nutshell's 422: a request its framework did not accept)
        raise MintRejected(f"mint refused the request (HTTP {response.status_code})")
    raise MintUnreachable(f"mint answered HTTP {response.status_code}")


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _is_mint_code(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _detail(data: Mapping[str, Any]) -> str:
    detail = data.get("detail")
    return detail[:_MAX_DETAIL_CHARS] if isinstance(detail, str) else ""


def _mint_error(code: int, detail: str) -> CashuError:
    error_class = _ERRORS_BY_MINT_CODE.get(code, MintRejected)
    message = f"mint error {code}: {detail}" if detail else None
    if issubclass(error_class, MintRejected):
        return error_class(message, mint_code=code)
    return error_class(message)


def _parsed(parse: Callable[[dict[str, Any]], T], data: dict[str, Any]) -> T:
    try:
        return parse(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise MintUnreachable("the mint's answer is malformed") from exc


def _signatures(data: dict[str, Any], key: str) -> list[BlindSignature]:
    try:
        return [BlindSignature.from_wire(item) for item in data[key]]
    except (KeyError, TypeError, ValueError) as exc:
        raise SwapOutcomeUnknown("the mint's signatures are malformed") from exc


def _restored_pairs(data: dict[str, Any]) -> list[tuple[BlindedMessage, BlindSignature]]:
    signatures = data["signatures"] if "signatures" in data else data["promises"]
    outputs = [BlindedMessage.from_wire(item) for item in data["outputs"]]
    return list(zip(outputs, [BlindSignature.from_wire(item) for item in signatures], strict=True))
