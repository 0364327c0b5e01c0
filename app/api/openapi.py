"""The OpenAPI document: FastAPI's, plus the paid endpoints, which are plain Starlette routes (for speed) and so
invisible to FastAPI."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from app.api.deps import BEARER_SCHEME, XCASHU_SCHEME
from app.api.schemas import (
    ERROR_DESCRIPTIONS,
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    ErrorEnvelope,
    MessageRequest,
    ResponseRequest,
)

PAID_ERRORS = (400, 401, 402, 404, 413, 422, 502, 503, 504)
REF = "#/components/schemas/{model}"

_PAID = (
    ("/v1/chat/completions", ChatCompletionRequest, "Chat completion (OpenAI's API), paid per request", True),
    ("/v1/completions", CompletionRequest, "Text completion (OpenAI's API), paid per request", True),
    ("/v1/embeddings", EmbeddingRequest, "Embeddings (OpenAI's API), paid per request", False),
    ("/v1/responses", ResponseRequest, "Response (OpenAI's Responses API), paid per request", True),
    ("/v1/messages", MessageRequest, "Message (Anthropic's Messages API), paid per request", True),
)

_REPLY_HEADERS = {
    "x-routstr-request-id": "this request's id (on every reply)",
    "x-routstr-cost-msats": "what the request cost, in msat (JSON replies)",
    "x-routstr-cost-usd": "the same in USD",
    "x-routstr-input-cost-msats": "the prompt's share",
    "x-routstr-output-cost-msats": "the completion's share",
    "x-routstr-reserved-msats": "the most a stream can cost (streams are settled when they end)",
    "x-cashu": "the change of an X-Cashu payment, as a Cashu token",
}


def install_openapi(api: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = get_openapi(title=api.title, version=api.version, description=api.description, routes=api.routes)
            _add_paid_paths(schema)
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]


def _add_paid_paths(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (
        ErrorEnvelope,
        ChatCompletionRequest,
        CompletionRequest,
        EmbeddingRequest,
        ResponseRequest,
        MessageRequest,
    ):
        _add_component(components, model)
    for path, body, summary, streams in _PAID:
        schema["paths"][path] = {"post": _paid_operation(path, body, summary, streams)}


def _add_component(components: dict[str, Any], model: type[BaseModel]) -> None:
    found = model.model_json_schema(ref_template=REF)
    components.update(found.pop("$defs", {}))
    components.setdefault(model.__name__, found)


def _paid_operation(path: str, body: type[BaseModel], summary: str, streams: bool) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": {"type": "object"}}}
    if streams:
        content["text/event-stream"] = {"schema": {"type": "string"}}
    headers = {name: {"description": text, "schema": {"type": "string"}} for name, text in _REPLY_HEADERS.items()}
    return {
        "summary": summary,
        "operationId": "post" + path.replace("/", "_"),
        "tags": ["paid"],
        "description": "Also served without the `/v1` prefix. Pay with a Bearer API key or Cashu token, or with an "
        "`X-Cashu` token for this one request (its change comes back in the `X-Cashu` reply header).",
        "security": [{BEARER_SCHEME: []}, {XCASHU_SCHEME: []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(body)}}},
        "responses": {
            "200": {"description": "the upstream's reply, metered", "headers": headers, "content": content},
            **{str(status): _error_response(ERROR_DESCRIPTIONS[status]) for status in PAID_ERRORS},
        },
    }  # fmt: skip


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(ErrorEnvelope)}}}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}
