"""Which events the node takes as jobs, and how a job is read: pure functions, no relay needed."""

import asyncio
import time

import nostr_sdk
import orjson
import pytest

from app.db.database import open_database
from app.dvm.admission import MAX_AHEAD_S, MAX_JOB_AGE_S, admitted
from app.dvm.requests import MalformedJob, parse_job
from app.ledger.dvm_jobs import DvmJobs, customer_key_hash
from app.ledger.keys import hash_key
from app.nostr.event import Event, sign_event
from app.nostr.keys import NodeKeys

NODE = NodeKeys.generate()
CUSTOMER = NodeKeys.generate()


def job(tags: list[list[str]], created_at: int | None = None, kind: int = 5050) -> Event:
    return sign_event(CUSTOMER, kind, tags, "", created_at)


def base_tags(*extra: list[str]) -> list[list[str]]:
    return [["i", "hello", "text"], ["param", "model", "m"], ["p", NODE.pubkey], *extra]


def test_a_job_for_this_node_is_admitted() -> None:
    assert admitted(job(base_tags()).to_json(), NODE.pubkey, accept_untargeted=False) is not None


def test_a_job_signed_by_nostr_sdk_is_admitted() -> None:
    keys = nostr_sdk.Keys.generate()
    tags = [nostr_sdk.Tag.parse(tag) for tag in base_tags()]
    unsigned = nostr_sdk.EventBuilder(nostr_sdk.Kind(5050), "").tags(tags).finalize_unsigned(keys.public_key())
    raw = orjson.loads(keys.sign_event(unsigned).as_json())
    assert admitted(raw, NODE.pubkey, accept_untargeted=False) is not None


def test_forged_expired_future_stale_foreign_and_untargeted_jobs_are_dropped() -> None:
    now = int(time.time())
    forged = {**job(base_tags()).to_json(), "content": "changed"}
    expired = job(base_tags(["expiration", str(now - 1)]))
    future = job(base_tags(), created_at=now + MAX_AHEAD_S + 60)
    stale = job(base_tags(), created_at=now - MAX_JOB_AGE_S - 60)  # its row, if any, may have been pruned
    foreign = job([["i", "x", "text"], ["p", CUSTOMER.pubkey]])
    untargeted = job([["i", "x", "text"]])
    for raw in (forged, *(j.to_json() for j in (expired, future, stale, foreign, untargeted))):
        assert admitted(raw, NODE.pubkey, accept_untargeted=False) is None
    assert admitted(untargeted.to_json(), NODE.pubkey, accept_untargeted=True) is not None
    assert admitted(job(base_tags(), kind=1).to_json(), NODE.pubkey, accept_untargeted=True) is None


def test_a_job_becomes_an_openai_chat_body() -> None:
    tags = base_tags(["param", "max_tokens", "12"], ["param", "temperature", "0.5"], ["param", "top-k", "40"],
                     ["param", "frequency_penalty", "0.1"], ["bid", "5000"])  # fmt: skip
    parsed = parse_job(job([*tags, ["relays", "wss://r.example", "https://not-a-relay"]]))
    body = orjson.loads(parsed.chat_body())
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hello"}],
        "stream": False,
        "max_tokens": 12,
        "temperature": 0.5,
        "top_k": 40,  # NIP-90's top-k, as OpenRouter, vLLM and llama.cpp read it
        "frequency_penalty": 0.1,
    }
    assert (parsed.bid_msat, parsed.relays, parsed.cashu) == (5000, ("wss://r.example",), None)


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ([["param", "model", "m"]], "no input"),
        ([["i", "x", "text"]], "no model"),
        ([["i", "abc", "url"], ["param", "model", "m"]], "not supported"),
        ([["i", "x", "text"], ["param", "model", "m"], ["param", "max_tokens", "many"]], "not a number"),
        ([["i", "x", "text"], ["param", "model", "m"], ["bid", "lots"]], "bid"),
    ],
)
def test_a_malformed_job_says_why(tags: list[list[str]], reason: str) -> None:
    with pytest.raises(MalformedJob, match=reason):
        parse_job(job(tags))


def test_a_customers_account_cannot_be_reached_by_any_api_key() -> None:
    key_hash = customer_key_hash(CUSTOMER.pubkey)
    assert len(key_hash) == 64 and not all(c in "0123456789abcdef" for c in key_hash)
    assert hash_key(CUSTOMER.pubkey) != key_hash


def test_a_job_is_taken_once_and_a_customer_has_one_account(database_url: str) -> None:
    async def run() -> None:
        db = open_database(database_url)
        try:
            jobs = DvmJobs(db)
            taken = await asyncio.gather(*(jobs.take("ab" * 32, CUSTOMER.pubkey) for _ in range(5)))
            assert [t.account for t in taken if t is not None] == [None]  # taken once; no account opened for a job
            opened = await asyncio.gather(*(jobs.customer(CUSTOMER.pubkey) for _ in range(3)))
            others = await asyncio.gather(*(jobs.take(f"{i:064x}", CUSTOMER.pubkey) for i in range(3)))
            found = [t.account for t in others if t is not None]
            assert len(found) == 3 and len({a.id for a in [*opened, *found] if a is not None}) == 1
        finally:
            await db.close()

    asyncio.run(run())
