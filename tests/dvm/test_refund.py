"""A Nostr customer takes their balance back: POST /v1/dvm/refund with NIP-98 auth made by nostr-sdk, the token
redeemed by the nutshell wallet, both databases, the books and the mint's audit at the end."""

import asyncio
import base64
import json
import time

import httpx
import nostr_sdk
import pytest

from app.cashu.tokens import decode_token
from app.db.database import open_database
from app.ledger.accounts import find_by_hash
from app.ledger.dvm_jobs import DvmJobs, customer_key_hash
from app.ledger.records import Account
from app.payments.deposits import Purpose
from tests.dvm.books import audited
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode
from tests.payments.test_deposits import proof_states
from tests.treasury.stacks import stack


def auth(keys: nostr_sdk.Keys, url: str, method: str = "POST", *, age_s: int = 0, kind: int = 27235) -> str:
    """A NIP-98 Authorization header, signed by nostr-sdk."""
    tags = [nostr_sdk.Tag.parse(["u", url]), nostr_sdk.Tag.parse(["method", method])]
    stamp = nostr_sdk.Timestamp.from_secs(int(time.time()) - age_s)
    builder = nostr_sdk.EventBuilder(nostr_sdk.Kind(kind), "").tags(tags).custom_created_at(stamp)
    event = keys.sign_event(builder.finalize_unsigned(keys.public_key()))
    return "Nostr " + base64.b64encode(event.as_json().encode()).decode()


def credit_customer(node: RunningNode, mint: RunningMint, pubkey: str, amount_sat: int) -> None:
    """Money landing on a Nostr customer's balance, through the node's own deposit path (as an over-payment or a
    payment for a job cancelled later does)."""

    async def deposit() -> None:
        token = await mint.make_token(amount_sat)
        db = open_database(node.settings.database_url)
        try:
            account = await DvmJobs(db).customer(pubkey)
        finally:
            await db.close()
        async with stack(node.settings.database_url, mint.url) as payments:
            await payments.deposits.deposit(token, Purpose.TOPUP, key_id=account.id)

    asyncio.run(deposit())


def refund_url(node: RunningNode) -> str:
    return node.url + "/dvm/refund"


def test_a_customer_takes_their_balance_back_once_per_auth_event(dvm: RunningNode, mint: RunningMint) -> None:
    keys = nostr_sdk.Keys.generate()
    credit_customer(dvm, mint, keys.public_key().to_hex(), 3)
    url = refund_url(dvm)
    header = auth(keys, url)

    paid = httpx.post(url, headers={"authorization": header}, timeout=30)
    replayed = httpx.post(url, headers={"authorization": header}, timeout=30)

    assert paid.status_code == 200, paid.text
    token = paid.json()["token"]
    assert paid.json()["msats"] == 3000 and decode_token(token).amount == 3
    assert replayed.status_code == 401 and "used before" in replayed.json()["error"]["message"]
    assert replayed.json()["error"]["code"] == "invalid_nostr_auth"
    mint.cli("receive", token)  # the nutshell wallet redeems it
    assert asyncio.run(proof_states(mint, token)) == {"SPENT"}
    report = audited(dvm)
    assert (report.deposited_msat, report.refunded_msat, report.liabilities_msat) == (3000, 3000, 0)


@pytest.mark.parametrize(
    "case", ["no header", "other url", "other method", "too old", "other kind", "not base64", "bearer"]
)
def test_auth_that_is_not_valid_for_this_request_is_refused_and_moves_nothing(
    dvm: RunningNode, mint: RunningMint, case: str
) -> None:
    keys = nostr_sdk.Keys.generate()
    credit_customer(dvm, mint, keys.public_key().to_hex(), 2)
    url = refund_url(dvm)
    headers = {
        "no header": {},
        "other url": {"authorization": auth(keys, url.replace("/refund", "/refunds"))},
        "other method": {"authorization": auth(keys, url, "GET")},
        "too old": {"authorization": auth(keys, url, age_s=120)},
        "other kind": {"authorization": auth(keys, url, kind=27236)},
        "not base64": {"authorization": "Nostr {not base64}"},
        "bearer": {"authorization": "Bearer sk-123"},
    }[case]

    refused = httpx.post(url, headers=headers, timeout=30)

    assert refused.status_code == 401, refused.text
    report = audited(dvm)
    assert (report.refunded_msat, report.liabilities_msat) == (0, 2000)


def test_a_forged_signature_is_refused(dvm: RunningNode, mint: RunningMint) -> None:
    keys = nostr_sdk.Keys.generate()
    credit_customer(dvm, mint, keys.public_key().to_hex(), 2)
    url = refund_url(dvm)
    event = json.loads(base64.b64decode(auth(nostr_sdk.Keys.generate(), url).removeprefix("Nostr ")))
    event["pubkey"] = keys.public_key().to_hex()  # someone else's signature over the customer's pubkey
    forged = "Nostr " + base64.b64encode(json.dumps(event).encode()).decode()

    refused = httpx.post(url, headers={"authorization": forged}, timeout=30)

    assert refused.status_code == 401
    assert audited(dvm).liabilities_msat == 2000


def test_without_the_dvm_there_is_no_refund(node_factory: NodeFactory) -> None:
    node = node_factory()
    url = refund_url(node)

    missing = httpx.post(url, headers={"authorization": auth(nostr_sdk.Keys.generate(), url)}, timeout=30)

    assert missing.status_code == 404


def test_a_key_with_no_account_is_told_so_and_leaves_no_account_behind(dvm: RunningNode) -> None:
    """Anyone can sign NIP-98 with a fresh key: asking is not a reason to open an account for it."""
    keys = nostr_sdk.Keys.generate()
    url = refund_url(dvm)

    refused = httpx.post(url, headers={"authorization": auth(keys, url)}, timeout=30)

    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "no_balance"
    assert customer_account(dvm, keys.public_key().to_hex()) is None


def customer_account(node: RunningNode, pubkey: str) -> Account | None:
    async def read() -> Account | None:
        db = open_database(node.settings.database_url)
        try:
            return await db.run(find_by_hash(customer_key_hash(pubkey)))
        finally:
            await db.close()

    return asyncio.run(read())
