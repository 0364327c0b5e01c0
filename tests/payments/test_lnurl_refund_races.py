"""One key refunded to a Lightning address from two node processes at once (real `python -m app serve` subprocesses
on one database, both kinds): the balance is paid out once, every other request gets a clear refusal and moves
nothing, and the books and the mints' own audit are clean. Real FakeWallet mints and LNURL service."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.db.database import open_database
from app.treasury.report import WalletReport
from tests.fixtures.audit import assert_books_clean_at
from tests.fixtures.lnurl import LnurlService
from tests.fixtures.mint import RunningMint
from tests.fixtures.node_process import NodeProcess, start_all
from tests.payments.helpers import auth, error_code
from tests.treasury.stacks import books

REQUESTS_PER_NODE = 3
# what a request that lost the race may be told: another refund of the key is under way, or nothing is left to pay
# (once the winner debited the key), or what is left (the unused fee reserve) does not cover a payment's fees
CLEAR_REFUSALS = {
    (409, "refund_in_progress"),
    (400, "no_balance"),
    (422, "cashu_token_swap_fees_exceed_amount"),
}


@pytest.fixture
def two_nodes(database_url: str, standin_url: str, mint: RunningMint, tmp_path: Path) -> Iterator[list[NodeProcess]]:
    nodes = [
        NodeProcess(
            database_url=database_url,
            mint_urls=[mint.url],
            upstream_url=standin_url,
            work_dir=tmp_path / f"node-{index}",
            env={"ALLOW_PRIVATE_URLS": "true"},  # the LNURL service is on 127.0.0.1
        )
        for index in range(2)
    ]
    try:
        start_all(nodes)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


async def refunds_at_once(nodes: list[NodeProcess], key: str, address: str) -> list[httpx.Response]:
    async with httpx.AsyncClient(headers=auth(key), timeout=60) as http:
        return list(
            await asyncio.gather(
                *(
                    http.post(node.url + "/balance/refund", json={"lightning_address": address})
                    for node in nodes * REQUESTS_PER_NODE
                )
            )
        )


async def audited(database_url: str) -> WalletReport:
    """The wallet report, after the ledger check and the mints' own audit (`wallet report --verify`)."""
    await assert_books_clean_at(database_url)
    db = open_database(database_url)
    try:
        return await books(db)
    finally:
        await db.close()


def test_a_key_refunded_to_an_address_from_two_processes_at_once_is_paid_once(
    two_nodes: list[NodeProcess], database_url: str, mint: RunningMint, lnurl_service: LnurlService
) -> None:
    one, _ = two_nodes
    created = httpx.post(one.url + "/balance/create", json={"cashu_token": asyncio.run(mint.make_token(100))})
    assert created.status_code == 200, created.text
    key = created.json()["api_key"]

    answers = asyncio.run(refunds_at_once(two_nodes, key, lnurl_service.address()))

    paid = [answer.json() for answer in answers if answer.status_code == 200]
    refused = [(answer.status_code, error_code(answer)) for answer in answers if answer.status_code != 200]
    # 100 sat: an invoice of 98 sat and a 2 sat fee reserve; the payment cost 1 sat, 1 sat came back
    assert [(p["msats"], p["fee_msats"], p["returned_msats"]) for p in paid] == [(98_000, 1_000, 1_000)], refused
    assert len(refused) == 2 * REQUESTS_PER_NODE - 1 and set(refused) <= CLEAR_REFUSALS, refused
    balance = httpx.get(one.url + "/balance/info", headers=auth(key), timeout=30).json()["balance"]
    assert balance == 1_000
    report = asyncio.run(audited(database_url))
    assert (report.refunded_msat, report.liabilities_msat, report.open_operations, report.reconciles) == (
        99_000, 1_000, 0, True,
    )  # fmt: skip
