"""Kind 5 (NIP-09) cancellations of kind 5050 jobs, end to end: real relay, real mint, both databases, deletions
signed by nostr-sdk."""

import asyncio
import time

import httpx
import nostr_sdk
from sqlalchemy import select

from app.cashu.tokens import decode_token
from app.db.database import open_database
from app.db.tables import dvm_jobs
from app.nostr.keys import NodeKeys
from tests.dvm.books import audited
from tests.dvm.conftest import CustomerRun, DvmFactory
from tests.dvm.customer import Answer, Customer, job_tags, tag_value
from tests.dvm.test_nutzaps import deposited_msat, listed_p2pk_key, locked_proofs, nutzap
from tests.dvm.test_refund import auth
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import RunningNode
from tests.nostr.relay_helpers import eventually
from tests.payments.test_deposits import proof_states

MODEL = "standin-small"
SETTLE_S = 1.5  # time the node has had to act on a deletion it must ignore


def deletion(customer: Customer, job_id: str) -> nostr_sdk.Event:
    """A NIP-09 deletion of the job, as a client makes it (the relay refuses one by anyone but the author: a
    stranger's is tested in test_job_states)."""
    tags = [nostr_sdk.Tag.parse(["e", job_id]), nostr_sdk.Tag.parse(["k", "5050"])]
    builder = nostr_sdk.EventBuilder(nostr_sdk.Kind(5), "cancel").tags(tags)
    return customer.keys.sign_event(builder.finalize_unsigned(customer.keys.public_key()))


def job_state(node: RunningNode, job_id: str) -> str | None:
    async def read() -> str | None:
        db = open_database(node.settings.database_url)
        try:
            query = select(dvm_jobs.c.state).where(dvm_jobs.c.event_id == job_id)
            return await db.run(lambda conn: conn.execute(query).scalar())
        finally:
            await db.close()

    return asyncio.run(read())


async def until_state(node: RunningNode, job_id: str, state: str) -> None:
    async def reached() -> bool:
        return await asyncio.to_thread(job_state, node, job_id) == state

    await eventually(reached, timeout_s=10)


def test_a_job_waiting_for_payment_is_cancelled_by_its_author(
    dvm: RunningNode, as_customer: CustomerRun, node_keys: NodeKeys, token: str, mint: RunningMint
) -> None:
    async def unpaid_then_cancelled(customer: Customer) -> tuple[Answer, str | None, Answer, Answer]:
        job = customer.sign(job_tags("hi", MODEL, node_keys.pubkey))
        unpaid = await customer.wait(await customer.publish(job))
        job_id = job.id().to_hex()
        before = await asyncio.to_thread(job_state, dvm, job_id)
        await customer.publish(deletion(customer, job_id))
        await until_state(dvm, job_id, "cancelled")
        cancelled = await customer.wait(job_id)
        paid_again = customer.sign(job_tags("hi", MODEL, node_keys.pubkey, cashu=token))  # a new job still runs
        return unpaid, before, cancelled, await customer.wait(await customer.publish(paid_again))

    unpaid, before, cancelled, later = as_customer(unpaid_then_cancelled)

    assert unpaid.statuses() == ["payment-required"] and before == "payment_required"
    assert sorted(cancelled.statuses()) == ["error", "payment-required"]
    assert cancelled.status_reason("error") == "cancelled" and cancelled.results == []
    assert len(later.results) == 1
    assert asyncio.run(proof_states(mint, token)) == {"SPENT"}
    report = audited(dvm)
    assert report.deposited_msat == 5000


def test_a_job_cancelled_before_it_arrives_is_never_run_and_its_token_never_redeemed(
    dvm: RunningNode, as_customer: CustomerRun, node_keys: NodeKeys, token: str, mint: RunningMint
) -> None:
    async def cancelled_first(customer: Customer) -> tuple[str | None, Answer]:
        job = customer.sign(job_tags("hi", MODEL, node_keys.pubkey, cashu=token))
        job_id = job.id().to_hex()
        await customer.publish(deletion(customer, job_id))
        await until_state(dvm, job_id, "cancelled")
        await customer.publish(job)
        await asyncio.sleep(SETTLE_S)
        return await asyncio.to_thread(job_state, dvm, job_id), await customer.answers(job_id)

    state, answer = as_customer(cancelled_first)

    assert state == "cancelled"
    assert answer.results == [] and answer.feedback == []  # a deletion alone does not say which DVM it was for
    assert asyncio.run(proof_states(mint, token)) == {"UNSPENT"}
    report = audited(dvm)
    assert (report.deposited_msat, report.charged_msat, report.assets_msat) == (0, 0, 0)


def test_a_cancel_of_a_finished_job_is_ignored(
    dvm: RunningNode, as_customer: CustomerRun, node_keys: NodeKeys, token: str
) -> None:
    async def done_then_cancelled(customer: Customer) -> tuple[Answer, str | None, Answer]:
        job = customer.sign(job_tags("hi", MODEL, node_keys.pubkey, cashu=token))
        done = await customer.wait(await customer.publish(job))
        job_id = job.id().to_hex()
        await customer.publish(deletion(customer, job_id))
        await asyncio.sleep(SETTLE_S)
        return done, await asyncio.to_thread(job_state, dvm, job_id), await customer.answers(job_id)

    done, state, after = as_customer(done_then_cancelled)

    assert len(done.results) == 1 and state == "done"
    assert sorted(after.statuses()) == ["processing", "success"]  # no error feedback
    report = audited(dvm)
    assert report.deposited_msat == 5000


def test_a_nutzap_for_a_cancelled_job_runs_nothing_and_stays_claimable(
    start_dvm: DvmFactory, as_customer: CustomerRun, node_keys: NodeKeys, mint: RunningMint
) -> None:
    node = start_dvm(announce=True, announce_force=True)  # the announcer publishes the 10019

    async def cancelled_then_nutzapped(customer: Customer) -> tuple[nostr_sdk.Keys, str]:
        unpaid = await customer.submit(job_tags("hi", MODEL, node_keys.pubkey))
        job_id = str(tag_value(unpaid.feedback[0], "e"))
        await customer.publish(deletion(customer, job_id))
        await until_state(node, job_id, "cancelled")
        proofs = await locked_proofs(mint, await listed_p2pk_key(customer, node_keys.pubkey), [1, 2])
        await nutzap(customer, proofs, mint.url, node_keys.pubkey, job_id)
        return customer.keys, job_id

    keys, job_id = as_customer(cancelled_then_nutzapped)
    assert deposited_msat(node, 3000) == 3000  # the nutzap is redeemed to the customer's balance
    time.sleep(SETTLE_S)
    answer = as_customer(lambda customer: customer.answers(job_id))
    url = node.url + "/dvm/refund"
    refunded = httpx.post(url, headers={"authorization": auth(keys, url)}, timeout=30)

    assert answer.results == [] and sorted(answer.statuses()) == ["error", "payment-required"]
    assert job_state(node, job_id) == "cancelled"
    assert refunded.status_code == 200 and decode_token(refunded.json()["token"]).amount == 3
    report = audited(node)
    assert (report.deposited_msat, report.charged_msat, report.refunded_msat) == (3000, 0, 3000)
