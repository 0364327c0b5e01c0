"""A process that dies between crediting a nutzap and running the job it pays for: the money is on the customer's
balance, and the next node on the database (the nutzap delivered again from the relay) runs the job once from it."""

import asyncio
import json

import pytest

from app.cashu.tokens import Proof
from app.dvm.nutzaps import Nutzaps, nutzap_key, read_nutzap
from app.dvm.publisher import JobPublisher
from app.ledger.dvm_jobs import DvmJobs
from app.nostr.keys import NodeKeys
from app.nostr.pool import RelayPool
from tests.dvm.customer import Answer, Customer, job_tags, with_customer
from tests.dvm.test_jobs import MODEL
from tests.dvm.test_nutzaps import (
    answered_job_id,
    assert_books_and_mints,
    assert_kept,
    charged_by,
    listed_p2pk_key,
    locked_proofs,
    nutzap_node,
    nutzap_tags,
    result_of,
    states,
)
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory
from tests.fixtures.relay import TestRelay
from tests.payments.crash_harness import Crash, process


async def _dies(job_id: str, customer: str, hints: tuple[str, ...]) -> bool:
    raise Crash()


def test_a_process_dying_after_crediting_a_nutzap_leaves_the_job_to_the_next_one(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay], database_url: str
) -> None:
    keys, relay = NodeKeys.generate(), nostr_relays[1]
    first = nutzap_node(node_factory, keys, mint, [relay])

    async def paid_across_a_crash(customer: Customer) -> tuple[Answer, Answer, int, bool, tuple[Proof, ...]]:
        unpaid = await customer.submit(job_tags("hello, node that dies", MODEL, keys.pubkey))
        proofs = await locked_proofs(mint, await listed_p2pk_key(customer, keys.pubkey), [4, 1])
        await asyncio.to_thread(first.stop)  # nobody else takes the nutzap off the relay
        zap = customer.sign(nutzap_tags(proofs, mint.url, keys.pubkey, answered_job_id(unpaid)), kind=9321)
        await customer.publish(zap)

        async with process(database_url, mint.url) as dying:
            jobs = DvmJobs(dying.db, owner="a-process-that-dies")
            redeemer = Nutzaps(dying.deposits, jobs, nutzap_key(keys), _dies, JobPublisher(keys, RelayPool(), 5))
            nutzap = read_nutzap(json.loads(zap.as_json()), keys.pubkey)
            assert nutzap is not None
            with pytest.raises(Crash):
                await redeemer.redeem(nutzap)  # credited, then the process dies before the job is taken
            credited = (await jobs.customer(customer.pubkey)).available_msat
            waiting = await jobs.awaits_payment(answered_job_id(unpaid), customer.pubkey)

        await asyncio.to_thread(nutzap_node, node_factory, keys, mint, [relay])
        return unpaid, await result_of(customer, answered_job_id(unpaid), timeout_s=30), credited, waiting, proofs

    unpaid, paid, credited, waiting, proofs = with_customer(relay.url, paid_across_a_crash)

    assert unpaid.statuses() == ["payment-required"]
    assert (credited, waiting) == (5000, True)  # the money on the balance, the job not taken by the dead process
    assert len(paid.results) == 1 and sorted(paid.statuses()) == ["payment-required", "processing", "success"]
    assert charged_by(paid) > 0
    assert_kept(first, 5000, charged_by(paid))  # credited once, though two processes redeemed the nutzap
    assert asyncio.run(states(mint, proofs)) == {"SPENT"}
    assert_books_and_mints(first)
