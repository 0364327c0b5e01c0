"""What the mint answers decides, never a guess: "pending" (11002) leaves the operation open and it completes later,
a copy of our own swap that won is credited, a definite refusal fails it at once, and an outcome that stays unknown
is retried with backoff, then parked for the operator."""

from pathlib import Path

import httpx
import pytest

from app.api.errors import status_of
from app.cashu.client import MintClient
from app.cashu.errors import MintRejected, SwapOutcomeUnknown
from app.cashu.messages import ProofState
from app.cashu.tokens import decode_token
from app.ledger import audit
from app.ledger.records import EntryKind
from app.payments.deposits import Purpose, token_hash
from app.payments.recovery import RetryPolicy
from app.treasury import journal
from app.treasury.records import OpState
from tests.fixtures.mint import RunningMint
from tests.treasury.stacks import Intercepting, answering, books, stack, token_states_at

PENDING = {"detail": "proofs are pending", "code": 11002}
SPENT = {"detail": "proofs already spent", "code": 11001}
NOT_ACCEPTED = {"detail": [{"loc": ["body", "outputs"], "msg": "field required", "type": "value_error.missing"}]}


async def test_a_swap_answered_pending_while_the_mint_did_it_is_credited(database_url: str, mint: RunningMint) -> None:
    token = await mint.make_token(16)
    async with stack(database_url, mint.url, Intercepting(answering(400, PENDING, forward_first=True))) as node:
        deposit = await node.deposits.deposit(token, Purpose.CREATE)
        report = await books(node.db)

    assert deposit.credited_msat == 16_000 and deposit.account.balance_msat == 16_000
    assert (report.deposited_msat, report.assets_msat, report.open_operations, report.reconciles) == (
        16_000, 16_000, 0, True,
    )  # fmt: skip


async def test_a_swap_answered_spent_by_a_copy_of_itself_is_credited(database_url: str, mint: RunningMint) -> None:
    token = await mint.make_token(8)
    async with stack(database_url, mint.url, Intercepting(answering(400, SPENT, forward_first=True))) as node:
        deposit = await node.deposits.deposit(token, Purpose.BEARER)
        report = await books(node.db)

    assert deposit.credited_msat == 8_000
    assert (report.deposited_msat, report.reconciles) == (8_000, True)


async def test_pending_stays_pending_and_is_completed_by_a_later_try(database_url: str, mint: RunningMint) -> None:
    token = await mint.make_token(4)
    async with (
        stack(database_url, mint.url, Intercepting(answering(400, PENDING, forward_first=False))) as stuck,
        stack(database_url, mint.url, policy=RetryPolicy(first_s=0)) as other,
    ):
        with pytest.raises(SwapOutcomeUnknown):  # 503: being settled, ask again
            await stuck.deposits.deposit(token, Purpose.CREATE)
        op = await stuck.db.run(journal.operation_by_token(token_hash(token)))
        assert op is not None and (op.state, op.attempts) == (OpState.PLANNED, 1) and op.next_try_at > 0
        assert token_states_at(mint.url, token) == {ProofState.UNSPENT}
        assert_nowhere_in_the_database(database_url, token, op.plan or "")

        retried = await other.deposits.deposit(token, Purpose.CREATE)  # the same token again, in another process
        report = await books(other.db)

    assert retried.account.balance_msat == 4_000
    assert (report.deposited_msat, report.open_operations, report.reconciles) == (4_000, 0, True)


async def test_a_definite_refusal_fails_the_deposit_at_once_and_touches_nothing(
    database_url: str, mint: RunningMint
) -> None:
    token = await mint.make_token(4)
    async with stack(database_url, mint.url, Intercepting(answering(422, NOT_ACCEPTED, forward_first=False))) as node:
        with pytest.raises(MintRejected) as refused:
            await node.deposits.deposit(token, Purpose.CREATE)
        assert status_of(refused.value) == 400
        op = await node.db.run(journal.operation_by_token(token_hash(token)))
        report = await books(node.db)

    assert op is not None and (op.state, op.error) == (OpState.FAILED, "invalid")
    assert (report.deposited_msat, report.open_operations) == (0, 0)
    assert token_states_at(mint.url, token) == {ProofState.UNSPENT}


async def test_an_outcome_that_stays_unknown_is_retried_with_backoff_then_parked(
    database_url: str, mint: RunningMint
) -> None:
    token = await mint.make_token(2)
    policy = RetryPolicy(first_s=0, cap=3)
    async with stack(
        database_url, mint.url, Intercepting(answering(400, PENDING, forward_first=False)), policy=policy
    ) as node:
        with pytest.raises(SwapOutcomeUnknown):
            await node.deposits.deposit(token, Purpose.CREATE)
        sweeps = [await node.recovery.recover_open() for _ in range(4)]
        op = await node.db.run(journal.operation_by_token(token_hash(token)))
        report = await books(node.db)

    assert sweeps == [0, 0, 0, 0]
    assert op is not None and (op.state, op.attempts) == (OpState.PARKED, 3)
    assert report.parked_operations == [f"deposit:{op.id}"] and report.reconciles
    assert token_states_at(mint.url, token) == {ProofState.UNSPENT}


def test_backoff_doubles_up_to_its_longest() -> None:
    policy = RetryPolicy(first_s=5, longest_s=60)
    assert [policy.backoff_s(n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


async def test_mint_answers_without_a_nut_code_are_refusals_not_unknowns(mint: RunningMint) -> None:
    async with httpx.AsyncClient(transport=Intercepting(answering(422, NOT_ACCEPTED, forward_first=False))) as http:
        with pytest.raises(MintRejected) as refused:
            await MintClient(http, mint.url).swap([], [])
    assert refused.value.mint_code == 0


def assert_nowhere_in_the_database(database_url: str, token: str, plan: str) -> None:
    """No secret of the token's proofs in the journaled plan, nor (SQLite) anywhere in the files, write-ahead log
    included: the token string, a key to a balance, cannot be rebuilt from the database."""
    secrets = [proof.secret for proof in decode_token(token).proofs]
    assert not any(secret in plan for secret in secrets)
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        stored = b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
        assert not any(secret.encode() in stored for secret in secrets)


async def test_a_refund_answered_pending_while_the_mint_did_it_is_paid(database_url: str, mint: RunningMint) -> None:
    token = await mint.make_token(12)
    async with (
        stack(database_url, mint.url) as depositor,
        stack(database_url, mint.url, Intercepting(answering(400, PENDING, forward_first=True))) as refunder,
    ):
        key_id = (await depositor.deposits.deposit(token, Purpose.CREATE)).account.id
        paid = await refunder.refunds.refund(key_id)
        report = await books(refunder.db)

    assert decode_token(paid.token).amount == 12 and token_states_at(mint.url, paid.token) == {ProofState.UNSPENT}
    assert (report.refunded_msat, report.liabilities_msat, report.assets_msat, report.reconciles) == (
        12_000, 0, 0, True,
    )  # fmt: skip


async def test_a_definite_refusal_of_a_refund_gives_the_balance_back_once(database_url: str, mint: RunningMint) -> None:
    token = await mint.make_token(12)
    async with (
        stack(database_url, mint.url) as depositor,
        stack(database_url, mint.url, Intercepting(answering(422, NOT_ACCEPTED, forward_first=False))) as refunder,
    ):
        key_id = (await depositor.deposits.deposit(token, Purpose.CREATE)).account.id
        with pytest.raises(MintRejected):
            await refunder.refunds.refund(key_id)
        await depositor.recovery.recover_open()  # nothing left open to settle, nothing credited twice
        kinds = [e.kind for e in await refunder.db.run(audit.entries_for(key_id))]
        report = await books(refunder.db)

    assert kinds == [EntryKind.DEPOSIT, EntryKind.REFUND, EntryKind.REFUND_REVERSED]
    assert (report.liabilities_msat, report.assets_msat, report.open_operations, report.reconciles) == (
        12_000, 12_000, 0, True,
    )  # fmt: skip
