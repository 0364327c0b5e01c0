"""CORS as browsers check it: preflights for every public path (the plain Starlette paid routes too), and the
headers a page may read."""

import httpx

from app.api.middleware import EXPOSED_HEADERS
from tests.fixtures.node import NodeFactory, RunningNode

ROUTSTR_EXPOSED = {
    "x-routstr-request-id",
    "x-cashu",
    "x-routstr-cost-msats",
    "x-routstr-cost-usd",
    "x-routstr-input-cost-msats",
    "x-routstr-output-cost-msats",
    "x-routstr-reserved-msats",
}
PUBLIC = [
    ("POST", "/v1/chat/completions"),
    ("POST", "/chat/completions"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/embeddings"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/openai/gpt-4o"),
    ("GET", "/v1/info"),
    ("POST", "/v1/balance/create"),
    ("POST", "/v1/wallet/topup"),
    ("GET", "/v1/wallet/info"),
    ("POST", "/v1/wallet/refund"),
    ("POST", "/v1/balance/lightning/invoice"),
]


def preflight(node: RunningNode, method: str, path: str, origin: str) -> httpx.Response:
    headers = {
        "origin": origin,
        "access-control-request-method": method,
        "access-control-request-headers": "authorization, content-type, x-cashu",
    }
    return httpx.options(node.root + path, headers=headers, timeout=10)


def test_every_public_endpoint_answers_a_preflight(node: RunningNode) -> None:
    for method, path in PUBLIC:
        reply = preflight(node, method, path, "https://chat.routstr.com")
        assert reply.status_code == 204, (path, reply.status_code)
        assert reply.headers["access-control-allow-origin"] == "*"
        assert method in reply.headers["access-control-allow-methods"]
        assert reply.headers["access-control-allow-headers"] == "authorization, content-type, x-cashu"
        assert "access-control-allow-credentials" not in reply.headers


def test_replies_to_a_page_name_every_header_it_may_read(node: RunningNode) -> None:
    reply = httpx.get(node.root + "/v1/models", headers={"origin": "https://chat.routstr.com"}, timeout=10)
    refused = httpx.post(node.root + "/v1/chat/completions", json={}, headers={"origin": "https://x.example"})

    for answer in (reply, refused):
        exposed = {h.strip() for h in answer.headers["access-control-expose-headers"].split(",")}
        assert exposed >= ROUTSTR_EXPOSED and set(EXPOSED_HEADERS) == exposed
        assert answer.headers["access-control-allow-origin"] == "*"
    assert refused.status_code == 401


def test_no_origin_no_cors_headers(node: RunningNode) -> None:
    reply = httpx.get(node.root + "/v1/models", timeout=10)
    assert not [h for h in reply.headers if h.startswith("access-control-")]


def test_configured_origins_are_echoed_and_others_get_nothing(node_factory: NodeFactory) -> None:
    node = node_factory(cors_origins="https://chat.routstr.com, http://localhost:3000")

    allowed = preflight(node, "POST", "/v1/chat/completions", "http://localhost:3000")
    other = preflight(node, "POST", "/v1/chat/completions", "https://evil.example")
    page = httpx.get(node.root + "/v1/models", headers={"origin": "https://chat.routstr.com"}, timeout=10)

    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert allowed.headers["vary"] == "Origin"
    assert "access-control-allow-origin" not in other.headers
    assert page.headers["access-control-allow-origin"] == "https://chat.routstr.com"
