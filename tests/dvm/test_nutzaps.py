"""NIP-61 nutzaps to the DVM, end to end: a nostr-sdk customer reads the node's kind 10019, locks ecash to the P2PK key
it lists (minted against the real nutshell mint, or sent by nutshell's own wallet), and nutzaps a job the node
answered payment-required. The mint checking the node's signatures on the locked proofs is the independent check."""

import asyncio
import datetime
import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

import httpx
import nostr_sdk

from app.cashu.client import MintClient
from app.cashu.crypto import blind, point_hex, random_scalar
from app.cashu.keysets import choose_output_keyset
from app.cashu.outputs import OutputPlan, PlannedOutput, proof_y, proofs_from_signatures
from app.cashu.tokens import Proof, decode_token
from app.cashu.wallet import execute_swap, plan_swap
from app.dvm.nutzaps import nutzap_key
from app.nostr.keys import NodeKeys
from tests.dvm.customer import Answer, Customer, job_tags, tag_value, with_customer
from tests.dvm.test_cli import dvm_request
from tests.dvm.test_jobs import MODEL
from tests.dvm.test_refund import customer_account
from tests.fixtures.mint import RunningMint, extract_token
from tests.fixtures.node import NodeFactory, RunningNode
from tests.fixtures.relay import TestRelay
from tests.nostr.relay_helpers import eventually, fetch
from tests.payments.helpers import books, verified
from tests.payments.test_deposits import proof_states


def nutzap_node(
    node_factory: NodeFactory, keys: NodeKeys, mint: RunningMint, relays: Sequence[TestRelay]
) -> RunningNode:
    return node_factory(
        cashu_mints=[mint.url], dvm_enabled=True, relays=[relay.url for relay in relays], nsec=keys.nsec(),
        announce=True, announce_force=True,
    )  # fmt: skip


async def listed_p2pk_key(customer: Customer, node_pubkey: str) -> str:
    """What a NIP-61 client does first: read the recipient's kind 10019 and the P2PK key it lists."""
    wanted = nostr_sdk.Filter().kind(nostr_sdk.Kind(10019)).author(nostr_sdk.PublicKey.parse(node_pubkey))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        events = await customer.client.fetch_events(nostr_sdk.ReqTarget.auto([wanted]), _seconds(2))
        for event in events:
            assert event.verify()
            return str(next(tag[1] for tag in json.loads(event.as_json())["tags"] if tag[0] == "pubkey"))
        await asyncio.sleep(0.1)
    raise AssertionError("no kind 10019 on the relay")


async def locked_proofs(mint: RunningMint, pubkey: str, amounts: Sequence[int], **lock: Any) -> tuple[Proof, ...]:
    """Proofs whose NUT-10 secret locks them to `pubkey` (P2PK, SIG_INPUTS), minted at the real mint."""
    async with httpx.AsyncClient() as http:
        client = MintClient(http, mint.url)
        quote = await client.mint_quote(sum(amounts))
        assert (await client.mint_quote_status(quote.quote)).paid
        keyset = await client.keys(choose_output_keyset(await client.keysets()).id)
        plan = OutputPlan(tuple(_locked_output(amount, keyset.id, pubkey, **lock) for amount in amounts))
        return proofs_from_signatures(plan, await client.mint(quote.quote, plan.blinded_messages), keyset)


def _locked_output(
    amount: int, keyset_id: str, pubkey: str, sigflag: str = "SIG_INPUTS", locktime: int | None = None
) -> PlannedOutput:
    tags = [["sigflag", sigflag]] + ([["locktime", str(locktime)]] if locktime is not None else [])
    body = {"nonce": secrets.token_hex(16), "data": pubkey, "tags": tags}
    secret = json.dumps(["P2PK", body])
    r = random_scalar()
    return PlannedOutput(amount, keyset_id, secret, r.hex(), point_hex(blind(secret.encode(), r)))


def nutzap_tags(proofs: Sequence[Proof], mint_url: str, node_pubkey: str, job_id: str | None) -> list[list[str]]:
    tags = [["proof", json.dumps(proof.to_dict())] for proof in proofs]
    tags += [["u", mint_url], ["p", node_pubkey], ["k", "5050"]]
    return tags + ([["e", job_id]] if job_id else [])


async def nutzap(customer: Customer, proofs: Sequence[Proof], mint_url: str, node: str, job_id: str | None) -> str:
    return await customer.publish(customer.sign(nutzap_tags(proofs, mint_url, node, job_id), kind=9321))


async def result_of(customer: Customer, job_id: str, timeout_s: float = 20) -> Answer:
    """The job's answers once its 6050 and its success (or a final error) are on the relay."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = await customer.answers(job_id)
        if "success" in answer.statuses() or "error" in answer.statuses() or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.05)


async def spend(mint: RunningMint, proofs: Sequence[Proof]) -> None:
    async with httpx.AsyncClient() as http:
        client = MintClient(http, mint.url)
        await execute_swap(client, await plan_swap(client, proofs))


async def states(mint: RunningMint, proofs: Sequence[Proof]) -> set[str]:
    async with httpx.AsyncClient() as http:
        found = await MintClient(http, mint.url).checkstate([proof_y(p) for p in proofs])
    return {str(entry.state) for entry in found}


def deposited_msat(node: RunningNode, expected: int) -> int:
    async def reached() -> bool:
        return await asyncio.to_thread(lambda: books(node).deposited_msat) >= expected

    asyncio.run(eventually(reached, timeout_s=15, every_s=0.2))
    return books(node).deposited_msat


def charged_by(*answers: Answer) -> int:
    """What the jobs' results say they were charged (their `amount` tags, msat)."""
    return sum(int(tag_value(answer.results[0], "amount") or 0) for answer in answers)


def assert_kept(node: RunningNode, deposited_msat: int, charged_msat: int) -> None:
    """The books: what came in, what the jobs were charged, and the rest on the customers' balances."""
    report = books(node)
    kept = (report.deposited_msat, report.charged_msat, report.liabilities_msat)
    assert kept == (deposited_msat, charged_msat, deposited_msat - charged_msat)


def assert_books_and_mints(node: RunningNode) -> None:
    report = books(node)  # asserts the ledger check
    assert report.reconciles
    assert verified(node).ok


def _seconds(value: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=value)


def test_the_10019_lists_relays_mints_and_a_p2pk_key_apart_from_the_nostr_key(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    keys, relay = NodeKeys.generate(), nostr_relays[2]
    nutzap_node(node_factory, keys, mint, [relay])
    found: dict[int, dict[str, Any]] = {}

    async def published() -> bool:
        for event in await fetch(relay.url, [{"authors": [keys.pubkey], "kinds": [10019, 31990]}]):
            found[event["kind"]] = event
        return len(found) == 2

    asyncio.run(eventually(published, timeout_s=15))
    listed = with_customer(relay.url, lambda customer: listed_p2pk_key(customer, keys.pubkey))

    info = found[10019]
    assert nostr_sdk.Event.from_json(json.dumps(info)).verify()
    assert ["relay", relay.url] in info["tags"] and ["mint", mint.url, "sat"] in info["tags"]
    assert ["pubkey", listed] in info["tags"] and len(listed) == 66 and listed.startswith("02")
    assert listed[2:] != keys.pubkey  # not the node's Nostr identity key
    assert listed == nutzap_key(NodeKeys.from_secret(keys.nsec())).pubkey  # derived again from the same nsec
    assert json.loads(found[31990]["content"])["acceptsNutZaps"] is True


def test_payment_required_then_a_nutzap_runs_the_job_once_and_keeps_the_rest(
    node_factory: NodeFactory, mint_fee: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    keys, relay = NodeKeys.generate(), nostr_relays[0]
    node = nutzap_node(node_factory, keys, mint_fee, [relay])

    async def unpaid_then_nutzapped(customer: Customer) -> tuple[Answer, Answer, tuple[Proof, ...], str]:
        unpaid = await customer.submit(job_tags("hello, nutzapped node", MODEL, keys.pubkey))
        proofs = await locked_proofs(mint_fee, await listed_p2pk_key(customer, keys.pubkey), [1, 2, 2])
        zap_id = await nutzap(customer, proofs, mint_fee.url, keys.pubkey, answered_job_id(unpaid))
        return unpaid, await result_of(customer, answered_job_id(unpaid)), proofs, zap_id

    unpaid, paid, proofs, zap_id = with_customer(relay.url, unpaid_then_nutzapped)

    assert unpaid.statuses() == ["payment-required"] and paid.results and len(paid.results) == 1
    assert sorted(paid.statuses()) == ["payment-required", "processing", "success"]
    assert tag_value(paid.results[0], "cashu") is None  # the rest stays on the balance, claimable
    assert_kept(node, 4000, charged_by(paid))  # 5 sat in 3 proofs, less the mint's fee of 1 sat at 100 ppk
    assert asyncio.run(states(mint_fee, proofs)) == {"SPENT"}  # the mint took the node's P2PK signatures
    assert redeemed_amount(relay, keys, zap_id) == "4"
    assert_books_and_mints(node)


def redeemed_amount(relay: TestRelay, keys: NodeKeys, zap_id: str) -> str:
    """The amount in the node's kind 7376 for the nutzap, decrypted by nostr-sdk with the node's own key."""
    redeemed: list[dict[str, Any]] = []

    async def published() -> bool:
        redeemed[:] = await fetch(relay.url, [{"authors": [keys.pubkey], "kinds": [7376], "#e": [zap_id]}])
        return bool(redeemed)

    asyncio.run(eventually(published, timeout_s=10))
    (event,) = redeemed
    assert nostr_sdk.Event.from_json(json.dumps(event)).verify() and ["e", zap_id, "", "redeemed"] in event["tags"]
    secret, node_key = nostr_sdk.SecretKey.parse(keys.nsec()), nostr_sdk.PublicKey.parse(keys.pubkey)
    history = json.loads(nostr_sdk.nip44_decrypt(secret, node_key, event["content"]))
    assert ["direction", "in"] in history
    return str(next(tag[1] for tag in history if tag[0] == "amount"))


def answered_job_id(answer: Answer) -> str:
    return str(next(tag[1] for tag in answer.feedback[0]["tags"] if tag[0] == "e"))


def test_two_nutzaps_for_one_job_and_one_delivered_twice_run_it_once(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    keys, first, second = NodeKeys.generate(), nostr_relays[0], nostr_relays[1]
    node = nutzap_node(node_factory, keys, mint, [first, second])

    async def twice_paid(customer: Customer) -> tuple[Answer, Answer, list[Proof]]:
        await customer.client.add_relay(nostr_sdk.RelayUrl.parse(second.url))
        await customer.client.connect()  # every nutzap reaches the node from both relays
        unpaid = await customer.submit(job_tags("hi", MODEL, keys.pubkey))
        p2pk = await listed_p2pk_key(customer, keys.pubkey)
        ours = await locked_proofs(mint, p2pk, [4, 1])
        await mint.fund_cli(8)
        sent = decode_token(extract_token(mint.cli("send", "--lock", f"P2PK:{p2pk}", "--dleq", "3"))).proofs
        await asyncio.gather(  # two payments for one job, at once
            nutzap(customer, ours, mint.url, keys.pubkey, answered_job_id(unpaid)),
            nutzap(customer, sent, mint.url, keys.pubkey, answered_job_id(unpaid)),
        )
        paid = await result_of(customer, answered_job_id(unpaid))
        await asyncio.to_thread(deposited_msat, node, 8000)
        later = await customer.submit(job_tags("again, from what is left", MODEL, keys.pubkey))
        return paid, later, [*ours, *sent]

    paid, later, proofs = with_customer(first.url, twice_paid)

    assert len({event["id"] for event in paid.results}) == 1
    assert sorted(paid.statuses()) == ["payment-required", "processing", "success"]
    assert len(later.results) == 1  # the over-payment stayed on the balance and paid the next job
    assert_kept(node, 8000, charged_by(paid, later))  # 5 sat of ours and 3 sat locked by nutshell's wallet, once each
    assert asyncio.run(states(mint, proofs)) == {"SPENT"}
    assert_books_and_mints(node)


def test_nutzaps_not_locked_to_the_node_spent_or_of_an_untrusted_mint_credit_nothing_and_run_nothing(
    node_factory: NodeFactory, mint: RunningMint, mint_fee: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    keys, relay = NodeKeys.generate(), nostr_relays[0]
    node = nutzap_node(node_factory, keys, mint, [relay])  # mint_fee is not trusted here

    async def refused(customer: Customer) -> tuple[str, str, str, list[Proof], list[Proof]]:
        job_id = answered_job_id(await customer.submit(job_tags("hi", MODEL, keys.pubkey)))
        p2pk = await listed_p2pk_key(customer, keys.pubkey)
        to_nostr_key = await locked_proofs(mint, "02" + keys.pubkey, [8])  # the node's Nostr key is not the P2PK one
        sig_all = await locked_proofs(mint, p2pk, [8], sigflag="SIG_ALL")
        untrusted = await locked_proofs(mint_fee, p2pk, [8])
        spent = await locked_proofs(mint, p2pk, [8], locktime=int(time.time()) - 60)  # expired, no refund key:
        await spend(mint, spent)  # anyone may spend it, and its sender did before nutzapping it
        nutzapped = ((to_nostr_key, mint.url), (sig_all, mint.url), (untrusted, mint_fee.url), (spent, mint.url))
        for proofs, mint_url in nutzapped:
            await nutzap(customer, proofs, mint_url, keys.pubkey, job_id)
        tipped = await locked_proofs(mint, p2pk, [2])
        await nutzap(customer, tipped, mint.url, keys.pubkey, None)  # for no job: it just credits the balance
        await asyncio.to_thread(deposited_msat, node, 2000)
        thief = Customer(relay.url)
        await thief.connect()
        try:  # the same (public) proofs in another author's nutzap, for its own job: already spent, nothing
            thief_job = answered_job_id(await thief.submit(job_tags("hi", MODEL, keys.pubkey)))
            await nutzap(thief, tipped, mint.url, keys.pubkey, thief_job)
        finally:
            await thief.close()
        await asyncio.sleep(2)  # time enough for the node to look at every nutzap
        return job_id, thief_job, thief.pubkey, [*to_nostr_key, *sig_all], list(untrusted)

    job_id, thief_job, thief, at_mint, at_untrusted = with_customer(relay.url, refused)

    async def answers(customer: Customer) -> list[Answer]:
        return [await customer.answers(job) for job in (job_id, thief_job)]

    for answer in with_customer(relay.url, answers):
        assert answer.results == [] and answer.statuses() == ["payment-required"]
    assert_kept(node, 2000, 0)
    assert asyncio.run(states(mint, at_mint)) == {"UNSPENT"}  # never swapped: the node refused them first
    assert asyncio.run(states(mint_fee, at_untrusted)) == {"UNSPENT"}
    assert customer_account(node, thief) is None  # replaying public proofs opens no account
    assert_books_and_mints(node)


def test_two_node_processes_on_one_database_credit_a_nutzap_once_and_run_its_job_once(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    keys, relay = NodeKeys.generate(), nostr_relays[1]
    node = nutzap_node(node_factory, keys, mint, [relay])
    nutzap_node(node_factory, keys, mint, [relay])  # the same node twice: each hears every job and nutzap

    async def paid(customer: Customer) -> tuple[Answer, tuple[Proof, ...], str]:
        unpaid = await customer.submit(job_tags("hi", MODEL, keys.pubkey))
        proofs = await locked_proofs(mint, await listed_p2pk_key(customer, keys.pubkey), [4, 2, 1])
        zap_id = await nutzap(customer, proofs, mint.url, keys.pubkey, answered_job_id(unpaid))
        await result_of(customer, answered_job_id(unpaid))
        await asyncio.sleep(1)  # the other process's late run (if it ran twice) would be on the relay by now
        return await customer.answers(answered_job_id(unpaid)), proofs, zap_id

    answer, proofs, zap_id = with_customer(relay.url, paid)

    assert len(answer.results) == 1 and sorted(answer.statuses()) == ["payment-required", "processing", "success"]
    assert_kept(node, 7000, charged_by(answer))
    assert asyncio.run(states(mint, proofs)) == {"SPENT"}
    assert redeemed_amount(relay, keys, zap_id) == "7"  # one kind 7376: by the process that redeemed it
    assert_books_and_mints(node)


def test_the_cli_pays_a_payment_required_job_with_a_nutzap(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    keys, relay = NodeKeys.generate(), nostr_relays[2]
    node = nutzap_node(node_factory, keys, mint, [relay])
    token = asyncio.run(mint.make_token(4))
    asyncio.run(eventually(lambda: fetch(relay.url, [{"authors": [keys.pubkey], "kinds": [10019]}]), timeout_s=15))

    done = dvm_request(
        relay.url, "--model", MODEL, "--prompt", "hello", "--provider", keys.npub, "--cashu", token, "--nutzap",
        "--max-tokens", "8",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() and "cost: " in done.stderr and "change" not in done.stdout
    assert_kept(node, 4000, int(done.stderr.split("cost: ", 1)[1].split()[0]))
    assert asyncio.run(proof_states(mint, token)) == {"SPENT"}  # swapped into proofs locked to the node's key
    assert_books_and_mints(node)


def test_a_nutzap_that_arrives_while_its_mint_is_down_is_redeemed_when_it_is_back(
    node_factory: NodeFactory, mint_fee: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    keys, relay = NodeKeys.generate(), nostr_relays[0]
    node = nutzap_node(node_factory, keys, mint_fee, [relay])

    async def paid_while_down(customer: Customer) -> tuple[Answer, tuple[Proof, ...]]:
        unpaid = await customer.submit(job_tags("hi", MODEL, keys.pubkey))
        proofs = await locked_proofs(mint_fee, await listed_p2pk_key(customer, keys.pubkey), [4, 2, 1])
        mint_fee.stop()
        try:
            await nutzap(customer, proofs, mint_fee.url, keys.pubkey, answered_job_id(unpaid))
            await asyncio.sleep(1.5)
            assert (await customer.answers(answered_job_id(unpaid))).results == []
        finally:
            await asyncio.to_thread(mint_fee.start)
        return await result_of(customer, answered_job_id(unpaid), timeout_s=30), proofs

    answer, proofs = with_customer(relay.url, paid_while_down)

    assert len(answer.results) == 1
    assert_kept(node, 6000, charged_by(answer))
    assert asyncio.run(states(mint_fee, proofs)) == {"SPENT"}
    assert_books_and_mints(node)


def test_a_nutzap_sent_with_the_job_pays_for_it_whichever_arrives_first(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    keys, relay = NodeKeys.generate(), nostr_relays[1]
    node = nutzap_node(node_factory, keys, mint, [relay])

    async def at_once(customer: Customer) -> Answer:
        proofs = await locked_proofs(mint, await listed_p2pk_key(customer, keys.pubkey), [4, 1])
        job = customer.sign(job_tags("hi", MODEL, keys.pubkey))
        zap = customer.sign(nutzap_tags(proofs, mint.url, keys.pubkey, job.id().to_hex()), kind=9321)
        await asyncio.gather(customer.publish(job), customer.publish(zap))
        return await result_of(customer, job.id().to_hex())

    answers = [with_customer(relay.url, at_once) for _ in range(2)]  # two customers: both orders have a fair chance

    assert [len(answer.results) for answer in answers] == [1, 1]
    assert all(answer.statuses().count("success") == 1 for answer in answers)
    assert_kept(node, 10_000, charged_by(*answers))
    assert_books_and_mints(node)
