"""Wire shapes at the edge: request bodies parsed once into these models, and the documented reply shapes."""

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from app.api.requests import read_body

Body = TypeVar("Body", bound=BaseModel)


class ErrorObject(BaseModel):
    model_config = ConfigDict(extra="allow")
    message: str
    type: str = Field(description="Routstr's error type, e.g. `insufficient_quota` or `mint_unreachable`")
    code: str


class ErrorEnvelope(BaseModel):
    error: ErrorObject
    request_id: str | None = Field(None, description="also in the `x-routstr-request-id` header")


class TokenBody(BaseModel):
    """A Cashu token; Routstr's clients name the field in any of these ways."""

    cashu_token: str | None = None
    initial_balance_token: str | None = None
    token: str | None = None

    def first_token(self) -> str | None:
        return next((t.strip() for t in (self.cashu_token, self.initial_balance_token, self.token) if t), None)


class CreatedKey(BaseModel):
    api_key: str
    balance: int = Field(description="msat")
    key_hash: str


class ToppedUp(BaseModel):
    msats: int = Field(description="msat credited (after the mint's fee)")
    balance: int = Field(description="msat")


class BalanceInfo(BaseModel):
    api_key: str
    balance: int = Field(description="msat")
    reserved: int = Field(description="msat held by requests in flight")


class Refunded(BaseModel):
    token: str | None = Field(None, description="a cashuB token (absent when paid to a Lightning address)")
    msats: int = Field(description="what the token is worth, or what the Lightning address received")
    fee_msats: int
    recipient: str | None = Field(None, description="the Lightning address paid")
    returned_msats: int | None = Field(None, description="the unused Lightning fee reserve, credited back to the key")
    payment_preimage: str | None = None


class RefundBody(BaseModel):
    lightning_address: str | None = Field(None, description="pay the balance to this address (LNURL-pay) instead")


class InvoiceRequest(BaseModel):
    amount_sats: StrictInt = Field(gt=0)
    purpose: Literal["create", "topup"] = "create"
    api_key: str | None = Field(None, description="the key to top up, when no `Authorization` header is sent")


class InvoiceReply(BaseModel):
    invoice_id: str
    bolt11: str
    amount_sats: int
    expires_at: int | None
    status: str
    balance: int | None = Field(None, description="msat, once paid and credited")
    msats: int | None = None
    api_key: str | None = Field(None, description="the new key, once a `create` invoice is paid")
    payment_hash: str | None = None
    created_at: int | None = None
    paid_at: int | None = Field(None, description="when the node found the invoice paid and credited it")


class ModelPricing(BaseModel):
    prompt: float = Field(description="per token")
    completion: float = Field(description="per token")
    request: float
    max_prompt_cost: float
    max_completion_cost: float
    max_cost: float = Field(description="the most one request can cost; clients deposit at least this")


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(description="may contain `/`, e.g. `openai/gpt-4o`")
    object: Literal["model"]
    created: int
    owned_by: str
    name: str
    context_length: int | None = None
    pricing: ModelPricing = Field(description="USD")
    sats_pricing: ModelPricing = Field(description="sats")
    architecture: dict[str, Any] | None = None
    top_provider: dict[str, Any] | None = None
    per_request_limits: dict[str, Any] | None = None


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelEntry]


class NodeInfo(BaseModel):
    name: str
    description: str
    version: str
    npub: str
    mints: list[str]
    http_url: str
    onion_url: str
    models: int
    nostr: dict[str, Any]


def json_body(model: type[Body], limit: int) -> Callable[[Request], Awaitable[Body]]:
    """A dependency parsing a size-limited JSON body into `model` (an empty body is `{}`)."""

    async def parse(request: Request) -> Body:
        raw = await read_body(request, limit)
        try:
            return model.model_validate_json(raw if raw.strip() else b"{}")
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from exc

    return parse


def body_schema(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    """`openapi_extra` documenting a body that `json_body` parses."""
    schema = {"schema": model.model_json_schema()}
    return {"requestBody": {"required": required, "content": {"application/json": schema}}}


def error_responses(statuses: Iterable[int]) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorEnvelope, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}


ERROR_DESCRIPTIONS = {
    400: "invalid request, or a Cashu token that cannot be redeemed",
    401: "missing or unknown API key",
    402: "balance too low for this request (`insufficient_quota` / `minimum_balance_required`)",
    404: "not found",
    425: "a request paid with this X-Cashu token is still running: ask again after `Retry-After` seconds",
    413: "request body too large",
    422: "the mint refused the token (`mint_error`): fees exceed its value, or the mint is not accepted here",
    500: "internal error",
    502: "the upstream or the mint failed",
    503: "the mint is unreachable (`mint_unreachable`, retry) or the node's wallet is short",
    504: "the upstream timed out",
}


class ChatCompletionRequest(BaseModel):
    """What the node reads of a chat request; every other OpenAI field goes upstream untouched."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(description="a model id from `GET /v1/models`")
    messages: list[dict[str, Any]]
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    max_tokens: int | None = Field(None, ge=0, description="the reservation covers this many completion tokens")
    max_completion_tokens: int | None = Field(None, ge=0)


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    prompt: str | list[str]
    stream: bool = False
    max_tokens: int | None = Field(None, ge=0)


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    input: str | list[str]


class ResponseRequest(BaseModel):
    """What the node reads of a Responses API request; every other OpenAI field goes upstream untouched."""

    model_config = ConfigDict(extra="allow")
    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    stream: bool = False
    max_output_tokens: int | None = Field(None, ge=0, description="the reservation covers this many output tokens")


class MessageRequest(BaseModel):
    """What the node reads of an Anthropic Messages API request; every other field goes upstream untouched."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[dict[str, Any]]
    max_tokens: int = Field(ge=1, description="required, as Anthropic requires it; the reservation covers it")
    stream: bool = False
