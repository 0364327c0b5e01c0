"""Deposit and refund latency of the node against the mint's own swap time, in one run.

`python -m bench.payments [--count N]` starts a FakeWallet nutshell mint (scripts/run-mint.sh, 0 ppk) and the node
(SQLite, its embedded stand-in upstream) on 127.0.0.1, then times, sequentially:
  - mint swap: one `POST /v1/swap` of a fresh token straight at the mint with the project's wallet code (the floor);
  - deposit: `POST /v1/balance/create` with a fresh token (decode, plan, journal, swap, credit);
  - refund: `POST /v1/balance/refund` of each created key (debit, plan, journal, swap, store the token).
and prints median and p90 of each, in milliseconds.
"""

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from app.cashu.client import MintClient
from app.cashu.tokens import Token, decode_token, encode_token_v4
from app.cashu.wallet import execute_swap, mint_proofs, plan_receive
from bench.services import start_service, stop_service
from tests.fixtures.ports import free_port

ROOT = Path(__file__).resolve().parents[1]


def _start_mint(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (work / "mint.log").open("wb")
    process = subprocess.Popen([str(ROOT / "scripts" / "run-mint.sh"), str(port), str(work / "mint"), "0"],
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/v1/keys", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the mint did not start")


async def _tokens(mint_url: str, count: int, amount: int) -> list[str]:
    async with httpx.AsyncClient() as http:
        client = MintClient(http, mint_url)
        minted = [await mint_proofs(client, amount) for _ in range(count)]
    return [encode_token_v4(Token(mint=mint_url, proofs=proofs)) for proofs in minted]


async def _mint_swaps(mint_url: str, tokens: list[str]) -> list[float]:
    times = []
    async with httpx.AsyncClient() as http:
        client = MintClient(http, mint_url)
        for text in tokens:
            plan = await plan_receive(client, decode_token(text))
            await client.keys(plan.outputs.keyset_id)
            started = time.perf_counter()
            await execute_swap(client, plan)
            times.append(time.perf_counter() - started)
    return times


def _timed(call: httpx.Client, path: str, **kwargs: Any) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = call.post(path, **kwargs)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response


def _summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p90 = ms[max(0, round(0.9 * len(ms)) - 1)]
    return f"{name:<12} n={len(ms):<3} median {statistics.median(ms):7.2f} ms   p90 {p90:7.2f} ms"


def run(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mint, mint_url = _start_mint(work)
        port = free_port()
        env = {"DATABASE_URL": f"sqlite:///{work / 'node.db'}", "CASHU_MINTS": mint_url, "ANNOUNCE": "false",
               "LOG_LEVEL": "WARNING", "UPSTREAM_BASE_URL": "", "DEMO": "true",  # the stand-in upstream
               "DATA_DIR": str(work / "data")}  # fmt: skip
        node = start_service("node", ["-m", "app", "serve", "--port", str(port)], port, work, env)
        try:
            swap_times = asyncio.run(_mint_swaps(mint_url, asyncio.run(_tokens(mint_url, count, 64))))
            deposits, refunds = [], []
            with httpx.Client(base_url=node.base_url, timeout=30) as http:
                for token in asyncio.run(_tokens(mint_url, count, 64)):
                    elapsed, created = _timed(http, "/balance/create", json={"cashu_token": token})
                    deposits.append((elapsed, created.json()["api_key"]))
                for _, key in deposits:
                    elapsed, _ = _timed(http, "/balance/refund", headers={"authorization": f"Bearer {key}"})
                    refunds.append(elapsed)
            print(_summary("mint swap", swap_times))
            print(_summary("deposit", [elapsed for elapsed, _ in deposits]))
            print(_summary("refund", refunds))
        finally:
            stop_service(node)
            mint.terminate()
            mint.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.payments", description=__doc__)
    parser.add_argument("--count", type=int, default=30)
    run(parser.parse_args().count)


if __name__ == "__main__":
    main()
