"""A DVM customer made with nostr-sdk, independent of the node's own Nostr code: it signs kind 5050 jobs, publishes
them, and reads back (and verifies) the node's 7000 feedback and 6050 results."""

import asyncio
import datetime
import json
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import nostr_sdk

FINAL_STATUSES = ("error", "payment-required")
T = TypeVar("T")


@dataclass
class Answer:
    results: list[dict[str, Any]] = field(default_factory=list)  # kind 6050
    feedback: list[dict[str, Any]] = field(default_factory=list)  # kind 7000

    def statuses(self) -> list[str]:
        return [tag_value(event, "status") or "" for event in sorted(self.feedback, key=lambda e: e["created_at"])]

    def status_reason(self, status: str) -> str:
        for event in self.feedback:
            tag = next(t for t in event["tags"] if t[0] == "status")
            if tag[1] == status:
                return str(tag[2]) if len(tag) > 2 else ""
        raise AssertionError(f"no {status} feedback in {self.feedback}")

    @property
    def done(self) -> bool:
        return bool(self.results) or any(status in FINAL_STATUSES for status in self.statuses())


def tag_value(event: dict[str, Any], name: str) -> str | None:
    for tag in event["tags"]:
        if tag[0] == name and len(tag) > 1:
            return str(tag[1])
    return None


def job_tags(
    prompt: str, model: str, provider: str | None, *, cashu: str | None = None, max_tokens: int = 8
) -> list[list[str]]:
    tags = [["i", prompt, "text"], ["param", "model", model], ["param", "max_tokens", str(max_tokens)]]
    if provider:
        tags.append(["p", provider])
    if cashu:
        tags.append(["cashu", cashu])
    return tags


class Customer:
    def __init__(self, relay_url: str) -> None:
        self.keys = nostr_sdk.Keys.generate()
        self.relay_url = relay_url
        self.client = nostr_sdk.Client()

    @property
    def pubkey(self) -> str:
        return str(self.keys.public_key().to_hex())

    async def connect(self) -> None:
        await self.client.add_relay(nostr_sdk.RelayUrl.parse(self.relay_url))
        await self.client.connect()

    def sign(self, tags: Sequence[Sequence[str]], kind: int = 5050, content: str = "") -> nostr_sdk.Event:
        builder = nostr_sdk.EventBuilder(nostr_sdk.Kind(kind), content).tags(
            [nostr_sdk.Tag.parse(list(t)) for t in tags]
        )
        return self.keys.sign_event(builder.finalize_unsigned(self.keys.public_key()))

    async def publish(self, event: nostr_sdk.Event) -> str:
        output = await self.client.send_event(event)
        assert output.success, output
        return str(event.id().to_hex())

    async def answers(self, job_id: str) -> Answer:
        target = (
            nostr_sdk.Filter()
            .kinds([nostr_sdk.Kind(6050), nostr_sdk.Kind(7000)])
            .event(nostr_sdk.EventId.parse(job_id))
        )
        events = await self.client.fetch_events(nostr_sdk.ReqTarget.auto([target]), datetime.timedelta(seconds=2))
        answer = Answer()
        for event in events:
            assert event.verify(), "the node's event must verify in nostr-sdk"
            data = json.loads(event.as_json())
            (answer.results if data["kind"] == 6050 else answer.feedback).append(data)
        return answer

    async def wait(self, job_id: str, timeout_s: float = 30.0) -> Answer:
        deadline = time.monotonic() + timeout_s
        while True:
            answer = await self.answers(job_id)
            if answer.done or time.monotonic() > deadline:
                if answer.results:  # the success feedback follows the result
                    await asyncio.sleep(0.3)
                    return await self.answers(job_id)
                return answer
            await asyncio.sleep(0.05)

    async def submit(self, tags: list[list[str]]) -> Answer:
        """Publish a job and wait for its end."""
        return await self.submit_event(self.sign(tags))

    async def submit_event(self, job: nostr_sdk.Event) -> Answer:
        return await self.wait(await self.publish(job))

    async def close(self) -> None:
        await self.client.shutdown()


def with_customer(relay_url: str, work: Callable[[Customer], Coroutine[Any, Any, T]]) -> T:
    """Run `work` with a fresh customer connected to the relay."""

    async def connected() -> T:
        customer = Customer(relay_url)
        await customer.connect()
        try:
            return await work(customer)
        finally:
            await customer.close()

    return asyncio.run(connected())
