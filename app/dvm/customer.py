"""A small DVM customer: sign a kind 5050 job, publish it, and wait for the 6050 result or a final 7000 feedback
(`python -m app dvm request`; the benchmark uses it too). Uses the node's own Nostr code, as any client would."""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from app import bech32
from app.dvm.requests import FEEDBACK_KIND, JOB_KIND, RESULT_KIND
from app.nostr.event import Event, parse_verified, sign_event
from app.nostr.keys import NodeKeys
from app.nostr.pool import RelayPool

FINAL_STATUSES = ("error", "payment-required")


@dataclass(frozen=True, slots=True)
class JobSpec:
    model: str
    prompt: str
    provider: str | None = None  # hex pubkey of the service provider (the job's p tag)
    cashu: str | None = None
    max_tokens: int | None = None

    def tags(self) -> list[list[str]]:
        tags = [["i", self.prompt, "text"], ["param", "model", self.model]]
        if self.max_tokens is not None:
            tags.append(["param", "max_tokens", str(self.max_tokens)])
        if self.provider:
            tags.append(["p", self.provider])
        if self.cashu:
            tags.append(["cashu", self.cashu])
        return tags


@dataclass(slots=True)
class JobOutcome:
    job_id: str
    result: Event | None = None
    feedback: list[Event] = field(default_factory=list)
    seconds: float = 0.0  # from publishing the job to the answer that ended the wait

    @property
    def final_status(self) -> tuple[str, str] | None:
        for event in self.feedback:
            status = next((tag for tag in event.tags if tag[0] == "status" and len(tag) > 1), None)
            if status is not None and status[1] in FINAL_STATUSES:
                return status[1], status[2] if len(status) > 2 else ""
        return None

    @property
    def change(self) -> str | None:
        return self.result.first_tag("cashu") if self.result else None

    @property
    def amount_msat(self) -> int | None:
        source = self.result if self.result is not None else _with_amount(self.feedback)
        raw = source.first_tag("amount") if source else None
        return int(raw) if raw and raw.isdigit() else None


def _with_amount(events: list[Event]) -> Event | None:
    return next((event for event in events if event.first_tag("amount")), None)


def provider_hex(text: str) -> str:
    """An npub1... or 64 hex pubkey, as hex."""
    text = text.strip()
    if text.startswith("npub1"):
        return bech32.decode_prefixed(text, "npub").hex()
    bytes.fromhex(text)
    if len(text) != 64:
        raise ValueError("a pubkey is 64 hex characters")
    return text.lower()


async def request_job(pool: RelayPool, keys: NodeKeys, spec: JobSpec, timeout_s: float) -> JobOutcome:
    """Publish the job and wait (subscribed before publishing, so no answer is missed) for its end."""
    job = sign_event(keys, JOB_KIND, spec.tags(), "")
    outcome = JobOutcome(job.id)
    arrived: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    listening = await pool.listen([{"kinds": [RESULT_KIND, FEEDBACK_KIND], "#e": [job.id]}], arrived.put_nowait)
    started = time.perf_counter()
    try:
        await pool.publish(job, timeout_s)
        async with asyncio.timeout(timeout_s):
            while outcome.result is None and outcome.final_status is None:
                _record(outcome, job, await arrived.get())
    finally:
        await pool.unlisten(listening)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _record(outcome: JobOutcome, job: Event, raw: dict[str, Any]) -> None:
    for event in parse_verified([raw]):
        if job.id not in event.tag_values("e"):
            continue
        if event.kind == RESULT_KIND:
            outcome.result = event
        elif all(seen.id != event.id for seen in outcome.feedback):
            outcome.feedback.append(event)
