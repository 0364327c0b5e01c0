"""The node as a NIP-90 service provider for kind 5050: each admitted job is taken once, priced, paid (a `cashu` tag
deposited to the customer's account, or the customer's balance), run through the same metered path as HTTP chat, and
answered with kind 7000 feedback and a kind 6050 result carrying the change as a fresh token."""

import asyncio
import json
import logging
from dataclasses import dataclass

from app.cashu.errors import TokenAlreadySpent
from app.dvm.completion import text_and_cost
from app.dvm.replies import Reply, feedback, result
from app.dvm.requests import JobRequest, MalformedJob, parse_job
from app.errors import MinimumBalanceRequired, NodeError
from app.ledger.dvm_jobs import DvmJobs
from app.ledger.records import Account
from app.nostr import nip44
from app.nostr.event import Event, Tags, sign_event
from app.nostr.keys import NodeKeys
from app.nostr.pool import RelayPool, normalize_relay_url
from app.payments.deposits import Purpose
from app.payments.service import Payments
from app.proxy.calls import Endpoint
from app.proxy.service import ProxyService

log = logging.getLogger(__name__)

MAX_POOL_RELAYS = 32  # relays named by jobs are added to the pool up to this many


@dataclass(frozen=True, slots=True)
class DvmConfig:
    default_model: str = ""
    publish_timeout_s: float = 10.0


class PaymentRequired(NodeError):
    default_message = "payment required"

    def __init__(self, amount_msat: int, message: str | None = None) -> None:
        super().__init__(message)
        self.amount_msat = amount_msat


class DvmService:
    def __init__(
        self,
        keys: NodeKeys,
        pool: RelayPool,
        jobs: DvmJobs,
        proxy: ProxyService,
        payments: Payments,
        config: DvmConfig | None = None,
    ) -> None:
        self._keys = keys
        self._pool = pool
        self._jobs = jobs
        self._proxy = proxy
        self._payments = payments
        self._config = config or DvmConfig()
        self._own_relays = pool.urls

    async def handle(self, event: Event) -> None:
        """One admitted job event: run once ever (duplicates are dropped), answered whatever happens."""
        if not await self._jobs.take(event.id, event.pubkey):
            return
        try:
            state, cost = await self._run(event)
        except Exception:
            log.exception("dvm.job_failed job=%s", event.id)
            await self._publish(feedback(event, "error", "internal error"), ())
            state, cost = "failed", None
        await self._jobs.finish(event.id, state, cost)

    async def _run(self, event: Event) -> tuple[str, int | None]:
        try:
            job = parse_job(event, self._config.default_model, self._secret_tags(event))
            max_cost = self._proxy.max_cost_msat(Endpoint.CHAT, job.chat_body())
            _within_bid(job, max_cost)
        except NodeError as exc:
            await self._publish(feedback(event, "error", exc.message), ())
            return "failed", None
        try:
            account = await self._paid(job, max_cost)
        except PaymentRequired as exc:
            await self._publish(
                feedback(event, "payment-required", exc.message, amount_msat=exc.amount_msat), job.relays
            )
            return "payment_required", None
        except NodeError as exc:
            await self._publish(feedback(event, "error", exc.message), job.relays)
            return "failed", None
        return await self._serve(job, account)

    def _secret_tags(self, event: Event) -> Tags | None:
        """An encrypted job's tags: its content, NIP-44 v2 encrypted to the node, is a JSON list of tags."""
        if not any(tag[0] == "encrypted" for tag in event.tags):
            return None
        try:
            tags = json.loads(nip44.decrypt(self._keys, event.pubkey, event.content))
        except (nip44.Nip44Error, ValueError) as exc:
            raise MalformedJob("the encrypted job could not be read (NIP-44 v2 to the node's key expected)") from exc
        if not isinstance(tags, list) or not all(_is_tag(tag) for tag in tags):
            raise MalformedJob("an encrypted job's content must be a JSON list of tags")
        return tuple(tuple(tag) for tag in tags)

    def _sealed(self, job: JobRequest, text: str | None) -> str | None:
        if not text or not job.encrypted:
            return text
        return nip44.encrypt(self._keys, job.customer, text)

    async def _paid(self, job: JobRequest, max_cost: int) -> Account:
        """The customer's account once it covers the job's maximum cost; its `cashu` token deposited first."""
        account = await self._jobs.customer(job.customer)
        if job.cashu is None:
            if account.available_msat < max_cost:
                raise PaymentRequired(max_cost, f"this job may cost up to {max_cost} msat: attach a cashu token")
            return account
        short = max(0, max_cost - account.available_msat)
        try:
            deposit = await self._payments.deposits.deposit(job.cashu, Purpose.TOPUP, key_id=account.id,
                                                            minimum_msat=short)  # fmt: skip
        except MinimumBalanceRequired as exc:
            raise PaymentRequired(
                max_cost, f"the token is worth less than this job may cost ({max_cost} msat)"
            ) from exc
        except TokenAlreadySpent as exc:
            raise TokenAlreadySpent("the cashu token has already been spent") from exc
        return deposit.account

    async def _serve(self, job: JobRequest, account: Account) -> tuple[str, int | None]:
        processing = asyncio.create_task(self._publish(feedback(job.event, "processing"), job.relays))
        try:
            reply = await self._proxy.call(Endpoint.CHAT, job.chat_body(), account.key_hash, _request_id(job))
            text, cost = await text_and_cost(reply)
        except NodeError as exc:
            change = self._sealed(job, await self._change(job, account))
            await processing
            await self._publish(feedback(job.event, "error", exc.message, cashu=change), job.relays)
            return "failed", None
        change = self._sealed(job, await self._change(job, account))
        await processing
        content = self._sealed(job, text) or ""
        await self._publish(result(job.event, content, cost, change, encrypted=job.encrypted), job.relays)
        await self._publish(feedback(job.event, "success", amount_msat=cost), job.relays)
        log.info("dvm.job_done job=%s cost_msat=%d change=%s", job.id, cost, change is not None)
        return "done", cost

    async def _change(self, job: JobRequest, account: Account) -> str | None:
        """A job paid with a token gets what the customer's balance holds back as a token; a job paid from the
        balance leaves it there. No change (nothing left, or the wallet busy): the balance keeps it."""
        if job.cashu is None:
            return None
        try:
            refund = await self._payments.refunds.refund(account.id, refetch=False, while_in_flight=True)
        except NodeError as exc:
            log.info("dvm.no_change job=%s reason=%s", job.id, exc.message)
            return None
        return refund.token

    async def _publish(self, reply: Reply, job_relays: tuple[str, ...]) -> None:
        """To the node's relays and those the job named (added to the pool while it has room)."""
        event = sign_event(self._keys, reply.kind, reply.tags, reply.content)
        if len(self._pool.urls) < MAX_POOL_RELAYS:
            self._pool.add(job_relays)
        pooled = set(self._pool.urls)
        asked = [url for url in map(normalize_relay_url, job_relays) if url in pooled]
        targets = list(dict.fromkeys([*self._own_relays, *asked]))
        results = await self._pool.publish(event, self._config.publish_timeout_s, targets)
        accepted = sum(1 for r in results.values() if r.status == "accepted")
        if not accepted:
            reasons = sorted({f"{r.status}: {r.message}" for r in results.values()})
            log.warning("dvm.publish_failed kind=%d event_id=%s reasons=%s", reply.kind, event.id, reasons)
            return
        log.info("dvm.published kind=%d event_id=%s accepted=%d/%d", reply.kind, event.id, accepted, len(results))


def _is_tag(tag: object) -> bool:
    return isinstance(tag, list) and bool(tag) and all(isinstance(item, str) for item in tag)


def _within_bid(job: JobRequest, max_cost: int) -> None:
    if job.bid_msat is not None and job.bid_msat < max_cost:
        raise MalformedJob(f"the bid ({job.bid_msat} msat) is below the most this job may cost ({max_cost} msat)")


def _request_id(job: JobRequest) -> str:
    return "dvm-" + job.id[:60]
