"""The node as a NIP-90 service provider, end to end: real relay, real mint, both databases, a nostr-sdk customer."""

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import nostr_sdk

from app.cashu.tokens import decode_token
from app.nostr.keys import NodeKeys
from tests.dvm.customer import Answer, Customer, job_tags, tag_value
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode
from tests.fixtures.ports import free_port
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


def test_an_unknown_model_gets_an_error_and_moves_no_money(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    relay = nostr_relays[0]
    node = dvm_node(node_factory, mint, relay)
    token = asyncio.run(mint.make_token(5))

    answer = with_customer(relay, lambda c: submit(c, job_tags("hi", "no-such-model", NODE_KEYS.pubkey, cashu=token)))

    assert answer.results == [] and answer.statuses() == ["error"]
    assert "no-such-model" in answer.status_reason("error")
    assert asyncio.run(proof_states(mint, token)) == {"UNSPENT"}  # never redeemed
    report = books(node)
    assert (report.deposited_msat, report.charged_msat, report.assets_msat) == (0, 0, 0)


def test_a_spent_token_gets_an_error_and_no_run(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    relay = nostr_relays[0]
    node = dvm_node(node_factory, mint, relay)
    token = asyncio.run(mint.make_token(5))
    mint.cli("receive", token)  # spent by someone else first

    answer = with_customer(relay, lambda c: submit(c, job_tags("hi", MODEL, NODE_KEYS.pubkey, cashu=token)))

    assert answer.results == [] and answer.statuses() == ["error"]
    assert "spent" in answer.status_reason("error")
    report = books(node)
    assert (report.deposited_msat, report.charged_msat, report.assets_msat) == (0, 0, 0)


def test_payment_required_then_a_resubmitted_job_with_a_token_runs_once(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    relay = nostr_relays[0]
    node = dvm_node(node_factory, mint, relay)
    token = asyncio.run(mint.make_token(5))

    async def unpaid_then_paid(customer: Customer) -> tuple[Answer, Answer]:
        unpaid = await submit(customer, job_tags("hi", MODEL, NODE_KEYS.pubkey))
        paid = await submit(customer, job_tags("hi", MODEL, NODE_KEYS.pubkey, cashu=token))
        return unpaid, paid

    unpaid, paid = with_customer(relay, unpaid_then_paid)

    assert unpaid.results == [] and unpaid.statuses() == ["payment-required"]
    amount = next(t for t in unpaid.feedback[0]["tags"] if t[0] == "amount")
    assert 0 < int(amount[1]) < 1000  # the job's maximum cost in msat
    assert len(paid.results) == 1
    charged = int(tag_value(paid.results[0], "amount") or 0)
    report = books(node)
    assert report.reconciles and report.charged_msat == charged and report.deposited_msat == 5000


def test_a_customer_with_a_balance_is_charged_from_it_without_a_payment(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    relay = nostr_relays[0]
    node = dvm_node(node_factory, mint, relay)
    token = asyncio.run(mint.make_token(1))  # 1 sat: under a sat of change is left on the balance

    async def paid_then_from_balance(customer: Customer) -> tuple[Answer, Answer]:
        first = await submit(customer, job_tags("hi", MODEL, NODE_KEYS.pubkey, cashu=token))
        second = await submit(customer, job_tags("hi", MODEL, NODE_KEYS.pubkey))
        return first, second

    first, second = with_customer(relay, paid_then_from_balance)

    assert tag_value(first.results[0], "cashu") is None  # nothing to give back in whole sats
    assert len(second.results) == 1 and tag_value(second.results[0], "cashu") is None
    charged = sum(int(tag_value(a.results[0], "amount") or 0) for a in (first, second))
    report = books(node)
    assert report.reconciles and report.charged_msat == charged
    assert report.liabilities_msat == 1000 - charged


def test_a_job_delivered_by_two_relays_runs_once(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    first, second = nostr_relays[0], nostr_relays[1]
    node = node_factory(cashu_mints=[mint.url], dvm_enabled=True, relays=[first.url, second.url], nsec=NODE_KEYS.nsec())
    token = asyncio.run(mint.make_token(5))

    async def twice(customer: Customer) -> Answer:
        await customer.client.add_relay(nostr_sdk.RelayUrl.parse(second.url))
        await customer.client.connect()
        return await submit(customer, job_tags("hi", MODEL, NODE_KEYS.pubkey, cashu=token))

    answer = with_customer(first, twice)

    assert len({event["id"] for event in answer.results}) == 1
    assert sorted(answer.statuses()) == ["processing", "success"]
    report = books(node)
    assert report.reconciles and report.deposited_msat == 5000
    assert report.charged_msat == int(tag_value(answer.results[0], "amount") or 0)


def test_an_encrypted_job_is_answered_encrypted(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    relay = nostr_relays[0]
    node = dvm_node(node_factory, mint, relay)
    token = asyncio.run(mint.make_token(5))
    node_key = nostr_sdk.PublicKey.parse(NODE_KEYS.pubkey)

    async def encrypted(customer: Customer) -> tuple[Answer, str, str]:
        secret = json.dumps(
            [
                ["i", "a secret prompt", "text"],
                ["param", "model", MODEL],
                ["param", "max_tokens", "8"],
                ["cashu", token],
            ]
        )
        sealed = nostr_sdk.nip44_encrypt(customer.keys.secret_key(), node_key, secret, nostr_sdk.Nip44Version.V2)
        builder = nostr_sdk.EventBuilder(nostr_sdk.Kind(5050), sealed).tags(
            [nostr_sdk.Tag.parse(["p", NODE_KEYS.pubkey]), nostr_sdk.Tag.parse(["encrypted"])]
        )
        job_id = await customer.publish(customer.keys.sign_event(builder.finalize_unsigned(customer.keys.public_key())))
        answer = await customer.wait(job_id)
        assert answer.results, [e["tags"] for e in answer.feedback]
        result = answer.results[0]
        text = nostr_sdk.nip44_decrypt(customer.keys.secret_key(), node_key, result["content"])
        change = nostr_sdk.nip44_decrypt(customer.keys.secret_key(), node_key, tag_value(result, "cashu") or "")
        return answer, text, change

    answer, text, change = with_customer(relay, encrypted)

    result = answer.results[0]
    assert ["encrypted"] in result["tags"] and tag_value(result, "i") is None
    assert "secret prompt" not in json.dumps(result)
    assert text and decode_token(change).amount == 4
    report = books(node)
    assert report.reconciles and report.charged_msat == int(tag_value(result, "amount") or 0)


def test_event_inputs_are_read_from_the_relays_and_jobs_chain(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    relay = nostr_relays[0]
    node = dvm_node(node_factory, mint, relay)
    tokens = [asyncio.run(mint.make_token(5)) for _ in range(2)]

    async def chained(customer: Customer) -> tuple[Answer, Answer, Answer]:
        note_id = await customer.publish(customer.sign([], kind=1, content="x" * 3000))
        rest = job_tags("", MODEL, NODE_KEYS.pubkey)[1:]  # model, max_tokens, p: the inputs come first
        from_note = await submit(customer, [["i", note_id, "event", relay.url], *rest, ["cashu", tokens[0]]])
        from_job = await submit(customer, [["i", from_note.results[0]["id"], "job"], *rest, ["cashu", tokens[1]]])
        missing = await submit(customer, [["i", "ab" * 32, "event"], *rest])
        return from_note, from_job, missing

    from_note, from_job, missing = with_customer(relay, chained)

    long_prompt_cost = int(tag_value(from_note.results[0], "amount") or 0)
    assert long_prompt_cost > 700  # about 750 prompt tokens at 1 msat: the note's text was the prompt
    assert len(from_job.results) == 1 and tag_value(from_job.results[0], "i") == from_note.results[0]["id"]
    assert int(tag_value(from_job.results[0], "amount") or 0) < long_prompt_cost
    assert missing.statuses() == ["error"] and "not found" in missing.status_reason("error")
    assert books(node).reconciles


def test_a_relay_that_is_down_does_not_hold_the_answer(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    relay, down = nostr_relays[0], f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    node = node_factory(cashu_mints=[mint.url], dvm_enabled=True, relays=[relay.url, down], nsec=NODE_KEYS.nsec())
    token = asyncio.run(mint.make_token(5))

    async def timed(customer: Customer) -> tuple[Answer, float]:
        started = time.monotonic()
        answer = await submit(customer, job_tags("hi", MODEL, NODE_KEYS.pubkey, cashu=token))
        return answer, time.monotonic() - started

    answer, seconds = with_customer(relay, timed)

    assert len(answer.results) == 1 and seconds < 5  # the publish timeout is 10 s per relay
    assert books(node).reconciles
