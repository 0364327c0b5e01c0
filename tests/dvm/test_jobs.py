"""The node as a NIP-90 service provider, end to end: real relay, real mint, both databases, a nostr-sdk customer.
Every test ends with the books and the mint's own audit of the node's journal."""

import asyncio
import json
import time
from collections.abc import Callable

import nostr_sdk
import pytest

from app.cashu.tokens import decode_token
from app.nostr.keys import NodeKeys
from tests.dvm.books import audited
from tests.dvm.conftest import CustomerRun, DvmFactory
from tests.dvm.customer import Answer, Customer, job_tags, tag_value
from tests.dvm.test_refund import customer_account
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import RunningNode
from tests.fixtures.ports import free_port
from tests.fixtures.relay import TestRelay
from tests.payments.test_deposits import proof_states

MODEL = "standin-small"


def test_a_job_paid_with_a_token_gets_one_result_and_its_change(
    dvm: RunningNode, as_customer: CustomerRun, node_keys: NodeKeys, token: str, mint: RunningMint
) -> None:
    answer = as_customer(lambda c: c.submit(job_tags("hello there, node", MODEL, node_keys.pubkey, cashu=token)))

    assert len(answer.results) == 1, answer
    result = answer.results[0]
    assert result["content"]
    assert sorted(answer.statuses()) == ["processing", "success"]
    charged = int(tag_value(result, "amount") or 0)
    change = tag_value(result, "cashu")
    assert change is not None and 0 < charged < 1000
    change_msat = decode_token(change).amount * 1000
    report = audited(dvm)
    kept_msat = 5000 - charged - change_msat  # less than a sat stays on the customer's balance
    assert 0 <= kept_msat < 1000
    assert report.deposited_msat == 5000 and report.charged_msat == charged
    assert (report.refunded_msat, report.liabilities_msat) == (change_msat, kept_msat)  # paid = charged + change
    assert asyncio.run(proof_states(mint, token)) == {"SPENT"}
    mint.cli("receive", change)  # an independent wallet redeems the change (it raises if the mint refuses)
    assert asyncio.run(proof_states(mint, change)) == {"SPENT"}  # the nutshell wallet redeemed it
    audited(dvm)


def test_an_unknown_model_gets_an_error_and_moves_no_money(
    dvm: RunningNode, as_customer: CustomerRun, node_keys: NodeKeys, token: str, mint: RunningMint
) -> None:
    answer = as_customer(lambda c: c.submit(job_tags("hi", "no-such-model", node_keys.pubkey, cashu=token)))

    assert answer.results == [] and answer.statuses() == ["error"]
    assert "no-such-model" in answer.status_reason("error")
    assert asyncio.run(proof_states(mint, token)) == {"UNSPENT"}  # never redeemed
    report = audited(dvm)
    assert (report.deposited_msat, report.charged_msat, report.assets_msat) == (0, 0, 0)


def test_a_spent_token_gets_an_error_and_no_run(
    dvm: RunningNode, as_customer: CustomerRun, node_keys: NodeKeys, token: str, mint: RunningMint
) -> None:
    mint.cli("receive", token)  # spent by someone else first

    answer = as_customer(lambda c: c.submit(job_tags("hi", MODEL, node_keys.pubkey, cashu=token)))

    assert answer.results == [] and answer.statuses() == ["error"]
    assert "spent" in answer.status_reason("error")
    report = audited(dvm)
    assert (report.deposited_msat, report.charged_msat, report.assets_msat) == (0, 0, 0)


def test_payment_required_then_a_resubmitted_job_with_a_token_runs_once(
    dvm: RunningNode, as_customer: CustomerRun, node_keys: NodeKeys, token: str
) -> None:
    async def unpaid_then_paid(customer: Customer) -> tuple[Answer, Answer]:
        unpaid = await customer.submit(job_tags("hi", MODEL, node_keys.pubkey))
        paid = await customer.submit(job_tags("hi", MODEL, node_keys.pubkey, cashu=token))
        return unpaid, paid

    unpaid, paid = as_customer(unpaid_then_paid)

    assert unpaid.results == [] and unpaid.statuses() == ["payment-required"]
    amount = next(t for t in unpaid.feedback[0]["tags"] if t[0] == "amount")
    assert 0 < int(amount[1]) < 1000  # the job's maximum cost in msat
    assert len(paid.results) == 1
    charged = int(tag_value(paid.results[0], "amount") or 0)
    report = audited(dvm)
    assert report.charged_msat == charged and report.deposited_msat == 5000


def test_an_unpaid_job_of_a_stranger_leaves_no_account_behind(
    dvm: RunningNode, as_customer: CustomerRun, node_keys: NodeKeys
) -> None:
    """Anyone can sign jobs with fresh keys: an account is opened when money arrives, not for every job."""
    stranger: list[str] = []

    async def unpaid(customer: Customer) -> Answer:
        stranger.append(customer.pubkey)
        return await customer.submit(job_tags("hi", MODEL, node_keys.pubkey))

    assert as_customer(unpaid).statuses() == ["payment-required"]
    assert customer_account(dvm, stranger[0]) is None


def test_a_customer_with_a_balance_is_charged_from_it_without_a_payment(
    dvm: RunningNode, as_customer: CustomerRun, node_keys: NodeKeys, mint: RunningMint
) -> None:
    token = asyncio.run(mint.make_token(1))  # 1 sat: under a sat of change is left on the balance

    async def paid_then_from_balance(customer: Customer) -> tuple[Answer, Answer]:
        first = await customer.submit(job_tags("hi", MODEL, node_keys.pubkey, cashu=token))
        second = await customer.submit(job_tags("hi", MODEL, node_keys.pubkey))
        return first, second

    first, second = as_customer(paid_then_from_balance)

    assert tag_value(first.results[0], "cashu") is None  # nothing to give back in whole sats
    assert len(second.results) == 1 and tag_value(second.results[0], "cashu") is None
    charged = sum(int(tag_value(a.results[0], "amount") or 0) for a in (first, second))
    report = audited(dvm)
    assert report.charged_msat == charged and report.liabilities_msat == 1000 - charged


def test_a_job_delivered_by_two_relays_runs_once(
    start_dvm: DvmFactory, as_customer: CustomerRun, node_keys: NodeKeys, token: str, nostr_relays: list[TestRelay]
) -> None:
    first, second = nostr_relays[0], nostr_relays[1]
    node = start_dvm(relays=[first.url, second.url])

    async def twice(customer: Customer) -> Answer:
        await customer.client.add_relay(nostr_sdk.RelayUrl.parse(second.url))
        await customer.client.connect()
        return await customer.submit(job_tags("hi", MODEL, node_keys.pubkey, cashu=token))

    answer = as_customer(twice)

    assert len({event["id"] for event in answer.results}) == 1
    assert sorted(answer.statuses()) == ["processing", "success"]
    report = audited(node)
    assert report.deposited_msat == 5000
    assert report.charged_msat == int(tag_value(answer.results[0], "amount") or 0)


Seal = Callable[[nostr_sdk.SecretKey, nostr_sdk.PublicKey, str], str]
SEALS: dict[str, tuple[Seal, Seal]] = {  # how nostr-sdk encrypts to the node, and decrypts what comes back
    "nip44": (
        lambda secret, peer, text: nostr_sdk.nip44_encrypt(secret, peer, text, nostr_sdk.Nip44Version.V2),
        nostr_sdk.nip44_decrypt,
    ),
    "nip04": (nostr_sdk.nip04_encrypt, nostr_sdk.nip04_decrypt),
}


@pytest.mark.parametrize("scheme", sorted(SEALS))
def test_an_encrypted_job_is_answered_encrypted_the_same_way(
    dvm: RunningNode, as_customer: CustomerRun, node_keys: NodeKeys, token: str, scheme: str
) -> None:
    node_key = nostr_sdk.PublicKey.parse(node_keys.pubkey)
    encrypt, decrypt = SEALS[scheme]

    async def encrypted(customer: Customer) -> tuple[Answer, str, str]:
        secret = [["i", "a secret prompt", "text"], ["param", "model", MODEL], ["param", "max_tokens", "8"],
                  ["cashu", token]]  # fmt: skip
        sealed = encrypt(customer.keys.secret_key(), node_key, json.dumps(secret))
        job = customer.sign([["p", node_keys.pubkey], ["encrypted"]], content=sealed)
        answer = await customer.wait(await customer.publish(job))
        assert answer.results, [e["tags"] for e in answer.feedback]
        result = answer.results[0]
        text = decrypt(customer.keys.secret_key(), node_key, result["content"])
        change = decrypt(customer.keys.secret_key(), node_key, tag_value(result, "cashu") or "")
        return answer, text, change

    answer, text, change = as_customer(encrypted)

    result = answer.results[0]
    assert ["encrypted"] in result["tags"] and tag_value(result, "i") is None
    assert "secret prompt" not in json.dumps(result)
    assert ("?iv=" in result["content"]) is (scheme == "nip04")
    assert text and decode_token(change).amount == 4
    report = audited(dvm)
    assert report.charged_msat == int(tag_value(result, "amount") or 0)


def test_event_inputs_are_read_from_the_relays_and_jobs_chain(
    dvm: RunningNode, as_customer: CustomerRun, node_keys: NodeKeys, relay: TestRelay, mint: RunningMint
) -> None:
    tokens = [asyncio.run(mint.make_token(5)) for _ in range(2)]

    async def chained(customer: Customer) -> tuple[Answer, Answer, Answer]:
        note_id = await customer.publish(customer.sign([], kind=1, content="x" * 3000))
        rest = job_tags("", MODEL, node_keys.pubkey)[1:]  # model, max_tokens, p: the inputs come first
        from_note = await customer.submit([["i", note_id, "event", relay.url], *rest, ["cashu", tokens[0]]])
        from_job = await customer.submit([["i", from_note.results[0]["id"], "job"], *rest, ["cashu", tokens[1]]])
        missing = await customer.submit([["i", "ab" * 32, "event"], *rest])
        return from_note, from_job, missing

    from_note, from_job, missing = as_customer(chained)

    long_prompt_cost = int(tag_value(from_note.results[0], "amount") or 0)
    assert long_prompt_cost > 700  # about 750 prompt tokens at 1 msat: the note's text was the prompt
    assert len(from_job.results) == 1 and tag_value(from_job.results[0], "i") == from_note.results[0]["id"]
    assert int(tag_value(from_job.results[0], "amount") or 0) < long_prompt_cost
    assert missing.statuses() == ["error"] and "not found" in missing.status_reason("error")
    assert audited(dvm).deposited_msat == 10_000


def test_a_relay_that_is_down_does_not_hold_the_answer(
    start_dvm: DvmFactory, as_customer: CustomerRun, node_keys: NodeKeys, relay: TestRelay, token: str
) -> None:
    down = f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    node = start_dvm(relays=[relay.url, down])

    async def timed(customer: Customer) -> tuple[Answer, float]:
        started = time.monotonic()
        answer = await customer.submit(job_tags("hi", MODEL, node_keys.pubkey, cashu=token))
        return answer, time.monotonic() - started

    answer, seconds = as_customer(timed)

    assert len(answer.results) == 1 and seconds < 5  # the publish timeout is 10 s per relay
    assert audited(node).deposited_msat == 5000
