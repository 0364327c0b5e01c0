"""A node SIGKILLed between taking a customer's payment and answering: after the restart the job is refunded (a
7000 error carrying the customer's money as a token), never answered as well, and the books reconcile."""

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.cashu.tokens import decode_token
from app.db.database import open_database
from app.ledger.dvm_jobs import DvmJobs
from app.nostr.event import sign_event
from app.nostr.keys import NodeKeys
from tests.dvm.books import audited_at
from tests.dvm.customer import Answer, Customer, job_tags, tag_value
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import TEST_PRICES, NodeFactory
from tests.fixtures.node_process import NodeProcess
from tests.fixtures.relay import TestRelay
from tests.nostr.relay_helpers import eventually, fetch


class HangingUpstream:
    """Lists no models (the node prices its configured ones) and never answers a completion, so a job is in flight
    when the node dies."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.writers: list[asyncio.StreamWriter] = []
        self.server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1"
        self.stopped = asyncio.Event()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        if (await reader.readline()).startswith(b"GET"):
            writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        await self.stopped.wait()

    async def _close(self) -> None:
        self.server.close()
        for writer in self.writers:
            writer.close()
        self.stopped.set()
        await self.server.wait_closed()
        await asyncio.sleep(0.05)


@contextmanager
def hanging_upstream() -> Iterator[str]:
    upstream = HangingUpstream()
    thread = threading.Thread(target=upstream.loop.run_forever, daemon=True)
    thread.start()
    try:
        yield upstream.url
    finally:
        asyncio.run_coroutine_threadsafe(upstream._close(), upstream.loop).result(timeout=5)
        upstream.loop.call_soon_threadsafe(upstream.loop.stop)
        thread.join(timeout=5)
        upstream.loop.close()


async def _until(customer: Customer, job_id: str, status: str, timeout_s: float) -> Answer:
    async with asyncio.timeout(timeout_s):
        while True:
            answer = await customer.answers(job_id)
            if status in answer.statuses():
                return answer
            await asyncio.sleep(0.1)


def test_a_node_killed_mid_job_refunds_it_after_restart(
    database_url: str, mint: RunningMint, nostr_relays: list[TestRelay], tmp_path: Path
) -> None:
    keys, relay = NodeKeys.generate(), nostr_relays[1]
    token = asyncio.run(mint.make_token(5))
    env = {"DVM_ENABLED": "true", "RELAYS": relay.url, "NSEC": keys.nsec(), "MODEL_PRICES": TEST_PRICES,
           "UNPRICED_MODELS": "refuse", "UPSTREAM_READ_TIMEOUT_S": "300"}  # fmt: skip
    with hanging_upstream() as upstream:
        node = NodeProcess(database_url=database_url, mint_urls=[mint.url], upstream_url=upstream,
                           work_dir=tmp_path / "node", env=env)  # fmt: skip
        node.start()
        try:

            async def killed_mid_job() -> Answer:
                customer = Customer(relay.url)
                await customer.connect()
                try:
                    job_id = await customer.publish(customer.sign(job_tags("hi", "standin-small", keys.pubkey,
                                                                           cashu=token)))  # fmt: skip
                    await _until(customer, job_id, "processing", 30)  # paid, and waiting for the upstream
                    node.kill()
                    node.start()
                    return await _until(customer, job_id, "error", 90)  # the dead process's lease expires first
                finally:
                    await customer.close()

            answer = asyncio.run(killed_mid_job())
        finally:
            node.stop()

    assert answer.results == [] and sorted(answer.statuses()) == ["error", "processing"]
    error = next(event for event in answer.feedback if tag_value(event, "status") == "error")
    refund = tag_value(error, "cashu")
    assert refund is not None and decode_token(refund).amount == 5  # nothing was charged: all of it comes back
    mint.cli("receive", refund)
    report = audited_at(database_url)
    assert (report.deposited_msat, report.refunded_msat, report.charged_msat) == (5000, 5000, 0)


def test_an_answer_stored_by_a_dead_process_is_published_by_the_next(
    node_factory: NodeFactory, nostr_relays: list[TestRelay], database_url: str
) -> None:
    keys, relay, customer = NodeKeys.generate(), nostr_relays[2], NodeKeys.generate()
    job = sign_event(customer, 5050, [["i", "hi", "text"], ["p", keys.pubkey]], "")
    stored = [sign_event(keys, 6050, [["e", job.id], ["p", customer.pubkey], ["amount", "7"]], "the answer")]

    async def died_after_storing() -> None:
        db = open_database(database_url)
        try:
            jobs = DvmJobs(db, owner="a-process-that-died")
            assert await jobs.take(job.id, customer.pubkey) is not None
            await jobs.mark(job.id, "answered", answer=json.dumps([event.to_json() for event in stored]))
        finally:
            await db.close()

    asyncio.run(died_after_storing())
    node_factory(dvm_enabled=True, relays=[relay.url], nsec=keys.nsec())

    async def published() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []

        async def seen() -> bool:
            found[:] = await fetch(relay.url, [{"kinds": [6050], "#e": [job.id]}])
            return bool(found)

        await eventually(seen, timeout_s=20)
        return found

    assert [event["id"] for event in asyncio.run(published())] == [stored[0].id]

    async def finished() -> bool:
        db = open_database(database_url)
        try:
            return await DvmJobs(db).unfinished() == []
        finally:
            await db.close()

    asyncio.run(eventually(finished, timeout_s=10))
