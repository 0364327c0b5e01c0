"""The node as a NIP-90 service provider for kind 5050: each admitted job is taken once, priced, paid (a `cashu` tag
deposited to the customer's account, or the customer's balance), run through the same metered path as HTTP chat, and
answered with kind 7000 feedback and a kind 6050 result carrying the change as a fresh token.

A job moves taken -> answered -> done in the database; the signed answer is stored before it is published,
so a process that dies on the way leaves enough for another to finish it (app.dvm.recovery)."""

import asyncio
import json
import logging
from dataclasses import dataclass, replace

from app.cashu.errors import TokenAlreadySpent
from app.dvm.completion import text_and_cost
from app.dvm.inputs import resolve_inputs
from app.dvm.partials import text_with_partials
from app.dvm.publisher import JobPublisher
from app.dvm.replies import feedback, result
from app.dvm.requests import JOB_KIND, JobRefused, JobRequest, MalformedJob, parse_job, request_id_for
from app.dvm.sealing import Sealing, seal, sealing_of, unseal
from app.errors import MinimumBalanceRequired, NodeError
from app.ledger.dvm_jobs import DvmJobs
from app.ledger.records import Account
from app.ledger.service import Ledger
from app.nostr.event import Event, Tags
from app.payments.deposits import Purpose
from app.payments.service import Payments
from app.proxy.calls import Endpoint
from app.proxy.service import ProxyService, StreamReply

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DvmConfig:
    default_model: str = ""
    publish_timeout_s: float = 10.0
    partial_every_s: float = 0.0  # publish the text so far this often while a job streams (0: never)


class PaymentRequired(JobRefused):
    default_message = "payment required"

    def __init__(self, amount_msat: int, message: str | None = None) -> None:
        super().__init__(message)
        self.amount_msat = amount_msat


class DvmService:
    def __init__(
        self,
        publisher: JobPublisher,
        jobs: DvmJobs,
        ledger: Ledger,
        proxy: ProxyService,
        payments: Payments,
        config: DvmConfig | None = None,
    ) -> None:
        self._publisher = publisher
        self._keys = publisher.keys
        self._jobs = jobs
        self._ledger = ledger
        self._proxy = proxy
        self._payments = payments
        self._config = config or DvmConfig()
        self.running: set[str] = set()  # job ids this process is working on (recovery leaves them alone)

    async def handle(self, event: Event) -> None:
        """One admitted job event: run once ever (duplicates are dropped), answered whatever happens."""
        self.running.add(event.id)  # before it is taken: recovery must never see it as abandoned
        sealing = sealing_of(event)
        taken = await self._jobs.take(event.id, event.pubkey, encrypted=sealing is not None, sealing=sealing)
        if taken is None:
            self.running.discard(event.id)
            return
        try:
            await self._run(event, taken.account)
        except Exception:  # left unfinished on purpose: recovery answers it (refund, or its stored answer)
            log.exception("dvm.job_failed job=%s", event.id)
        finally:
            self.running.discard(event.id)

    async def run_paid(self, job_id: str, customer: str, hints: tuple[str, ...] = ()) -> bool:
        """Run a job answered payment-required once the customer's balance covers it (a NIP-61 nutzap paid for
        it), from that balance; what is left stays there. Taken in one UPDATE: it runs once, however many pay."""
        if not await self._jobs.awaits_payment(job_id, customer):
            return False
        event = await self._publisher.fetch(job_id, hints)
        if event is None or event.kind != JOB_KIND or event.pubkey != customer:
            return False
        try:
            job = await self._read(event)
            max_cost = self._proxy.max_cost_msat(Endpoint.CHAT, job.chat_body())
        except (NodeError, JobRefused):
            return False
        return await self._run_from_balance(job, max_cost)

    async def _run_from_balance(self, job: JobRequest, max_cost: int) -> bool:
        account = await self._jobs.find_customer(job.customer)
        if account is None or account.available_msat < max_cost:
            return False
        self.running.add(job.id)
        try:
            account = await self._jobs.take_paid(job.id, job.customer)
            if account is not None:
                await self._serve(replace(job, cashu=None), account)  # paid: a token it carried is not redeemed
            return account is not None
        finally:
            self.running.discard(job.id)

    async def _run(self, event: Event, account: Account | None) -> None:
        try:
            job = await self._read(event)
            max_cost = self._proxy.max_cost_msat(Endpoint.CHAT, job.chat_body())
            _within_bid(job, max_cost)
        except (NodeError, JobRefused) as exc:
            await self._refuse(event, "error", exc.message)
            return
        try:
            account = await self._paid(job, account, max_cost)
        except PaymentRequired as exc:
            await self._jobs.mark(event.id, "payment_required")  # first, so a nutzap sent on reading it finds it
            if not await self._run_from_balance(job, max_cost):  # else one that came meanwhile has paid for it
                await self._refuse(event, "payment-required", exc.message, job.relays, exc.amount_msat)
            return
        except NodeError as exc:
            await self._refuse(event, "error", exc.message, job.relays)
            return
        await self._serve(job, account)

    async def _read(self, event: Event) -> JobRequest:
        sealing = sealing_of(event)
        secret = self._secret_tags(event, sealing) if sealing else None
        tags = await resolve_inputs(event.tags + (secret or ()), self._publisher.fetch)
        return parse_job(event, self._config.default_model, tags, sealing=sealing)

    async def _refuse(
        self, event: Event, status: str, reason: str, relays: tuple[str, ...] = (), amount_msat: int | None = None
    ) -> None:
        await self._publisher.publish(feedback(event, status, reason, amount_msat=amount_msat), relays)
        if status != "payment-required":  # a payment-required job is marked before (and may be running by now)
            await self._jobs.mark(event.id, "failed")

    def _secret_tags(self, event: Event, sealing: Sealing) -> Tags:
        """An encrypted job's tags: its content, NIP-44 v2 (or NIP-04) encrypted to the node, is a JSON list of tags."""
        try:
            tags = json.loads(unseal(self._keys, event.pubkey, event.content, sealing))
        except ValueError as exc:  # Unreadable, JSONDecodeError
            raise MalformedJob("the encrypted job could not be read (NIP-44 v2 or NIP-04 to the node's key)") from exc
        if not isinstance(tags, list) or not all(_is_tag(tag) for tag in tags):
            raise MalformedJob("an encrypted job's content must be a JSON list of tags")
        return tuple(tuple(tag) for tag in tags)

    def _sealed(self, job: JobRequest, text: str | None) -> str | None:
        if not text or job.sealing is None:
            return text
        return seal(self._keys, job.customer, text, job.sealing)

    async def _paid(self, job: JobRequest, account: Account | None, max_cost: int) -> Account:
        """The customer's account once it covers the job's maximum cost; its `cashu` token deposited first."""
        if job.cashu is None:
            if account is None or account.available_msat < max_cost:
                raise PaymentRequired(max_cost, f"this job may cost up to {max_cost} msat: attach a cashu token")
            return account
        short = max(0, max_cost - (account.available_msat if account else 0))
        try:
            deposit = await self._payments.deposits.deposit(job.cashu, Purpose.TOPUP, minimum_msat=short,
                                                            payee=self._jobs.payee(job.customer))  # fmt: skip
        except MinimumBalanceRequired as exc:
            message = f"the token is worth less than this job may cost ({max_cost} msat)"
            raise PaymentRequired(max_cost, message) from exc
        except TokenAlreadySpent as exc:
            raise TokenAlreadySpent("the cashu token has already been spent") from exc
        return deposit.account

    async def _serve(self, job: JobRequest, account: Account) -> None:
        processing = asyncio.create_task(self._publisher.publish(feedback(job.event, "processing"), job.relays))
        try:
            text, cost = await self._generate(job, account)
        except NodeError as exc:
            change = self._sealed(job, await self._change(job, account))
            answer = [self._publisher.sign(feedback(job.event, "error", exc.message, cashu=change))]
            await processing
            await self._answer(job, answer, "failed")
            return
        change = self._sealed(job, await self._change(job, account))
        content = self._sealed(job, text) or ""
        answer = [
            self._publisher.sign(result(job.event, content, cost, change, encrypted=job.encrypted)),
            self._publisher.sign(feedback(job.event, "success", amount_msat=cost)),
        ]
        await processing
        await self._answer(job, answer, "done", cost)
        log.info("dvm.job_done job=%s cost_msat=%d change=%s", job.id, cost, change is not None)

    async def _generate(self, job: JobRequest, account: Account) -> tuple[str, int]:
        """The completion's text and cost, through the metered proxy path; streamed when partial results are on."""
        every_s = self._config.partial_every_s
        body = job.chat_body(stream=every_s > 0)
        reply = await self._proxy.call(Endpoint.CHAT, body, account.key_hash, request_id_for(job.id))
        if every_s <= 0 or not isinstance(reply, StreamReply):
            return await text_and_cost(reply)
        text = await text_with_partials(reply, every_s, lambda so_far: self._partial(job, so_far))
        return text, await self._ledger.charged_msat(request_id_for(job.id))

    async def _partial(self, job: JobRequest, text: str) -> None:
        await self._publisher.publish(feedback(job.event, "partial", content=self._sealed(job, text) or ""), job.relays)

    async def _answer(self, job: JobRequest, events: list[Event], state: str, cost: int | None = None) -> None:
        """Stored before it is published: a process that dies now leaves the answer for another to publish."""
        stored = json.dumps([event.to_json() for event in events], separators=(",", ":"))
        await self._jobs.mark(job.id, "answered", answer=stored, cost_msat=cost)
        accepted = [await self._publisher.send(event, job.relays) for event in events]
        if all(accepted):  # else it stays answered: recovery publishes it again
            await self._jobs.mark(job.id, state, answer=None)

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


def _is_tag(tag: object) -> bool:
    return isinstance(tag, list) and bool(tag) and all(isinstance(item, str) for item in tag)


def _within_bid(job: JobRequest, max_cost: int) -> None:
    if job.bid_msat is not None and job.bid_msat < max_cost:
        raise MalformedJob(f"the bid ({job.bid_msat} msat) is below the most this job may cost ({max_cost} msat)")
