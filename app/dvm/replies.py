"""What the node publishes about a job: kind 7000 feedback and the kind 6050 result (NIP-90), as tags and content."""

import json
from dataclasses import dataclass

from app.dvm.requests import FEEDBACK_KIND, RESULT_KIND
from app.nostr.event import Event


@dataclass(frozen=True, slots=True)
class Reply:
    kind: int
    tags: list[list[str]]
    content: str


def _about(job_id: str, customer: str) -> list[list[str]]:
    return [["e", job_id], ["p", customer]]


def feedback(
    job: Event | tuple[str, str],
    status: str,
    reason: str = "",
    *,
    amount_msat: int | None = None,
    cashu: str | None = None,
    content: str = "",
) -> Reply:
    """status: payment-required | processing | partial | error | success. `job`: the job event, or its (id, author).
    `content`: a partial result so far (sealed already, for an encrypted job)."""
    job_id, customer = (job.id, job.pubkey) if isinstance(job, Event) else job
    tags = [["status", status, reason], *_about(job_id, customer)]
    if amount_msat is not None:
        tags.append(["amount", str(amount_msat)])
    if cashu:
        tags.append(["cashu", cashu])
    return Reply(FEEDBACK_KIND, tags, content)


def result(job: Event, text: str, cost_msat: int, cashu: str | None, *, encrypted: bool = False) -> Reply:
    """The job JSON in `request`, its inputs echoed, what it cost, and the change as a token. For an encrypted job
    `text` and `cashu` come sealed to the customer already, and its (secret) inputs are not echoed."""
    request = json.dumps(job.to_json(), ensure_ascii=False, separators=(",", ":"))
    tags = [["request", request], *_about(job.id, job.pubkey)]
    if encrypted:
        tags.append(["encrypted"])
    else:
        tags += [list(tag) for tag in job.tags if tag[0] == "i"]
    tags.append(["amount", str(cost_msat)])
    if cashu:
        tags.append(["cashu", cashu])
    return Reply(RESULT_KIND, tags, text)
