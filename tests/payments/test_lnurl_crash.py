"""A node that dies while paying a refund to a Lightning address (before the melt reaches the mint, or after), or
loses the mint's answer: the refund settles once from the mint's word (NUT-07, the melt quote's state, NUT-09 for
the fee change), after a restart if need be. Real FakeWallet mints and LNURL service, both databases."""

import pytest

from app.payments.deposits import Purpose
from app.payments.lightning_refunds import PURPOSE
from app.treasury.records import OpKind, OpState
from tests.fixtures.lnurl import LnurlService
from tests.fixtures.mint import RunningMint
from tests.payments.crash_harness import Crash, answer_lost, dying, process
from tests.treasury.stacks import Intercepting, books


@pytest.mark.parametrize("after_sending", [False, True], ids=["before_melt", "after_melt"])
async def test_a_crash_while_paying_settles_once_after_restart(
    database_url: str, mint: RunningMint, lnurl_service: LnurlService, after_sending: bool
) -> None:
    token = await mint.make_token(100)
    async with process(
        database_url, mint.url, Intercepting(dying(after_sending=after_sending), "/v1/melt/bolt11")
    ) as first:
        account = (await first.deposits.deposit(token, Purpose.CREATE)).account
        with pytest.raises(Crash):
            await first.pay.refund(account.id, account.available_msat, lnurl_service.address())
        [journaled] = await first.treasury.open_operations()
        assert (journaled.kind, journaled.purpose, journaled.state) == (OpKind.REFUND, PURPOSE, OpState.PLANNED)

    async with process(database_url, mint.url) as restarted:
        assert await restarted.recovery.recover_open() == 1
        settled = await restarted.treasury.get(journaled.id)
        assert settled is not None and settled.state is OpState.COMPLETED
        assert (await lnurl_service.last_invoice()) == (98, True)
        after = await restarted.ledger.find_by_id(account.id)
        assert after is not None and after.balance_msat == 1_000  # the unused fee reserve came back
        report = await books(restarted.db)
        assert report.reconciles and report.refunded_msat == 99_000 and report.open_operations == 0


async def test_a_lost_melt_answer_is_settled_at_once(
    database_url: str, mint: RunningMint, lnurl_service: LnurlService
) -> None:
    token = await mint.make_token(100)
    async with process(database_url, mint.url, Intercepting(answer_lost, "/v1/melt/bolt11")) as node:
        account = (await node.deposits.deposit(token, Purpose.CREATE)).account

        paid = await node.pay.refund(account.id, account.available_msat, lnurl_service.address())

        assert (paid.amount_msat, paid.fee_msat, paid.returned_msat) == (98_000, 1_000, 1_000)
        assert (await books(node.db)).reconciles
