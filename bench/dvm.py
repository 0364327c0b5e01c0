"""The node as a NIP-90 DVM: time from publishing a paid kind 5050 to receiving its 6050, and jobs per second with
many customers at once.

`python -m bench.dvm [--jobs 20] [--customers 50] [--rounds 4] [--database-url URL]` starts a FakeWallet nutshell mint
(0 ppk), one nostr-sdk LocalRelay and the node (`DVM_ENABLED=true`, the stand-in upstream) and prints:
  - latency: median/p90/max over `--jobs` sequential jobs, each paid with a fresh 5 sat `cashu` tag (a deposit swap
    and a change swap at the mint), and again paid from the customer's balance (no mint on the path);
  - throughput: `--customers` customers at once, `--rounds` jobs each, paid with a token, then from balance.
"""

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import nostr_sdk

from app.cashu.client import MintClient
from app.cashu.tokens import Token, encode_token_v4
from app.cashu.wallet import mint_proofs
from app.db.database import open_database
from app.dvm.customer import JobOutcome, JobSpec, request_job
from app.ledger.service import Ledger
from app.nostr.keys import NodeKeys
from app.nostr.pool import RelayPool
from app.treasury.report import wallet_report
from app.treasury.service import Treasury
from bench.payments import _start_mint
from bench.services import start_service, stop_service
from tests.fixtures.ports import free_port

MODEL = "standin-small"
FAILURES: list[str] = []  # jobs answered with an error (the mint refusing under load, say), counted, not fatal


async def _tokens(mint_url: str, count: int, amount: int) -> list[str]:
    async with httpx.AsyncClient() as http:
        client = MintClient(http, mint_url)
        minted = [await mint_proofs(client, amount) for _ in range(count)]  # nutshell's SQLite locks under a crowd
    return [encode_token_v4(Token(mint=mint_url, proofs=proofs)) for proofs in minted]


class Customer:
    def __init__(self, relay: str, provider: str) -> None:
        self.keys = NodeKeys.generate()
        self.pool = RelayPool([relay])
        self.provider = provider

    async def job(self, cashu: str | None) -> JobOutcome:
        # a fresh prompt per job: the same tags in the same second would be the same event (id), answered once
        spec = JobSpec(MODEL, f"hello there, node ({secrets.token_hex(4)})", self.provider, cashu, max_tokens=8)
        outcome = await request_job(self.pool, self.keys, spec, timeout_s=120)
        if outcome.result is None:
            FAILURES.append(str(outcome.final_status))
        return outcome


def _summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"{name}: median {statistics.median(ms):.1f} ms, p90 {p90:.1f} ms, max {ms[-1]:.1f} ms (n={len(ms)})"


async def _latency(relay: str, provider: str, mint_url: str, jobs: int) -> None:
    customer = Customer(relay, provider)
    try:
        paid = [(await customer.job(token)).seconds for token in await _tokens(mint_url, jobs, 5)]
        funding = (await _tokens(mint_url, 1, 1))[0]  # under a sat of change: stays on the balance
        await customer.job(funding)
        from_balance = [(await customer.job(None)).seconds for _ in range(jobs)]
    finally:
        await customer.pool.close()
    print(_summary("publish 5050 -> 6050 received, paid with a cashu tag", paid))
    print(_summary("publish 5050 -> 6050 received, paid from balance", from_balance))


async def _throughput(relay: str, provider: str, mint_url: str, customers: int, rounds: int) -> None:
    crowd = [Customer(relay, provider) for _ in range(customers)]
    tokens = await _tokens(mint_url, customers * rounds, 5)
    funding = await _tokens(mint_url, customers, 1)
    try:

        async def paid(index: int) -> None:
            for round_ in range(rounds):
                await crowd[index].job(tokens[index * rounds + round_])

        async def from_balance(index: int) -> None:
            for _ in range(rounds):
                await crowd[index].job(None)

        await _timed_crowd(f"{customers} customers x {rounds} jobs, paid with a cashu tag", paid, customers, rounds)
        await asyncio.gather(*(c.job(token) for c, token in zip(crowd, funding, strict=True)))  # under a sat stays
        await _timed_crowd(f"{customers} customers x {rounds} jobs, paid from balance", from_balance, customers, rounds)
    finally:
        await asyncio.gather(*(c.pool.close() for c in crowd))


async def _timed_crowd(name: str, work: Callable[[int], Awaitable[None]], customers: int, rounds: int) -> None:
    FAILURES.clear()
    started = time.perf_counter()
    await asyncio.gather(*(work(i) for i in range(customers)))
    elapsed = time.perf_counter() - started
    done = customers * rounds - len(FAILURES)
    failed = f", {len(FAILURES)} answered with an error, e.g. {FAILURES[0][:120]}" if FAILURES else ""
    print(f"{name}: {done / elapsed:.1f} jobs/s ({done} results in {elapsed:.1f} s{failed})")


async def _books(database_url: str) -> None:
    db = open_database(database_url)
    try:
        violations = await Ledger(db).check()
        report = await wallet_report(Treasury(db))
    finally:
        await db.close()
    print(f"books: ledger check {violations or 'clean'}, wallet reconciles: {report.reconciles}")


async def _run(args: argparse.Namespace, work: Path) -> None:
    # the default rate limit (60 events a minute per connection) would throttle the node's one connection
    unlimited = nostr_sdk.RateLimit(max_reqs=1_000_000, notes_per_minute=1_000_000)
    relay = nostr_sdk.LocalRelayBuilder().addr("127.0.0.1").rate_limit(unlimited).build()
    await relay.run()
    relay_url = str(await relay.url()).rstrip("/")
    mint, mint_url = _start_mint(work)
    node_keys = NodeKeys.generate()
    port = free_port()
    env = {"DATABASE_URL": args.database_url or f"sqlite:///{work / 'node.db'}", "CASHU_MINTS": mint_url,
           "ANNOUNCE": "false", "LOG_LEVEL": "WARNING", "UPSTREAM_BASE_URL": "", "DEMO": "true",
           "DATA_DIR": str(work / "data"), "DVM_ENABLED": "true", "RELAYS": relay_url,
           "NSEC": node_keys.nsec()}  # fmt: skip
    serve = ["-m", "app", "serve", "--port", str(port)]
    node = await asyncio.to_thread(start_service, "node", serve, port, work, env)
    try:
        await _latency(relay_url, node_keys.pubkey, mint_url, args.jobs)
        await _throughput(relay_url, node_keys.pubkey, mint_url, args.customers, args.rounds)
        await _books(env["DATABASE_URL"])
    finally:
        stop_service(node)
        mint.terminate()
        mint.wait(timeout=10)
        relay.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dvm", description=__doc__)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_run(args, Path(tmp)))


if __name__ == "__main__":
    main()
