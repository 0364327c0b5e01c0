"""/openapi.json describes what the node really serves, the plain Starlette paid routes included, and generating
it (and /docs) warns about nothing."""

import warnings
from typing import Any

import httpx

from app.main import create_app
from app.settings import Settings
from tests.fixtures.node import RunningNode

PAID = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages")


def schema() -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return create_app(Settings(_env_file=None)).openapi()


def _resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    found: dict[str, Any] = document
    for part in ref.removeprefix("#/").split("/"):
        found = found[part]
    return found


def test_paid_routes_are_described_with_body_auth_and_errors() -> None:
    document = schema()
    for path in PAID:
        operation = document["paths"][path]["post"]
        body = _resolve(document, operation["requestBody"]["content"]["application/json"]["schema"]["$ref"])
        assert "model" in body["required"]
        assert {"bearer", "xcashu"} == {name for option in operation["security"] for name in option}
        assert {"400", "401", "402", "422", "503"} <= set(operation["responses"])
        assert "x-routstr-request-id" in operation["responses"]["200"]["headers"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["xcashu"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Cashu",
        "description": schemes["xcashu"]["description"],
    }
    assert schemes["bearer"]["scheme"] == "bearer"


def test_balance_and_lightning_bodies_and_errors_are_documented() -> None:
    document = schema()
    topup = document["paths"]["/v1/wallet/topup"]["post"]
    invoice = document["paths"]["/v1/balance/lightning/invoice"]["post"]
    envelope = document["components"]["schemas"]["ErrorEnvelope"]

    assert "cashu_token" in topup["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert invoice["requestBody"]["content"]["application/json"]["schema"]["required"] == ["amount_sats"]
    assert topup["responses"]["422"]["content"]
    assert set(envelope["properties"]) == {"error", "request_id"}
    assert "/v1/models/{model_id}" in document["paths"]


def test_operation_ids_are_unique() -> None:
    ids = [op["operationId"] for item in schema()["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_docs_and_schema_are_served(node: RunningNode) -> None:
    docs = httpx.get(node.root + "/docs", timeout=10)
    served = httpx.get(node.root + "/openapi.json", timeout=10)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert served.json()["paths"].keys() >= set(PAID)
