"""The node as a NIP-90 service provider, end to end: real relay, real mint, both databases, a nostr-sdk customer."""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from app.cashu.tokens import decode_token
from app.nostr.keys import NodeKeys
from tests.dvm.customer import Answer, Customer, job_tags, tag_value
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode
from tests.fixtures.relay import TestRelay
from tests.payments.helpers import books
from tests.payments.test_deposits import proof_states

T = TypeVar("T")
NODE_KEYS = NodeKeys.generate()
MODEL = "standin-small"


def dvm_node(node_factory: NodeFactory, mint: RunningMint, relay: TestRelay, **overrides: Any) -> RunningNode:
    return node_factory(
        cashu_mints=[mint.url], dvm_enabled=True, relays=[relay.url], nsec=NODE_KEYS.nsec(), **overrides
    )


def with_customer(relay: TestRelay, work: Callable[[Customer], Coroutine[Any, Any, T]]) -> T:
    async def run() -> T:
        customer = Customer(relay.url)
        await customer.connect()
        try:
            return await work(customer)
        finally:
            await customer.close()

    return asyncio.run(run())


async def submit(customer: Customer, tags: list[list[str]]) -> Answer:
    job_id = await customer.publish(customer.sign(tags))
    return await customer.wait(job_id)


def test_a_job_paid_with_a_token_gets_one_result_and_its_change(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    relay = nostr_relays[0]
    node = dvm_node(node_factory, mint, relay)
    token = asyncio.run(mint.make_token(5))

    answer = with_customer(
        relay, lambda c: submit(c, job_tags("hello there, node", MODEL, NODE_KEYS.pubkey, cashu=token))
    )

    assert len(answer.results) == 1, answer
    result = answer.results[0]
    assert result["content"]
    assert sorted(answer.statuses()) == ["processing", "success"]
    charged = int(tag_value(result, "amount") or 0)
    change = tag_value(result, "cashu")
    assert change is not None and 0 < charged < 1000
    change_msat = decode_token(change).amount * 1000
    report = books(node)
    assert report.reconciles
    kept_msat = 5000 - charged - change_msat  # less than a sat stays on the customer's balance
    assert 0 <= kept_msat < 1000
    assert report.deposited_msat == 5000 and report.charged_msat == charged
    assert (report.refunded_msat, report.liabilities_msat) == (change_msat, kept_msat)  # paid = charged + change
    assert asyncio.run(proof_states(mint, token)) == {"SPENT"}
    mint.cli("receive", change)  # an independent wallet redeems the change (it raises if the mint refuses)
    assert asyncio.run(proof_states(mint, change)) == {"SPENT"}  # the nutshell wallet redeemed it
