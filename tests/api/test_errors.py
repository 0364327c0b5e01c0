"""Errors leave the node in OpenAI's envelope with Routstr's types and codes, one table deciding how each shows."""

import asyncio
import importlib
import pkgutil

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import app
from app.api.errors import SHOWN_AS, error_body, shown_as
from app.api.middleware import Edge
from app.cashu import errors as cashu
from app.db.database import open_database
from app.errors import InsufficientBalance, MinimumBalanceRequired, NodeError, Unauthorized
from app.ledger.service import Ledger
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode, create_key
from tests.fixtures.sdk import openai_client
from tests.payments.test_deposits import proof_states


def _every_node_error() -> set[type[NodeError]]:
    for module in pkgutil.walk_packages(app.__path__, "app."):
        if not module.name.startswith(("standin", "app.main", "app.__main__")):
            importlib.import_module(module.name)
    found: set[type[NodeError]] = set()
    pending = [NodeError]
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending.extend(cls.__subclasses__())
    return {cls for cls in found if not cls.__module__.startswith("standin")}  # the stand-in renders its own


def test_every_node_error_has_its_own_entry_in_the_table() -> None:
    missing = sorted(cls.__qualname__ for cls in _every_node_error() if cls not in SHOWN_AS)
    assert missing == []


def test_domain_errors_carry_no_http_meaning() -> None:
    for cls in _every_node_error():
        assert not {"status", "type", "code"} & set(vars(cls)), cls


@pytest.mark.parametrize(
    ("error", "status", "kind", "code"),
    [
        (cashu.TokenAlreadySpent, 400, "token_already_spent", "cashu_token_already_spent"),
        (cashu.InvalidToken, 400, "invalid_token", "invalid_cashu_token"),
        (cashu.TokenZeroValue, 400, "cashu_error", "cashu_token_zero_value"),
        (cashu.UntrustedMint, 422, "mint_error", "cashu_foreign_mint_swap_failed"),
        (cashu.SwapFeesExceedAmount, 422, "mint_error", "cashu_token_swap_fees_exceed_amount"),
        (cashu.MintUnreachable, 503, "mint_unreachable", "cashu_mint_unreachable"),
        (cashu.SwapOutcomeUnknown, 503, "mint_unreachable", "cashu_mint_unreachable"),
        (cashu.MintRejected, 400, "cashu_error", "cashu_token_redemption_failed"),
        (InsufficientBalance, 402, "insufficient_quota", "insufficient_balance"),
        (MinimumBalanceRequired, 402, "minimum_balance_required", "insufficient_balance"),
        (Unauthorized, 401, "invalid_request_error", "invalid_api_key"),
        (NodeError, 500, "api_error", "internal_error"),
    ],
)
def test_routstr_taxonomy(error: type[NodeError], status: int, kind: str, code: str) -> None:
    shown = shown_as(error())
    assert (shown.status, shown.type, shown.code) == (status, kind, code)
    assert error_body(error("why"), "rid")["error"] == {"message": "why", "type": kind, "code": code}


def test_a_finer_code_given_at_the_raise_wins() -> None:
    assert error_body(NodeError("x", code="no_balance"))["error"]["code"] == "no_balance"


def test_sdk_raises_typed_errors_carrying_routstr_types_and_the_request_id(node: RunningNode) -> None:
    poor = create_key(node, 10)
    body = {"model": "standin-small", "messages": [{"role": "user", "content": "hi"}]}

    with pytest.raises(openai.APIStatusError) as short:
        openai_client(node.url, poor).chat.completions.create(**body)  # type: ignore[call-overload]
    with pytest.raises(openai.AuthenticationError) as unknown:
        openai_client(node.url, "sk-nobody").chat.completions.create(**body)  # type: ignore[call-overload]

    assert short.value.status_code == 402 and short.value.type == "insufficient_quota"
    assert short.value.code == "insufficient_balance"
    assert short.value.response.json()["request_id"] == short.value.response.headers["x-routstr-request-id"]
    assert unknown.value.code == "invalid_api_key"


def test_every_reply_carries_one_request_id_also_routing_errors(node: RunningNode) -> None:
    replies = [
        httpx.get(f"{node.root}/v1/models", timeout=10),
        httpx.get(f"{node.root}/no/such/path", timeout=10),
        httpx.get(f"{node.root}/v1/chat/completions", timeout=10),
        httpx.post(f"{node.root}/v1/chat/completions", json={}, timeout=10),
        httpx.post(f"{node.root}/v1/balance/create", content=b"{not json", timeout=10),
    ]

    ids = [reply.headers.get_list("x-routstr-request-id") for reply in replies]
    assert all(len(found) == 1 and len(found[0]) == 24 for found in ids), ids
    assert len({found[0] for found in ids}) == len(replies)
    for reply in replies[1:]:
        assert reply.json()["request_id"] == reply.headers["x-routstr-request-id"]
    assert [r.status_code for r in replies] == [200, 404, 405, 401, 400]
    assert replies[4].json()["error"]["type"] == "invalid_request_error"


async def test_an_unexpected_exception_is_a_500_in_the_envelope_with_id_and_cors() -> None:
    async def broken(_: Request) -> Response:
        raise RuntimeError("a bug")

    middleware = [Middleware(Edge, origins=["*"])]  # as app.main composes it
    asgi = Starlette(routes=[Route("/boom", broken)], middleware=middleware)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://node") as client:
        reply = await client.get("/boom", headers={"origin": "https://chat.example"})

    assert reply.status_code == 500
    assert reply.json() == {
        "error": {"message": "internal error", "type": "api_error", "code": "internal_error"},
        "request_id": reply.headers["x-routstr-request-id"],
    }
    assert reply.headers["access-control-allow-origin"] == "*"


def test_a_paid_reply_s_request_id_is_the_one_its_charge_is_journaled_under(node: RunningNode) -> None:
    key = create_key(node, 100_000)
    body = {"model": "standin-small", "messages": [{"role": "user", "content": "hi"}]}
    reply = httpx.post(f"{node.url}/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})

    assert reply.status_code == 200 and float(reply.headers["x-routstr-cost-usd"]) > 0
    assert reply.headers.get_list("x-routstr-request-id") == [reply.headers["x-routstr-request-id"]]
    assert _journaled_request_ids(node, key) == [reply.headers["x-routstr-request-id"]]


def _journaled_request_ids(node: RunningNode, key: str) -> list[str]:
    async def read() -> list[str]:
        db = open_database(node.settings.database_url)
        try:
            ledger = Ledger(db)
            account = await ledger.find(key)
            assert account is not None
            return [e.request_id for e in await ledger.entries(account.id) if e.request_id]
        finally:
            await db.close()

    return asyncio.run(read())


def test_an_x_cashu_token_below_the_request_s_maximum_is_minimum_balance_required_and_left_untouched(
    node_factory: NodeFactory, mint: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(2))
    body = {"model": "standin-small", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5000}

    with pytest.raises(openai.APIStatusError) as short:
        openai_client(node.url, "unused", default_headers={"X-Cashu": token}).chat.completions.create(**body)  # type: ignore[call-overload]

    assert (short.value.status_code, short.value.type) == (402, "minimum_balance_required")
    assert "x-cashu" not in short.value.response.headers  # refused before redemption: the token itself is intact
    assert asyncio.run(proof_states(mint, token)) == {"UNSPENT"}
