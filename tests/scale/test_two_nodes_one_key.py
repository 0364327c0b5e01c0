"""Two node processes on one PostgreSQL database, 256 requests at once on one key funded for K of them, split across
both: at most K served, the rest 402, the balance never negative, the books exact."""

import asyncio
import math
from pathlib import Path

import httpx

from tests.fixtures.audit import assert_books_clean_at
from tests.fixtures.node_process import NodeProcess, operator_command
from tests.scale.test_workers import PRICES, _account

K = 10
REQUESTS = 256
MAX_TOKENS = 8
# the reservation of one request at PRICES (1 msat per prompt token, 2 per completion token): prompt bytes / 3
# (the node's ceiling before the upstream counts) + max_tokens
RESERVATION = math.ceil(len(b"ping") / 3) * 1 + MAX_TOKENS * 2
BODY = {
    "model": "standin-small",
    "messages": [{"role": "user", "content": "ping"}],
    "max_tokens": MAX_TOKENS,
    "standin": {"delay_ms": 3000},  # the first K hold their reservations while the other requests arrive
}


def _node(postgres_url: str, standin_url: str, work_dir: Path) -> NodeProcess:
    return NodeProcess(
        database_url=postgres_url,
        mint_urls=["http://127.0.0.1:9"],  # never contacted: the key is funded by the operator
        upstream_url=standin_url,
        work_dir=work_dir,
        env={"MODEL_PRICES": PRICES},
    )


async def _fire(urls: list[str], key: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=REQUESTS)
    headers = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(limits=limits, timeout=120, headers=headers) as http:
        return await asyncio.gather(
            *(http.post(urls[i % len(urls)] + "/chat/completions", json=BODY) for i in range(REQUESTS))
        )


def test_256_requests_on_one_key_across_two_processes_never_overspend(
    postgres_url: str, standin_url: str, tmp_path: Path
) -> None:
    nodes = [_node(postgres_url, standin_url, tmp_path / f"node-{i}") for i in range(2)]
    for node in nodes:
        node.start()
    try:
        created = operator_command(postgres_url, tmp_path / "cli", "keys", "create", "--balance-msat",
                                   str(K * RESERVATION))  # fmt: skip
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip()
        replies = asyncio.run(_fire([node.url for node in nodes], key))
    finally:
        for node in nodes:
            node.stop()

    statuses = [reply.status_code for reply in replies]
    served = statuses.count(200)
    assert 1 <= served <= K, statuses
    assert statuses.count(402) == REQUESTS - served, sorted(set(statuses))
    assert {reply.status_code for reply, i in zip(replies, range(REQUESTS), strict=True) if i % 2 == 1} & {200, 402}
    spent = sum(int(reply.headers["x-routstr-cost-msats"]) for reply in replies if reply.status_code == 200)
    balance, reserved, charged, violations = asyncio.run(_account(postgres_url, key))
    assert violations == [] and reserved == 0
    assert charged == spent and balance == K * RESERVATION - spent >= 0
    asyncio.run(assert_books_clean_at(postgres_url))
