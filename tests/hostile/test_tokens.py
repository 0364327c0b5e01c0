"""Hostile Cashu tokens against a running node on both databases: they are refused with 400 fast, nothing is
journaled for them, and a mint's explained refusal ends a deposit as failed (never "planned", never a 503).

The helpers here (entry points, the journal, NUT-07 states) serve the fuzzer in test_tokens_fuzz.py too."""

import asyncio
import base64
import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import cbor2
import httpx
import pytest
from sqlalchemy import select

from app.cashu.client import MintClient
from app.cashu.messages import ProofState
from app.cashu.outputs import proof_y
from app.cashu.tokens import Proof, decode_token, encode_token_v3, encode_token_v4
from app.db.database import open_database
from app.db.tables import cashu_operations
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode, create_key
from tests.payments.helpers import books

CHAT = {"model": "standin-small", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
ENTRY_POINTS = ("create", "topup", "bearer", "x-cashu")
FAST_S = 2.0  # main took 8-26 s to answer the 2^12000 token; a refusal before any work takes milliseconds


def send(http: httpx.Client, node: RunningNode, entry: str, token: str, key: str) -> httpx.Response:
    """One token into one of the node's four ways of taking ecash."""
    return http.post(**request_for(node, entry, token, key))


def request_for(node: RunningNode, entry: str, token: str, key: str) -> dict[str, Any]:
    """The POST that hands `token` to the node through `entry` (`key` pays for top-ups)."""
    if entry == "create":
        return {"url": node.url + "/balance/create", "json": {"cashu_token": token}}
    if entry == "topup":
        return {"url": node.url + "/balance/topup", "json": {"cashu_token": token}, "headers": _bearer(key)}
    if entry == "bearer":
        return {"url": node.url + "/chat/completions", "json": CHAT, "headers": _bearer(token)}
    return {"url": node.url + "/chat/completions", "json": CHAT, "headers": {"x-cashu": _header_bytes(token)}}


def _bearer(credential: str) -> dict[str, bytes]:
    return {"authorization": b"Bearer " + _header_bytes(credential)}


def _header_bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")  # as a hostile client sends it, not as httpx would refuse it


def journal(node: RunningNode) -> list[dict[str, Any]]:
    """Every operation the node journaled with a mint: kind, state, error, mint and the plan's size and JSON."""
    columns = (cashu_operations.c.kind, cashu_operations.c.state, cashu_operations.c.error,
               cashu_operations.c.mint_url, cashu_operations.c.plan)  # fmt: skip

    async def read() -> list[dict[str, Any]]:
        db = open_database(node.settings.database_url)
        try:
            rows = await db.run(lambda conn: conn.execute(select(*columns)).all())
        finally:
            await db.close()
        return [{**row._asdict(), "plan_bytes": len(row.plan or "")} for row in rows]

    return asyncio.run(read())


def proof_states(mint_url: str, proofs: list[Proof]) -> list[ProofState]:
    async def check() -> list[ProofState]:
        async with httpx.AsyncClient() as http:
            states = await MintClient(http, mint_url).checkstate([proof_y(p) for p in proofs])
        return [entry.state for entry in states]

    return asyncio.run(check())


def with_amount(token_text: str, amount: int) -> str:
    """A real token whose first proof claims `amount` (cashuB; a huge amount becomes a CBOR bignum)."""
    token = decode_token(token_text)
    return encode_token_v4(token.with_proofs([replace(token.proofs[0], amount=amount)]))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
def ready(node_factory: NodeFactory, mint: RunningMint) -> tuple[RunningNode, str]:
    """A node trusting the test mint, and a funded API key for top-ups."""
    node = node_factory(cashu_mints=[mint.url])
    return node, create_key(node, 1_000)


@pytest.mark.parametrize("bits", [12_000, 200_000])
def test_a_token_claiming_a_huge_amount_is_refused_fast_and_nothing_is_journaled(
    ready: tuple[RunningNode, str], mint: RunningMint, bits: int
) -> None:
    node, key = ready
    real = asyncio.run(mint.make_token(4))
    huge = with_amount(real, 2**bits - 1)
    entries = ENTRY_POINTS if len(huge) < 8_000 else ("create", "topup")  # a 33 KB header is not a header

    with httpx.Client(timeout=60) as http:
        for entry in entries:
            started = time.perf_counter()
            response = send(http, node, entry, huge, key)
            elapsed = time.perf_counter() - started

            assert response.status_code == 400, (entry, response.text)
            assert response.json()["error"]["code"] == "invalid_cashu_token"
            assert elapsed < FAST_S, f"{entry}: {elapsed:.1f} s"
    assert journal(node) == []
    assert proof_states(mint.url, list(decode_token(real).proofs)) == [ProofState.UNSPENT]


def test_a_proof_that_is_no_denomination_of_its_keyset_is_refused_before_the_journal(
    ready: tuple[RunningNode, str], mint: RunningMint
) -> None:
    node, _ = ready
    real = asyncio.run(mint.make_token(4))

    with httpx.Client(timeout=30) as http:
        refused = send(http, node, "create", with_amount(real, 3), "")

    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_cashu_token")
    assert journal(node) == []


@pytest.mark.parametrize(
    "token",
    [
        "cashuA" + _b64(b"[" * 5_000 + b"]" * 5_000),  # Python's json recurses: 1,000 levels raise RecursionError
        "cashuA" + _b64(b'{"token":' * 1_200 + b"1" + b"}" * 1_200),
        "cashuB" + _b64(b"\x81" * 10_000 + b"\x00"),
    ],
    ids=["cashuA-arrays", "cashuA-objects", "cashuB-arrays"],
)
def test_deeply_nested_tokens_are_refused_at_every_entry_point(ready: tuple[RunningNode, str], token: str) -> None:
    node, key = ready

    with httpx.Client(timeout=30) as http:
        statuses = {entry: send(http, node, entry, token, key).status_code for entry in ENTRY_POINTS}

    assert statuses == dict.fromkeys(ENTRY_POINTS, 400)
    assert journal(node) == []


@pytest.mark.parametrize("mint_url", ["http://[::1", "http://[::1]:99999", "http://", "ftp://mint", "http://:0"])
def test_tokens_naming_a_malformed_mint_are_refused_at_every_entry_point(
    ready: tuple[RunningNode, str], mint: RunningMint, mint_url: str
) -> None:
    node, key = ready
    real = decode_token(asyncio.run(mint.make_token(2)))
    tokens = [encode_token_v4(replace(real, mint=mint_url)), encode_token_v3(replace(real, mint=mint_url))]

    with httpx.Client(timeout=30) as http:
        answers = [(entry, send(http, node, entry, token, key)) for token in tokens for entry in ENTRY_POINTS]

    assert [(entry, r.status_code, r.json()["error"]["code"]) for entry, r in answers] == [
        (entry, 400, "invalid_cashu_token") for _ in tokens for entry in ENTRY_POINTS
    ]
    assert journal(node) == []


class _RefusingFront:
    """An HTTP front for a real mint that passes everything on, except that it mangles the body of every swap so
    the mint's own request validation refuses it (nutshell: 422 with a FastAPI `detail`, no NUT code)."""

    def __init__(self, mint_url: str) -> None:
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                front.relay(self, None)

            def do_POST(self) -> None:
                front.relay(self, self.rfile.read(int(self.headers.get("content-length", 0))))

            def log_message(self, *_: Any) -> None:
                pass

        self._mint_url = mint_url
        self._http = httpx.Client(timeout=30)
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.swaps_refused = 0
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def relay(self, handler: http.server.BaseHTTPRequestHandler, body: bytes | None) -> None:
        if handler.path == "/v1/swap" and body is not None:
            body = json.dumps({**json.loads(body), "outputs": "mangled"}).encode()
            self.swaps_refused += 1
        answer = self._http.request(
            handler.command, self._mint_url + handler.path, content=body, headers={"content-type": "application/json"}
        )
        handler.send_response(answer.status_code)
        handler.send_header("content-type", answer.headers.get("content-type", "application/json"))
        handler.send_header("content-length", str(len(answer.content)))
        handler.end_headers()
        handler.wfile.write(answer.content)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()


@pytest.fixture
def refusing_front(mint: RunningMint) -> Iterator[_RefusingFront]:
    front = _RefusingFront(mint.url)
    yield front
    front.close()


def test_a_mint_refusing_the_swap_with_422_ends_the_deposit_as_failed(
    node_factory: NodeFactory, mint: RunningMint, refusing_front: _RefusingFront
) -> None:
    node = node_factory(cashu_mints=[refusing_front.url])
    real = decode_token(asyncio.run(mint.make_token(8)))
    token = encode_token_v4(replace(real, mint=refusing_front.url))

    with httpx.Client(timeout=30) as http:
        refused = send(http, node, "create", token, "")
        again = send(http, node, "create", token, "")

    assert refusing_front.swaps_refused == 1  # the retry is answered from the journal
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "cashu_token_redemption_failed")
    assert again.status_code == 400
    assert [(op["kind"], op["state"]) for op in journal(node)] == [("deposit", "failed")]
    report = books(node)
    assert (report.open_operations, report.deposited_msat, report.reconciles) == (0, 0, True)
    assert proof_states(mint.url, list(real.proofs)) == [ProofState.UNSPENT]


def test_a_mint_refusing_with_a_nut_code_ends_the_deposit_as_failed(
    ready: tuple[RunningNode, str], mint: RunningMint
) -> None:
    node, _ = ready
    real = decode_token(asyncio.run(mint.make_token(8)))
    other = decode_token(asyncio.run(mint.make_token(8)))
    forged = encode_token_v4(real.with_proofs([replace(real.proofs[0], C=other.proofs[0].C)]))  # a valid point

    with httpx.Client(timeout=30) as http:
        refused = send(http, node, "create", forged, "")

    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_cashu_token")
    assert [(op["kind"], op["state"]) for op in journal(node)] == [("deposit", "failed")]
    assert books(node).open_operations == 0


def test_a_token_above_the_limits_is_refused_and_the_limits_are_settings(
    node_factory: NodeFactory, mint: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url], max_token_sat=16, max_token_proofs=3)
    too_rich = asyncio.run(mint.make_token(17))
    too_many = asyncio.run(mint.make_token(4, proofs=4))
    fine = asyncio.run(mint.make_token(16, proofs=3))

    with httpx.Client(timeout=30) as http:
        answers = [send(http, node, "create", token, "") for token in (too_rich, too_many, fine)]

    assert [r.status_code for r in answers] == [400, 400, 200]
    assert answers[2].json()["balance"] == 16_000
    assert [(op["kind"], op["state"]) for op in journal(node)] == [("deposit", "completed")]


def test_cbor_semantic_tags_are_refused_not_decoded(ready: tuple[RunningNode, str]) -> None:
    node, _ = ready
    tagged = "cashuB" + _b64(cbor2.dumps(cbor2.CBORTag(36, "Content-Type: text/plain\n\n" + "x" * 40_000)))

    with httpx.Client(timeout=30) as http:
        refused = send(http, node, "create", tagged, "")

    assert refused.status_code == 400
