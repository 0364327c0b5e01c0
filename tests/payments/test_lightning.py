"""Lightning top-up (NUT-04) against the real FakeWallet mint, which pays every invoice at once, on both databases."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest

from app.bolt11 import bolt11_expires_at
from app.cashu.errors import SwapOutcomeUnknown
from app.db.database import Database, open_database
from app.db.leases import Leases, new_boot_id
from app.errors import BadRequest, NotFound, Unauthorized
from app.ledger.keys import hash_key
from app.ledger.records import EntryKind
from app.ledger.service import Ledger
from app.payments.lightning import (
    EXPIRY_GRACE_S,
    InvoicePurpose,
    InvoiceState,
    Lightning,
    operation_id,
)
from app.payments.mints import TrustedMints
from app.payments.ownership import Ownership
from app.treasury.records import OpState
from app.treasury.service import Treasury
from tests.cashu.dropping_proxy import dropping_proxy
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode, create_key, key_state


@dataclass
class Wallet:
    db: Database
    ledger: Ledger
    journal: Treasury
    http: httpx.AsyncClient

    def lightning(
        self, *mint_urls: str, http: httpx.AsyncClient | None = None, clock: Callable[[], float] = time.time
    ) -> Lightning:
        """A Lightning service as a freshly started process builds it (its own boot id)."""
        mints = TrustedMints(http or self.http, mint_urls)
        return Lightning(
            self.ledger, self.journal, mints, Ownership(Leases(self.db, new_boot_id()), ttl_s=20), clock=clock
        )


class UnpaidWhileHeld:
    """Forwards every request to the real mint, but reports mint quotes as UNPAID while `held` (FakeWallet itself
    pays every invoice at once)."""

    def __init__(self, real: httpx.AsyncClient) -> None:
        self.held = True
        self._real = real

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        forwarded = httpx.Request(request.method, request.url, content=request.content, headers=request.headers)
        answer = await self._real.send(forwarded)
        if self.held and request.method == "GET" and request.url.path.startswith("/v1/mint/quote/bolt11/"):
            return httpx.Response(200, json={**answer.json(), "state": "UNPAID"})
        return httpx.Response(answer.status_code, content=answer.content, headers={"content-type": "application/json"})


@pytest.fixture
async def wallet(database_url: str) -> AsyncIterator[Wallet]:
    db = open_database(database_url)
    async with httpx.AsyncClient() as http:
        yield Wallet(db, Ledger(db), Treasury(db), http)
    await db.close()


async def test_create_invoice_is_journaled_before_it_is_handed_out_and_paid_makes_a_key(
    wallet: Wallet, mint: RunningMint
) -> None:
    lightning = wallet.lightning(mint.url)

    invoice = await lightning.create_invoice(100, "create")
    journaled = await wallet.journal.get(operation_id(invoice.invoice_id))
    paid = await lightning.status(invoice.invoice_id)

    assert invoice.bolt11.startswith("lnbc") and invoice.state is InvoiceState.UNPAID
    assert journaled is not None and journaled.state is OpState.PLANNED and invoice.invoice_id not in journaled.id
    assert journaled.target_key_hash is not None and journaled.key_id is None
    assert paid.invoice.state is InvoiceState.PAID and paid.credited_msat == 100_000
    assert paid.api_key is not None and journaled.target_key_hash == hash_key(paid.api_key)
    key_account = await wallet.ledger.find(paid.api_key)
    assert key_account is not None and key_account.balance_msat == 100_000
    assert await wallet.ledger.check() == []


async def test_a_create_invoice_s_key_is_random_handed_out_once_and_not_in_the_database(
    wallet: Wallet, mint: RunningMint
) -> None:
    lightning = wallet.lightning(mint.url)
    invoice = await lightning.create_invoice(16, "create")

    answers = await asyncio.gather(*(wallet.lightning(mint.url).status(invoice.invoice_id) for _ in range(6)))
    settled = await wallet.journal.get(operation_id(invoice.invoice_id))

    keys = [a.api_key for a in answers if a.api_key is not None]
    # processes that found another one minting it answer "pending: ask again"
    assert len(keys) == 1 and {a.invoice.state for a in answers} <= {InvoiceState.PAID, InvoiceState.PENDING}
    assert settled is not None and settled.plan is not None and keys[0].removeprefix("sk-") not in settled.plan
    assert '"sealed_key"' not in settled.plan  # nothing left to unseal once handed out
    account = await wallet.ledger.find(keys[0])
    assert account is not None and account.balance_msat == 16_000


async def test_topup_is_credited_once_under_ten_concurrent_status_calls(wallet: Wallet, mint: RunningMint) -> None:
    key, account = await wallet.ledger.create_key(5_000)
    lightning = wallet.lightning(mint.url)

    invoice = await lightning.create_invoice(64, InvoicePurpose.TOPUP, key)
    answers = await asyncio.gather(*(lightning.status(invoice.invoice_id) for _ in range(10)))
    again = await wallet.lightning(mint.url).status(invoice.invoice_id)

    assert {a.invoice.state for a in answers} == {InvoiceState.PAID}
    assert again.invoice.state is InvoiceState.PAID and again.api_key is None and again.credited_msat == 64_000
    after = await wallet.ledger.find(key)
    assert after is not None and after.balance_msat == 5_000 + 64_000
    deposits = [e for e in await wallet.ledger.entries(account.id) if e.kind is EntryKind.DEPOSIT]
    assert [e.amount_msat for e in deposits] == [64_000]
    assert sum(h.held_sat for h in await wallet.journal.holdings()) == 64
    assert await wallet.ledger.check() == []


async def test_lost_mint_answer_is_recovered_by_restore_and_credited_once(wallet: Wallet, mint: RunningMint) -> None:
    async with dropping_proxy(mint.url, "/v1/mint/bolt11") as proxy_url:
        lightning = wallet.lightning(proxy_url)
        invoice = await lightning.create_invoice(21, "create")
        with pytest.raises(SwapOutcomeUnknown):
            await lightning.status(invoice.invoice_id)
        still_open = await wallet.journal.get(operation_id(invoice.invoice_id))
        restarted = wallet.lightning(proxy_url)  # a new process: only the journal survived
        recovered = await restarted.status(invoice.invoice_id)
        repeated = await restarted.status(invoice.invoice_id)

    assert still_open is not None and still_open.state is OpState.PLANNED
    assert recovered.invoice.state is InvoiceState.PAID and recovered.credited_msat == 21_000
    assert recovered.api_key is not None and recovered.account is not None
    assert recovered.account.balance_msat == 21_000
    assert (repeated.invoice.state, repeated.api_key, repeated.account) == (InvoiceState.PAID, None, None)
    settled = await wallet.journal.get(operation_id(invoice.invoice_id))
    assert settled is not None and settled.plan is not None and '"r"' not in settled.plan  # no blinding data kept
    assert await wallet.ledger.check() == []


async def test_unpaid_invoice_stays_open_until_paid_and_is_given_up_only_after_expiry(
    wallet: Wallet, mint: RunningMint
) -> None:
    gate = UnpaidWhileHeld(wallet.http)
    now = [time.time()]
    async with httpx.AsyncClient(transport=httpx.MockTransport(gate)) as gated:
        lightning = wallet.lightning(mint.url, http=gated, clock=lambda: now[0])
        paid_later, abandoned = (
            await lightning.create_invoice(16, "create"),
            await lightning.create_invoice(4, "create"),
        )
        unpaid = await lightning.status(paid_later.invoice_id)
        assert abandoned.expires_at is not None
        now[0] = abandoned.expires_at + EXPIRY_GRACE_S - 1
        within_grace = await lightning.status(abandoned.invoice_id)
        now[0] = abandoned.expires_at + EXPIRY_GRACE_S + 1
        expired = await lightning.status(abandoned.invoice_id)
        gate.held = False
        paid = await lightning.status(paid_later.invoice_id)
        still_expired = await lightning.status(abandoned.invoice_id)

    assert unpaid.invoice.state is InvoiceState.UNPAID and unpaid.account is None and unpaid.api_key is None
    assert within_grace.invoice.state is InvoiceState.UNPAID
    assert expired.invoice.state is InvoiceState.EXPIRED and still_expired.invoice.state is InvoiceState.EXPIRED
    assert paid.invoice.state is InvoiceState.PAID and paid.credited_msat == 16_000
    given_up = await wallet.journal.get(operation_id(abandoned.invoice_id))
    assert given_up is not None and given_up.state is OpState.FAILED and given_up.error == "expired"
    assert await wallet.journal.open_operations() == []


async def test_recover_open_credits_a_paid_invoice_nobody_asked_about(wallet: Wallet, mint: RunningMint) -> None:
    invoice = await wallet.lightning(mint.url).create_invoice(8, "create")

    resolved = await wallet.lightning(mint.url).recover_open()
    status = await wallet.lightning(mint.url).status(invoice.invoice_id)

    assert resolved == 1
    assert status.invoice.state is InvoiceState.PAID and status.account is not None
    assert status.account.balance_msat == 8_000


async def test_unknown_invoice_is_not_found(wallet: Wallet, mint: RunningMint) -> None:
    lightning = wallet.lightning(mint.url)
    with pytest.raises(NotFound):
        await lightning.status("ln" + "00" * 16)
    with pytest.raises(NotFound):
        await lightning.status("")


async def test_invalid_amount_is_refused_before_the_mint_is_asked(wallet: Wallet, mint: RunningMint) -> None:
    lightning = wallet.lightning(mint.url)
    for amount in (0, -5, 1.5, "10", True, None, 10**12):
        with pytest.raises(BadRequest):
            await lightning.create_invoice(amount, "create")
    assert await wallet.journal.open_operations() == []


async def test_topup_needs_a_known_key_and_a_known_purpose(wallet: Wallet, mint: RunningMint) -> None:
    lightning = wallet.lightning(mint.url)
    with pytest.raises(Unauthorized):
        await lightning.create_invoice(10, "topup", "sk-unknown")
    with pytest.raises(Unauthorized):
        await lightning.create_invoice(10, "topup")
    with pytest.raises(BadRequest):
        await lightning.create_invoice(10, "refund")


async def test_bolt11_expiry_matches_the_mints_quote(mint: RunningMint) -> None:
    async with httpx.AsyncClient() as http:
        quote = (await http.post(f"{mint.url}/v1/mint/quote/bolt11", json={"amount": 5, "unit": "sat"})).json()

    assert bolt11_expires_at(quote["request"]) == quote["expiry"]
    assert bolt11_expires_at("not an invoice") is None


# Through HTTP, on a node started the normal way (needs Node.lightning wired in the lifespan).


def _invoice(node: RunningNode, amount: object, purpose: str = "create", **headers: str) -> httpx.Response:
    body = {"amount_sats": amount, "purpose": purpose}
    return httpx.post(f"{node.root}/v1/balance/lightning/invoice", json=body, headers=headers, timeout=10)


def test_http_invoice_paid_gives_a_key_once_and_the_key_pays_for_a_chat(
    node_factory: NodeFactory, mint: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])

    created = _invoice(node, 50)
    invoice_id = created.json()["invoice_id"]
    paid = httpx.get(f"{node.root}/v1/balance/lightning/invoice/{invoice_id}/status", timeout=10)
    again = httpx.get(f"{node.root}/v1/wallet/lightning/invoice/{invoice_id}/status", timeout=10)

    assert created.status_code == 200, created.text
    assert created.json()["status"] == "unpaid" and created.json()["amount_sats"] == 50
    assert created.json()["bolt11"].startswith("lnbc") and created.json()["expires_at"] > time.time()
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid" and paid.json()["balance"] == 50_000 and paid.json()["msats"] == 50_000
    # the key is handed out once: a later call with the same invoice id (a URL that leaked) shows neither it nor
    # the balance behind it
    assert again.json() == {k: v for k, v in paid.json().items() if k not in ("api_key", "balance", "msats")}
    key = paid.json()["api_key"]
    chat = httpx.post(
        f"{node.url}/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "standin-small", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert chat.status_code == 200, chat.text
    assert 0 < key_state(node, key)["balance_msat"] < 50_000


async def test_http_topup_is_credited_once_under_ten_concurrent_status_calls(
    node_factory: NodeFactory, mint: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    key = await asyncio.to_thread(create_key, node, 2_000)
    async with httpx.AsyncClient(base_url=node.root, timeout=10) as client:
        created = await client.post(
            "/v1/wallet/lightning/invoice",
            json={"amount_sats": 32, "purpose": "topup"},
            headers={"Authorization": f"Bearer {key}"},
        )
        status_url = f"/v1/balance/lightning/invoice/{created.json()['invoice_id']}/status"
        answers = await asyncio.gather(*(client.get(status_url) for _ in range(10)))

    assert {a.status_code for a in answers} == {200}
    assert {(a.json()["status"], a.json()["balance"], a.json()["msats"]) for a in answers} == {
        ("paid", 2_000 + 32_000, 32_000)
    }
    assert all("api_key" not in a.json() for a in answers)
    assert await asyncio.to_thread(key_state, node, key) == {"balance_msat": 2_000 + 32_000, "reserved_msat": 0}


def test_http_refusals(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint.url])

    unknown = httpx.get(f"{node.root}/v1/balance/lightning/invoice/ln{'00' * 16}/status", timeout=10)
    zero, negative = _invoice(node, 0), _invoice(node, -1)
    no_key = _invoice(node, 10, "topup")
    bad_key = _invoice(node, 10, "topup", Authorization="Bearer sk-nobody")

    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "invoice_not_found"
    assert zero.status_code == 400 and negative.status_code == 400
    assert zero.json()["error"]["param"] == "amount_sats"
    assert no_key.status_code == 401 and bad_key.status_code == 401
