"""NIP-65 inbox: the DVM takes jobs from the read relays of the node's own kind 10002 and answers on its write
relays; without a list, RELAYS serve both ways."""

import asyncio

import nostr_sdk

from app.dvm.inbox import Inbox, inbox_from
from app.nostr.event import sign_event
from app.nostr.keys import NodeKeys
from tests.dvm.books import audited
from tests.dvm.conftest import DvmFactory
from tests.dvm.customer import Answer, Customer, job_tags
from tests.fixtures.relay import TestRelay
from tests.nostr.relay_helpers import fetch

RELAYS = ("wss://relay.one", "wss://relay.two")


def test_read_and_write_relays_follow_the_markers() -> None:
    keys = NodeKeys.generate()
    tags = [["r", "wss://both"], ["r", "wss://in", "read"], ["r", "wss://out", "write"], ["r", "https://no"], ["x"]]
    relay_list = sign_event(keys, 10002, tags, "")
    only_out = sign_event(keys, 10002, [["r", "wss://out", "write"]], "")

    assert inbox_from(relay_list, RELAYS) == Inbox(("wss://both", "wss://in"), ("wss://both", "wss://out"))
    assert inbox_from(only_out, RELAYS) == Inbox(RELAYS, ("wss://out",))
    assert inbox_from(None, RELAYS) == Inbox(RELAYS, RELAYS)


def publish_relay_list(relay_url: str, keys: NodeKeys, tags: list[list[str]]) -> None:
    """The operator's kind 10002, signed by nostr-sdk with the node's key."""

    async def publish() -> None:
        operator = Customer(relay_url)
        operator.keys = nostr_sdk.Keys.parse(keys.nsec())
        await operator.connect()
        try:
            await operator.publish(operator.sign(tags, kind=10002))
        finally:
            await operator.close()

    asyncio.run(publish())


def test_jobs_are_taken_from_the_read_relays_and_answered_on_the_write_relays(
    start_dvm: DvmFactory, node_keys: NodeKeys, nostr_relays: list[TestRelay], token: str
) -> None:
    home, inbox, outbox = nostr_relays
    publish_relay_list(home.url, node_keys, [["r", inbox.url, "read"], ["r", outbox.url, "write"]])
    node = start_dvm(relays=[home.url])

    async def job_on_the_inbox() -> tuple[str, Answer]:
        customer = Customer(inbox.url)
        await customer.connect()
        try:
            job_id = await customer.publish(
                customer.sign(job_tags("hi", "standin-small", node_keys.pubkey, cashu=token))
            )
            await customer.client.add_relay(nostr_sdk.RelayUrl.parse(outbox.url))
            await customer.client.connect()
            return job_id, await customer.wait(job_id)
        finally:
            await customer.close()

    job_id, answer = asyncio.run(job_on_the_inbox())

    assert len(answer.results) == 1
    answers = {"kinds": [6050, 7000], "#e": [job_id]}
    found = {relay.url: asyncio.run(fetch(relay.url, [answers])) for relay in (home, inbox, outbox)}
    assert {url: len(events) for url, events in found.items()} == {home.url: 0, inbox.url: 0, outbox.url: 3}
    assert audited(node).deposited_msat == 5000
