"""A node with an admin password set the way `python -m app admin set-password` sets it, and an admin client."""

import asyncio
from typing import Any

import httpx

from app.admin.auth import AdminAuth
from app.db.database import open_database
from tests.fixtures.node import NodeFactory, RunningNode

PASSWORD = "correct horse battery staple"
ADMIN_TOKEN = "admin-token-0123456789abcdef"


def set_password(database_url: str, password: str = PASSWORD) -> None:
    async def store() -> None:
        db = open_database(database_url)
        try:
            await AdminAuth(db, admin_token="", session_ttl_s=60).set_password(password)
        finally:
            await db.close()

    asyncio.run(store())


def admin_node(node_factory: NodeFactory, **overrides: Any) -> RunningNode:
    node = node_factory(admin_token=ADMIN_TOKEN, **overrides)
    set_password(node.settings.database_url)
    return node


def login(node: RunningNode, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(f"{node.root}/admin/api/login", json={"password": password}, timeout=10)


def admin_client(node: RunningNode) -> httpx.Client:
    reply = login(node)
    assert reply.status_code == 200, reply.text
    token = reply.json()["token"]
    return httpx.Client(base_url=node.root, headers={"Authorization": f"Bearer {token}"}, timeout=10)
