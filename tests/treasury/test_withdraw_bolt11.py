"""The operator's withdrawal to a Lightning invoice (NUT-05 melt): the quote's fee shown first, only what the node
earned (amount, fee reserve and input fee must fit), the unused reserve back in the treasury (NUT-08 blank outputs),
and a melt whose answer was lost settled from the quote's state, once."""

import asyncio
import subprocess
from pathlib import Path

import httpx
import pytest

from app.cashu.client import MintClient
from app.payments.deposits import Purpose
from app.treasury.records import OpState
from app.treasury.withdrawals import NotWithdrawable
from tests.fixtures.lnurl import LnurlService
from tests.fixtures.mint import RunningMint
from tests.fixtures.node_process import books, operator_command
from tests.treasury.stacks import Intercepting, Stack, answering, stack
from tests.treasury.stacks import books as books_of
from tests.treasury.test_earnings import charge
from tests.treasury.test_withdraw import verified

MELT_PATH = "/v1/melt/bolt11"


async def invoice_of(other: RunningMint, amount_sat: int) -> str:
    """An invoice of another mint: one of the paying mint's own would be settled internally."""
    async with httpx.AsyncClient() as http:
        return (await MintClient(http, other.url).mint_quote(amount_sat)).request


async def earn(node: Stack, mint: RunningMint, deposit_sat: int, charged_msat: int) -> None:
    deposit = await node.deposits.deposit(await mint.make_token(deposit_sat, proofs=1), Purpose.CREATE)
    await charge(node, deposit.account.key_hash, charged_msat)


async def test_pay_an_invoice_from_the_earnings_with_the_unused_fee_back(
    database_url: str, mint: RunningMint, mint_fee: RunningMint
) -> None:
    invoice = await invoice_of(mint_fee, 5)
    async with stack(database_url, mint.url) as node:
        await earn(node, mint, 64, 20_000)
        offer = await node.withdrawals.offer(invoice)
        paid = await node.withdrawals.pay_invoice(invoice)
        earned = await node.treasury.earnings()
        report = await books_of(node.db)
        audit = await verified(node)

    assert (offer.amount_sat, offer.withdrawable_sat) == (5, 20) and offer.fee_reserve_sat > 0
    assert (paid.state, paid.amount_sat) == (OpState.COMPLETED, 5)
    assert (offer.fee_reserve_sat, paid.fee_sat) == (2, 1)  # FakeWallet's Lightning fee is 1 sat: 1 sat came back
    assert earned.held_msat == (64 - 5 - paid.fee_sat) * 1000  # the unused reserve came back as change
    assert (report.withdrawn_msat, report.liabilities_msat, report.reconciles) == (
        (5 + paid.fee_sat) * 1000, 44_000, True,
    )  # fmt: skip
    assert audit.ok, audit.differences


async def test_an_invoice_beyond_the_earnings_is_refused_before_paying(
    database_url: str, mint: RunningMint, mint_fee: RunningMint
) -> None:
    invoice = await invoice_of(mint_fee, 19)  # 19 sat + the fee reserve > 20 sat earned
    async with stack(database_url, mint.url) as node:
        await earn(node, mint, 64, 20_000)
        with pytest.raises(NotWithdrawable):
            await node.withdrawals.pay_invoice(invoice)
        report = await books_of(node.db)

    assert (report.withdrawn_msat, report.open_operations, report.assets_msat, report.reconciles) == (
        0, 0, 64_000, True,
    )  # fmt: skip


@pytest.mark.parametrize("forward", [True, False], ids=["mint-paid-it", "never-reached-the-mint"])
async def test_a_melt_whose_answer_is_lost_settles_once_from_the_quote(
    database_url: str, mint: RunningMint, mint_fee: RunningMint, forward: bool
) -> None:
    invoice = await invoice_of(mint_fee, 5)
    lost = Intercepting(answering(504, {"detail": "gateway timeout"}, forward_first=forward), path=MELT_PATH)
    async with stack(database_url, mint.url, lost) as cut_off, stack(database_url, mint.url) as node:
        await earn(node, mint, 64, 20_000)
        first = await cut_off.withdrawals.pay_invoice(invoice)
        journaled = await node.treasury.get(first.op_id)
        assert journaled is not None
        settled = await node.recovery.recover(journaled)  # what the node's recovery sweep does
        again = await node.recovery.recover(journaled)
        report = await books_of(node.db)
        audit = await verified(node)

    # the mint paid it: its quote says so at once; never reached: left open, then sent again as planned
    assert first.state is (OpState.COMPLETED if forward else OpState.PLANNED)
    assert settled is not None and settled.state is OpState.COMPLETED
    assert again is not None and again.state is OpState.COMPLETED and again.amount_msat == settled.amount_msat
    assert (report.withdrawn_msat, report.open_operations, report.reconciles) == (settled.amount_msat, 0, True)
    assert report.assets_msat == 64_000 - settled.amount_msat
    assert audit.ok, audit.differences


async def earned_through_a_node(database_url: str, mint: RunningMint) -> None:
    async with stack(database_url, mint.url) as node:
        await earn(node, mint, 64, 20_000)


def test_the_command_shows_the_fee_first_and_pays_only_with_yes(
    database_url: str, mint: RunningMint, mint_fee: RunningMint, tmp_path: Path
) -> None:
    invoice = asyncio.run(invoice_of(mint_fee, 5))
    asyncio.run(earned_through_a_node(database_url, mint))

    def earnings(*args: str) -> subprocess.CompletedProcess[str]:
        return operator_command(database_url, tmp_path, "earnings", *args)

    shown = earnings("withdraw", "--bolt11", invoice)
    unpaid = books(database_url)
    paid = earnings("withdraw", "--bolt11", invoice, "--yes")
    table = earnings()

    assert shown.returncode == 0, shown.stderr
    assert "pay 5 sat" in shown.stdout and "fee up to 2 sat" in shown.stdout and "nothing paid" in shown.stdout
    assert (unpaid.withdrawn_msat, unpaid.open_operations) == (0, 0)
    assert paid.returncode == 0, paid.stderr
    assert "paid 5 sat, fees 1 sat" in paid.stdout
    assert table.returncode == 0, table.stderr
    assert "WITHDRAWABLE sat" in table.stdout and "withdrawable 14000 msat in all" in table.stdout
    report = books(database_url)
    assert (report.withdrawn_msat, report.liabilities_msat, report.reconciles) == (6_000, 44_000, True)


def test_the_command_pays_a_lightning_address_and_only_a_public_one_by_default(
    database_url: str, mint: RunningMint, lnurl_service: LnurlService, tmp_path: Path
) -> None:
    asyncio.run(earned_through_a_node(database_url, mint))
    address = lnurl_service.address()  # on 127.0.0.1

    refused = operator_command(
        database_url, tmp_path, "earnings", "withdraw", "--lightning-address", address, "--amount", "5", "--yes"
    )
    paid = operator_command(
        database_url, tmp_path, "earnings", "withdraw", "--lightning-address", address, "--amount", "5", "--yes",
        env={"ALLOW_PRIVATE_URLS": "true"},
    )  # fmt: skip

    assert refused.returncode == 1 and "private or loopback" in refused.stderr, refused.stderr
    assert paid.returncode == 0, paid.stderr
    assert "paid 5 sat" in paid.stdout
    assert asyncio.run(lnurl_service.last_invoice()) == (5, True)
    assert books(database_url).reconciles
