"""The admin API on both databases: nothing without a credential, sessions that end, keys whose money moves only
with ledger rows (the books stay clean), a disabled key that cannot pay, paging and filters, and settings in which
no secret appears."""

import asyncio
import hmac

import httpx
import pytest

from app.admin import auth, passwords
from app.db.database import open_database
from tests.admin.helpers import ADMIN_TOKEN, PASSWORD, admin_client, admin_node, login
from tests.fixtures.audit import assert_books_clean_at
from tests.fixtures.node import NodeFactory, RunningNode

GETS = (
    "/status", "/keys", "/ledger", "/usage", "/balances", "/reservations", "/earnings", "/announcement",
    "/upstream", "/settings", "/errors",
)  # fmt: skip
CHAT = {"model": "standin-small", "max_tokens": 8, "messages": [{"role": "user", "content": "hello there, node"}]}
COST_MSAT = 5 * 1 + 8 * 2  # the stand-in's 5 prompt and 8 completion tokens at the test prices


def _chat(node: RunningNode, key: str) -> httpx.Response:
    return httpx.post(f"{node.url}/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def test_every_admin_endpoint_needs_a_credential(node_factory: NodeFactory) -> None:
    node = admin_node(node_factory)
    for path in GETS:
        reply = httpx.get(f"{node.root}/admin/api{path}", timeout=10)
        assert reply.status_code == 401, (path, reply.text)
        assert reply.json()["error"]["code"] == "admin_unauthorized"
    for headers in ({"Authorization": "Bearer wrong"}, {"Cookie": "routstr_admin_session=wrong"}):
        assert httpx.get(f"{node.root}/admin/api/keys", headers=headers, timeout=10).status_code == 401
    assert httpx.post(f"{node.root}/admin/api/keys", json={"balance_msat": 5}, timeout=10).status_code == 401
    assert login(node, "wrong password").status_code == 401
    assert httpx.get(f"{node.root}/admin/api/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).is_success


def test_a_session_is_a_random_token_stored_hashed_that_logout_ends(node_factory: NodeFactory) -> None:
    node = admin_node(node_factory)
    reply = login(node)
    assert reply.status_code == 200 and reply.json()["ok"] is True and reply.json()["expires_in"] > 0
    token = reply.json()["token"]
    cookie = reply.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/admin" in cookie
    stored = asyncio.run(_stored_secrets(node.settings.database_url))
    assert token not in stored and PASSWORD not in stored and stored.startswith("scrypt$")
    with httpx.Client(base_url=node.root, headers={"Authorization": f"Bearer {token}"}, timeout=10) as admin:
        assert admin.get("/admin/api/status").json()["database"]["kind"] in ("sqlite", "postgresql")
        assert admin.post("/admin/api/logout").json() == {"ok": True}
        assert admin.get("/admin/api/status").status_code == 401


async def _stored_secrets(database_url: str) -> str:
    from sqlalchemy import select

    from app.db.tables import admin_secrets, admin_sessions

    db = open_database(database_url)
    try:
        secrets = await db.run(lambda conn: list(conn.scalars(select(admin_secrets.c.value))))
        sessions = await db.run(lambda conn: list(conn.scalars(select(admin_sessions.c.token_hash))))
    finally:
        await db.close()
    return " ".join(secrets + sessions)


def test_secrets_are_compared_in_constant_time() -> None:
    assert auth.constant_time_equal is hmac.compare_digest
    stored = passwords.hash_password(PASSWORD)
    assert passwords.verify_password(PASSWORD, stored) and not passwords.verify_password(PASSWORD + "x", stored)
    assert stored != passwords.hash_password(PASSWORD)  # salted
    with pytest.raises(passwords.WeakPassword):
        passwords.hash_password("short")


def test_failed_logins_are_slowed_per_address(node_factory: NodeFactory) -> None:
    node = admin_node(node_factory)
    for _ in range(5):
        assert login(node, "guess").status_code == 401
    throttled = login(node)  # even the right password waits now
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
    assert throttled.json()["error"]["type"] == "rate_limit_error"
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert httpx.get(f"{node.root}/admin/api/status", headers=bearer).status_code == 429
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10) as elsewhere:
        assert elsewhere.post(f"{node.root}/admin/api/login", json={"password": PASSWORD}).status_code == 200
        assert elsewhere.get(f"{node.root}/admin/api/status", headers=bearer).status_code == 200


def test_keys_created_topped_up_and_disabled_move_money_with_ledger_rows(node_factory: NodeFactory) -> None:
    node = admin_node(node_factory)
    with admin_client(node) as admin:
        created = admin.post("/admin/api/keys", json={"balance_msat": 5_000})
        assert created.status_code == 201 and created.json()["balance_msat"] == 5_000
        key, key_id = created.json()["api_key"], created.json()["id"]
        topped = admin.post(f"/admin/api/keys/{key_id}/topup", json={"amount_msat": 2_000}).json()
        assert topped["balance_msat"] == 7_000
        assert admin.post(f"/admin/api/keys/{key_id}/topup", json={"amount_msat": -1}).status_code == 400
        assert admin.post("/admin/api/keys/999999/topup", json={"amount_msat": 1}).status_code == 404

        assert admin.post(f"/admin/api/keys/{key_id}/disable").json()["disabled_at"] is not None
        refused = _chat(node, key)
        assert refused.status_code == 401 and "disabled" in refused.json()["error"]["message"]
        assert admin.post(f"/admin/api/keys/{key_id}/enable").json()["disabled_at"] is None
        assert _chat(node, key).status_code == 200

        rows = admin.get("/admin/api/ledger", params={"key_id": key_id}).json()
        assert [(r["kind"], r["amount_msat"]) for r in rows["data"]] == [
            ("charge", -COST_MSAT), ("adjustment", 2_000), ("adjustment", 5_000)
        ]  # fmt: skip
        charges = admin.get("/admin/api/ledger", params={"kind": "charge"}).json()
        assert charges["total"] == 1 and charges["data"][0]["ref"] == "standin-small"
        assert admin.get("/admin/api/ledger", params={"since": 4_000_000_000}).json()["total"] == 0
        usage = admin.get("/admin/api/usage").json()["data"]
        assert [(u["model"], u["requests"], u["msat"]) for u in usage] == [("standin-small", 1, COST_MSAT)]
        owed = admin.get("/admin/api/balances").json()
        assert owed == {"owed_msat": 7_000 - COST_MSAT, "reserved_msat": 0, "keys_with_balance": 1, "keys": 1}
        earnings = admin.get("/admin/api/earnings").json()
        assert earnings["owed_msat"] == 7_000 - COST_MSAT and earnings["granted_msat"] == 7_000
    asyncio.run(assert_books_clean_at(node.settings.database_url))


def test_keys_and_ledger_page(node_factory: NodeFactory) -> None:
    node = admin_node(node_factory)
    with admin_client(node) as admin:
        ids = [admin.post("/admin/api/keys", json={"balance_msat": n}).json()["id"] for n in (1, 2, 3, 4, 5)]
        first = admin.get("/admin/api/keys", params={"limit": 2}).json()
        second = admin.get("/admin/api/keys", params={"limit": 2, "offset": 2}).json()
        last = admin.get("/admin/api/keys", params={"limit": 2, "offset": 4}).json()
        assert first["total"] == 5 and [k["id"] for k in first["data"] + second["data"] + last["data"]] == ids[::-1]
        assert [k["balance_msat"] for k in first["data"]] == [5, 4]
        ledger = admin.get("/admin/api/ledger", params={"limit": 3, "offset": 3}).json()
        assert ledger["total"] == 5 and [r["amount_msat"] for r in ledger["data"]] == [2, 1]
        assert admin.get("/admin/api/keys", params={"limit": 0}).status_code == 400
    asyncio.run(assert_books_clean_at(node.settings.database_url))


def test_reservations_and_errors_are_listed(node_factory: NodeFactory) -> None:
    node = admin_node(node_factory)
    with admin_client(node) as admin:
        key = admin.post("/admin/api/keys", json={"balance_msat": 1}).json()["api_key"]
        assert _chat(node, key).status_code == 402
        assert admin.get("/admin/api/reservations").json() == {"data": [], "total": 0, "limit": 100, "offset": 0}
        seen = admin.get("/admin/api/errors").json()["responses"]
        assert seen[0]["status"] == 402 and seen[0]["code"] == "insufficient_balance"
        assert seen[0]["route"] == "/v1/chat/completions" and key not in str(seen)


def test_cookie_requests_that_change_state_must_come_from_the_node(node_factory: NodeFactory) -> None:
    node = admin_node(node_factory)
    token = login(node).json()["token"]
    cookies = {"routstr_admin_session": token}
    evil = httpx.post(
        f"{node.root}/admin/api/keys", json={"balance_msat": 1}, cookies=cookies, headers={"Origin": "http://evil.test"}
    )
    assert evil.status_code == 403 and evil.json()["error"]["code"] == "cross_origin_refused"
    bare = httpx.post(f"{node.root}/admin/api/keys", json={"balance_msat": 1}, cookies=cookies)
    assert bare.status_code == 403
    own = httpx.post(
        f"{node.root}/admin/api/keys", json={"balance_msat": 1}, cookies=cookies, headers={"Origin": node.root}
    )
    assert own.status_code == 201
    form = httpx.post(f"{node.root}/admin/login", data={"password": PASSWORD}, headers={"Origin": "http://evil.test"})
    assert form.status_code == 403


NSEC_HEX = "7f" * 32
UPSTREAM_SECRET = "sk-upstream-very-secret-0042"


def test_settings_show_no_secret(node_factory: NodeFactory) -> None:
    node = admin_node(node_factory, nsec=NSEC_HEX, upstream_api_key=UPSTREAM_SECRET)
    with admin_client(node) as admin:
        reply = admin.get("/admin/api/settings")
    assert reply.status_code == 200
    shown = reply.json()
    for secret in (NSEC_HEX, UPSTREAM_SECRET, ADMIN_TOKEN, PASSWORD):
        assert secret not in reply.text
    assert shown["nsec"] == shown["upstream_api_key"] == shown["admin_token"] == "[REDACTED]"
    assert shown["database_url"] == node.settings.database_url  # no password in the test URLs: shown as is


def test_passwords_in_urls_and_secret_query_values_are_redacted() -> None:
    from pydantic import SecretStr

    from app.admin.redaction import redact_settings

    shown = redact_settings(
        {
            "database_url": "postgresql://node:pg-pass-123@db:5432/node",
            "upstream_base_url": "https://api.example/v1?api_key=qk-456&region=eu",
            "cashu_mints": ["https://user:mint-pass-789@mint.example"],
            "nsec": SecretStr("x"),
            "empty": SecretStr(""),
            "name": "node",
        }
    )
    for secret in ("pg-pass-123", "qk-456", "mint-pass-789"):
        assert secret not in str(shown)
    assert shown["database_url"] == "postgresql://node:[REDACTED]@db:5432/node"
    assert "region=eu" in shown["upstream_base_url"] and shown["nsec"] == "[REDACTED]" and shown["empty"] == ""
    assert shown["name"] == "node"


def test_guessing_admin_tokens_through_the_api_is_slowed_too(node_factory: NodeFactory) -> None:
    node = admin_node(node_factory)
    for n in range(5):
        guess = httpx.get(f"{node.root}/admin/api/status", headers={"Authorization": f"Bearer guess-{n}"}, timeout=10)
        assert guess.status_code == 401
    throttled = httpx.get(f"{node.root}/admin/api/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert throttled.status_code == 429 and throttled.headers["retry-after"]


def test_a_short_admin_token_is_refused_at_start() -> None:
    from pydantic import ValidationError

    from app.settings import Settings

    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(_env_file=None, admin_token="short")
