"""Shared steps of the payments tests: HTTP calls as Routstr's clients make them, and the books after them."""

import asyncio
from typing import Any

import httpx

from app.cashu.client import MintClient
from app.db.database import open_database
from app.ledger.service import Ledger
from app.treasury.report import WalletReport, wallet_report
from app.treasury.service import Treasury
from app.treasury.verify import MintVerification, verify_with_mints
from tests.fixtures.node import RunningNode


def create(node: RunningNode, token: str) -> httpx.Response:
    return httpx.post(node.url + "/balance/create", json={"cashu_token": token}, timeout=30)


def topup(node: RunningNode, key: str, token: str) -> httpx.Response:
    return httpx.post(node.url + "/balance/topup", json={"cashu_token": token}, headers=auth(key), timeout=30)


def info(node: RunningNode, key: str) -> dict[str, Any]:
    response = httpx.get(node.url + "/balance/info", headers=auth(key), timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refund(node: RunningNode, key: str) -> httpx.Response:
    return httpx.post(node.url + "/balance/refund", headers=auth(key), timeout=30)


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def books(node: RunningNode) -> WalletReport:
    """The wallet report, after asserting the ledger invariant holds for every key."""

    async def read() -> WalletReport:
        db = open_database(node.settings.database_url)
        try:
            assert await Ledger(db).check() == []
            return await wallet_report(Treasury(db))
        finally:
            await db.close()

    return asyncio.run(read())


def verified(node: RunningNode) -> MintVerification:
    """`python -m app wallet report --verify`: the journal against every mint it names."""

    async def check() -> MintVerification:
        db = open_database(node.settings.database_url)
        try:
            async with httpx.AsyncClient() as http:
                return await verify_with_mints(db, lambda url: MintClient(http, url))
        finally:
            await db.close()

    return asyncio.run(check())


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code
