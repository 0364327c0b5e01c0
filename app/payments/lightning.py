"""Ecash in over Lightning (NUT-04): an invoice from a trusted mint, paid by the user, minted into proofs the node
keeps, and the key credited once.

The quote and the planned outputs (secrets, blinding factors) are journaled before the invoice is handed out. Any
status call (or the periodic `recover_open`) can finish the operation: the mint says the quote is PAID -> mint with
the journaled outputs; ISSUED (our mint answer was lost, or another process minted) -> NUT-09 restore of the same
outputs. `complete_deposit` credits at most once, so retries and concurrent calls never credit twice.

The invoice id handed out is a bearer secret until the invoice is paid: the journal stores only a hash of it (the
operation id), and the random key a `create` invoice makes is handed out once (app.payments.invoice_keys).
"""

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from app.bolt11 import bolt11_expires_at, bolt11_payment_hash
from app.cashu.client import MintClient
from app.cashu.errors import MintRejected, SwapOutcomeUnknown
from app.cashu.keysets import choose_output_keyset
from app.cashu.messages import MintQuote
from app.cashu.outputs import OutputPlan, plan_outputs, proofs_from_signatures, restored_proofs
from app.cashu.tokens import Proof
from app.errors import BadRequest, NodeError, NotFound, ServiceUnavailable, Unauthorized
from app.ledger.keys import hash_key
from app.ledger.records import Account
from app.ledger.service import Ledger
from app.money import sat_to_msat
from app.payments.invoice_keys import new_sealed_key, unsealed_key
from app.payments.mints import TrustedMints
from app.payments.ownership import Ownership
from app.payments.plans import to_new_proofs
from app.payments.recovery import DEFAULT_RETRIES, UNIT, RetryPolicy
from app.treasury.records import OPEN_STATES, Operation, OpKind, OpState
from app.treasury.service import Treasury

log = logging.getLogger(__name__)

# An unpaid quote is given up only this long after its invoice expired: a payment in flight at expiry may settle late.
EXPIRY_GRACE_S = 600
MAX_INVOICE_SAT = 10_000_000
SWEEP_LEAD_TTL_S = 90.0  # the sweep runs every minute in the process leading it


class InvoicePurpose(StrEnum):
    CREATE = "create"  # a new key, handed out once the invoice is paid
    TOPUP = "topup"  # adds to the key that asked for the invoice


class InvoiceState(StrEnum):
    UNPAID = "unpaid"
    PENDING = "pending"  # the mint is issuing (paid, not credited yet): ask again shortly
    PAID = "paid"  # credited
    EXPIRED = "expired"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Invoice:
    invoice_id: str
    bolt11: str
    amount_sat: int
    expires_at: int | None
    state: InvoiceState = InvoiceState.UNPAID
    created_at: int | None = None
    paid_at: int | None = None  # when the node found it paid and credited it

    @property
    def payment_hash(self) -> str | None:
        return bolt11_payment_hash(self.bolt11)


@dataclass(frozen=True, slots=True)
class InvoiceStatus:
    invoice: Invoice
    account: Account | None = None  # the credited key, once paid
    credited_msat: int = 0
    api_key: str | None = None  # for a paid `create` invoice


@dataclass(frozen=True, slots=True)
class MintPlan:
    """What the journal keeps of a Lightning top-up. `outputs` is None once settled (no blinding data kept)."""

    quote: str
    bolt11: str
    amount_sat: int
    expires_at: int | None
    outputs: OutputPlan | None
    sealed_key: str | None = None  # a `create` invoice's key until it is handed out
    paid_at: int | None = None

    def to_json(self) -> str:
        data: dict[str, Any] = {"quote": self.quote, "bolt11": self.bolt11, "amount_sat": self.amount_sat,
                                "expires_at": self.expires_at}  # fmt: skip
        if self.paid_at is not None:
            data["paid_at"] = self.paid_at
        if self.outputs is not None:
            data["outputs"] = self.outputs.to_dict()
        if self.sealed_key is not None:
            data["sealed_key"] = self.sealed_key
        return json.dumps(data, separators=(",", ":"))

    def scrubbed_json(self) -> str:
        return replace(self, outputs=None).to_json()

    @classmethod
    def from_json(cls, text: str | None) -> "MintPlan":
        data = json.loads(text or "{}")
        outputs = OutputPlan.from_dict(data["outputs"]) if "outputs" in data else None
        expires_at = data.get("expires_at")
        return cls(str(data["quote"]), str(data["bolt11"]), int(data["amount_sat"]),
                   None if expires_at is None else int(expires_at), outputs, data.get("sealed_key"),
                   data.get("paid_at"))  # fmt: skip

    def planned_outputs(self) -> OutputPlan:
        assert self.outputs is not None, "a settled plan has no outputs"
        return self.outputs


def new_invoice_id() -> str:
    return "ln" + os.urandom(16).hex()


def operation_id(invoice_id: str) -> str:
    return hashlib.sha256(b"routstr-node/lightning-op\x00" + invoice_id.encode()).hexdigest()[:32]


class Lightning:
    def __init__(
        self,
        ledger: Ledger,
        treasury: Treasury,
        mints: TrustedMints,
        ownership: Ownership,
        *,
        clock: Callable[[], float] = time.time,
        policy: RetryPolicy = DEFAULT_RETRIES,
    ) -> None:
        self._ledger = ledger
        self._treasury = treasury
        self._mints = mints
        self._ownership = ownership
        self._clock = clock
        self._policy = policy
        self._settling: dict[str, asyncio.Task[InvoiceState]] = {}

    async def create_invoice(self, amount_sat: object, purpose: object, credential: str | None = None) -> Invoice:
        """A NUT-04 invoice of the first trusted mint, journaled (quote and outputs) before it is returned.
        A `topup` needs the credential (API key) of the key to credit."""
        amount, chosen = _valid_amount(amount_sat), _valid_purpose(purpose)
        key_id = await self._key_id(credential) if chosen is InvoicePurpose.TOPUP else None
        client = self._first_mint()
        quote = await client.mint_quote(amount, UNIT)
        keyset = choose_output_keyset(await client.keysets(), UNIT)
        invoice_id = new_invoice_id()
        target, sealed = new_sealed_key(invoice_id) if chosen is InvoicePurpose.CREATE else (None, None)
        outputs = plan_outputs(amount, keyset.id)
        plan = MintPlan(quote.quote, quote.request, amount, _expires_at(quote), outputs, sealed)
        op = await self._treasury.begin(
            op_id=operation_id(invoice_id), kind=OpKind.LIGHTNING, purpose=chosen.value,
            mint_url=client.normalized_url, plan_json=plan.to_json(), target_key_hash=target, key_id=key_id,
        )  # fmt: skip
        log.info("lightning.invoice op=%s purpose=%s amount_sat=%d", operation_id(invoice_id), chosen, amount)
        return Invoice(invoice_id, quote.request, amount, plan.expires_at, created_at=op.created_at)

    async def status(self, invoice_id: str) -> InvoiceStatus:
        """The invoice's state; a paid invoice is minted and credited here (once, however often this is called)."""
        op = await self._operation(invoice_id)
        state = _final_state(op)
        if op.state in OPEN_STATES:  # a parked one too: the payer asking is worth one more try
            state = await self._settle(op.id)
            op = await self._reload(op.id)
        return await self._status_of(invoice_id, op, state if op.state in OPEN_STATES else _final_state(op))

    async def recover_open(self) -> int:
        """Finish every open Lightning operation the mint can settle now (paid, or long expired). For a periodic
        job: a user who paid and never asked again is still credited. Returns how many were resolved."""
        if not await self._ownership.lead("lightning", SWEEP_LEAD_TTL_S):
            return 0
        resolved = 0
        for op in await self._treasury.due_operations():
            if op.kind is not OpKind.LIGHTNING:
                continue
            try:
                state = await self._settle(op.id)
            except NodeError as failure:  # one mint's trouble must not stop the others; retried with backoff
                log.warning(
                    "lightning.settle_failed op=%s mint=%s error=%s", op.id, op.mint_url, type(failure).__name__
                )
                await self._treasury.note_attempt(op.id, self._policy.backoff_s, self._policy.cap)
                continue
            resolved += state in (InvoiceState.PAID, InvoiceState.EXPIRED, InvoiceState.FAILED)
        return resolved

    async def close(self) -> None:
        """Stop recoveries still running (at shutdown). Safe: an interrupted one is finished by the next status
        call or `recover_open`, from the journal (a mint answer lost this way is recovered by restore)."""
        running = list(self._settling.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def _settle(self, op_id: str) -> InvoiceState:
        """One recovery per operation at a time in this process; concurrent callers share its outcome."""
        task = self._settling.get(op_id)
        if task is None:
            task = asyncio.create_task(self._settle_now(op_id))
            self._settling[op_id] = task
            task.add_done_callback(lambda _: self._settling.pop(op_id, None))
        return await asyncio.shield(task)

    async def _settle_now(self, op_id: str) -> InvoiceState:
        async with self._ownership.own(op_id) as owned:
            op = await self._reload(op_id)
            if not owned:
                return InvoiceState.PENDING if op.state in OPEN_STATES else _final_state(op)
            if op.state not in OPEN_STATES:
                return _final_state(op)
            plan = MintPlan.from_json(op.plan)
            client = self._mints.client_for_journal(op.mint_url)
            quote = await client.mint_quote_status(plan.quote)
            if quote.state == "PAID":
                return await self._mint(op, plan, client)
            if quote.state == "ISSUED":
                return await self._recover_issued(op, plan, client)
            if quote.state == "PENDING":
                return InvoiceState.PENDING
            return await self._unpaid(op, plan)

    async def _mint(self, op: Operation, plan: MintPlan, client: MintClient) -> InvoiceState:
        outputs = plan.planned_outputs()
        keyset = await client.keys(outputs.keyset_id)
        try:
            signatures = await client.mint(plan.quote, outputs.blinded_messages)
        except SwapOutcomeUnknown:
            log.warning("lightning.mint_outcome_unknown op=%s", op.id)
            raise
        except MintRejected as rejected:
            # Another process (or our own lost request) may have minted this quote meanwhile: restore before giving up.
            proofs = await self._restore(plan, client)
            if not proofs:
                log.warning("lightning.mint_rejected op=%s mint_code=%s", op.id, rejected.mint_code)
                raise
            return await self._credit(op, plan, proofs)
        return await self._credit(op, plan, proofs_from_signatures(outputs, signatures, keyset))

    async def _recover_issued(self, op: Operation, plan: MintPlan, client: MintClient) -> InvoiceState:
        proofs = await self._restore(plan, client)
        if proofs:
            return await self._credit(op, plan, proofs)
        log.error("lightning.issued_elsewhere op=%s", op.id)
        await self._treasury.fail(op.id, "issued_elsewhere", plan.scrubbed_json())
        return InvoiceState.FAILED

    async def _restore(self, plan: MintPlan, client: MintClient) -> tuple[Proof, ...]:
        outputs = plan.planned_outputs()
        keyset = await client.keys(outputs.keyset_id)
        return restored_proofs(outputs, await client.restore(outputs.blinded_messages), keyset)

    async def _credit(self, op: Operation, plan: MintPlan, proofs: tuple[Proof, ...]) -> InvoiceState:
        paid = replace(plan, paid_at=int(self._clock()))
        account = await self._treasury.complete_deposit(
            op.id, to_new_proofs(proofs, op.mint_url, UNIT), paid.scrubbed_json()
        )
        if account is not None:
            amount_msat = sat_to_msat(sum(p.amount for p in proofs))
            log.info("lightning.credited op=%s key_id=%s amount_msat=%d", op.id, account.id, amount_msat)
        return InvoiceState.PAID

    async def _unpaid(self, op: Operation, plan: MintPlan) -> InvoiceState:
        if plan.expires_at is None or self._clock() < plan.expires_at + EXPIRY_GRACE_S:
            return InvoiceState.UNPAID
        await self._treasury.fail(op.id, "expired", plan.scrubbed_json())
        log.info("lightning.expired op=%s", op.id)
        return InvoiceState.EXPIRED

    async def _status_of(self, invoice_id: str, op: Operation, state: InvoiceState) -> InvoiceStatus:
        plan = MintPlan.from_json(op.plan)
        invoice = Invoice(invoice_id, plan.bolt11, plan.amount_sat, plan.expires_at, state, op.created_at, plan.paid_at)
        if state is not InvoiceState.PAID or op.key_id is None:
            return InvoiceStatus(invoice)
        api_key = None
        if op.purpose == InvoicePurpose.CREATE.value:
            api_key = await self._hand_out(invoice_id, op, plan)
            if api_key is None:  # handed out before: the invoice id no longer shows the key or its balance
                return InvoiceStatus(invoice)
        account = await self._ledger.find_by_id(op.key_id)
        return InvoiceStatus(invoice, account, op.amount_msat, api_key)

    async def _hand_out(self, invoice_id: str, op: Operation, plan: MintPlan) -> str | None:
        """A paid `create` invoice's key, to the first caller only (a conditional update of the journal)."""
        key = unsealed_key(plan.sealed_key, invoice_id, op.target_key_hash) if plan.sealed_key else None
        if key is None or op.plan is None:
            return None
        handed = await self._treasury.replace_plan(op.id, op.plan, replace(plan, sealed_key=None).to_json())
        return key if handed else None

    async def _operation(self, invoice_id: str) -> Operation:
        op = await self._treasury.get(operation_id(invoice_id)) if invoice_id else None
        if op is None or op.kind is not OpKind.LIGHTNING:
            raise NotFound("unknown invoice", code="invoice_not_found")
        return op

    async def _reload(self, op_id: str) -> Operation:
        op = await self._treasury.get(op_id)
        assert op is not None, op_id
        return op

    async def _key_id(self, credential: str | None) -> int:
        account = await self._ledger.find_by_hash(hash_key(credential)) if credential else None
        if account is None:
            raise Unauthorized("a top-up invoice needs the API key to credit: send `Authorization: Bearer sk-...`")
        return account.id

    def _first_mint(self) -> MintClient:
        clients = self._mints.all()
        if not clients:
            raise ServiceUnavailable("this node trusts no mint, so it cannot issue Lightning invoices")
        return clients[0]


def _final_state(op: Operation) -> InvoiceState:
    if op.state is OpState.COMPLETED:
        return InvoiceState.PAID
    if op.state is OpState.FAILED:
        return InvoiceState.EXPIRED if op.error == "expired" else InvoiceState.FAILED
    return InvoiceState.UNPAID


def _valid_amount(amount_sat: object) -> int:
    if isinstance(amount_sat, bool) or not isinstance(amount_sat, int):
        raise BadRequest("amount_sats must be a whole number of sats", param="amount_sats")
    if not 0 < amount_sat <= MAX_INVOICE_SAT:
        raise BadRequest(f"amount_sats must be between 1 and {MAX_INVOICE_SAT}", param="amount_sats")
    return amount_sat


def _valid_purpose(purpose: object) -> InvoicePurpose:
    if purpose not in tuple(InvoicePurpose):
        raise BadRequest("purpose must be `create` or `topup`", param="purpose")
    return InvoicePurpose(str(purpose))


def _expires_at(quote: MintQuote) -> int | None:
    return bolt11_expires_at(quote.request)
