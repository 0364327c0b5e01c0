"""Refunds racing across two processes on one database: one refund per key at a time, proofs chosen by one refund
only, every refund token spendable, the key debited once and never credited back twice."""

import asyncio

from app.cashu.messages import ProofState
from app.cashu.tokens import decode_token
from app.errors import BadRequest
from app.ledger import audit
from app.ledger.records import EntryKind
from app.payments.deposits import Purpose
from app.payments.refunds import Refund
from app.treasury.errors import RefundInProgress
from tests.fixtures.mint import RunningMint
from tests.treasury.stacks import Stack, books, stack, token_states_at


async def ledger_kinds(node: Stack, key_id: int) -> list[EntryKind]:
    return [entry.kind for entry in await node.db.run(audit.entries_for(key_id))]


async def test_refunds_of_one_key_racing_in_two_processes_pay_once(database_url: str, mint: RunningMint) -> None:
    token = await mint.make_token(64)
    async with stack(database_url, mint.url) as one, stack(database_url, mint.url) as two:
        key_id = (await one.deposits.deposit(token, Purpose.CREATE)).account.id
        outcomes = await asyncio.gather(
            *(node.refunds.refund(key_id) for node in (one, two, one, two, one, two)), return_exceptions=True
        )
        kinds = await ledger_kinds(one, key_id)
        report = await books(one.db)

    paid = {o.token for o in outcomes if isinstance(o, Refund)}
    refused = [o for o in outcomes if not isinstance(o, Refund)]
    assert all(isinstance(o, RefundInProgress | BadRequest) for o in refused), refused
    assert len(paid) == 1 and decode_token(paid.pop()).amount == 64
    assert kinds == [EntryKind.DEPOSIT, EntryKind.REFUND]
    assert (report.refunded_msat, report.liabilities_msat, report.assets_msat, report.reconciles) == (
        64_000, 0, 0, True,
    )  # fmt: skip


async def test_refunds_of_different_keys_at_once_never_share_a_proof(database_url: str, mint: RunningMint) -> None:
    tokens = [await mint.make_token(16) for _ in range(4)]
    async with stack(database_url, mint.url) as one, stack(database_url, mint.url) as two:
        key_ids = [(await one.deposits.deposit(t, Purpose.CREATE)).account.id for t in tokens]
        nodes = (one, two, one, two)
        paid = await asyncio.gather(*(node.refunds.refund(key) for node, key in zip(nodes, key_ids, strict=True)))
        kinds = [await ledger_kinds(one, key) for key in key_ids]
        report = await books(one.db)

    assert [decode_token(p.token).amount for p in paid] == [16] * 4
    assert all(token_states_at(mint.url, p.token) == {ProofState.UNSPENT} for p in paid)
    assert kinds == [[EntryKind.DEPOSIT, EntryKind.REFUND]] * 4
    assert (report.refunded_msat, report.liabilities_msat, report.assets_msat, report.reconciles) == (
        64_000, 0, 0, True,
    )  # fmt: skip


async def test_deposit_refund_cycles_of_several_users_on_two_processes_reconcile(
    database_url: str, mint: RunningMint
) -> None:
    users, cycles = 3, 3
    tokens = [[await mint.make_token(8) for _ in range(cycles)] for _ in range(users)]
    async with stack(database_url, mint.url) as one, stack(database_url, mint.url) as two:

        async def user(index: int) -> list[Refund]:
            depositor, refunder = (one, two) if index % 2 else (two, one)
            refunds = []
            for token in tokens[index]:
                key_id = (await depositor.deposits.deposit(token, Purpose.CREATE)).account.id
                refunds.append(await refunder.refunds.refund(key_id))
            return refunds

        paid = [refund for refunds in await asyncio.gather(*(user(i) for i in range(users))) for refund in refunds]
        report = await books(one.db)

    assert len({p.token for p in paid}) == users * cycles
    assert all(decode_token(p.token).amount == 8 for p in paid)
    assert (report.deposited_msat, report.refunded_msat) == (users * cycles * 8_000, users * cycles * 8_000)
    assert (report.liabilities_msat, report.assets_msat, report.open_operations, report.reconciles) == (0, 0, 0, True)
    assert all(token_states_at(mint.url, p.token) == {ProofState.UNSPENT} for p in paid)


async def test_asking_again_returns_the_last_refund_s_token_even_within_one_second(
    database_url: str, mint: RunningMint
) -> None:
    first_token, second_token = await mint.make_token(8), await mint.make_token(4)
    async with stack(database_url, mint.url) as node:
        deposit = await node.deposits.deposit(first_token, Purpose.CREATE)
        first = await node.refunds.refund(deposit.account.id)
        await node.deposits.deposit(second_token, Purpose.TOPUP, key_id=deposit.account.id)
        second = await node.refunds.refund(deposit.account.id)
        again = await node.refunds.refund(deposit.account.id)

    assert (decode_token(first.token).amount, decode_token(second.token).amount) == (8, 4)
    assert again.token == second.token
