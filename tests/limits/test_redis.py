"""With REDIS_URL, every process counts against the same limit (Redis at 127.0.0.1:6379, as on every machine here)."""

import uuid
from pathlib import Path

import httpx
import pytest

from app.limits.limiter import RedisCounter, Rule
from tests.fixtures.mint import RunningMint
from tests.fixtures.node_process import NodeProcess, start_all
from tests.limits.test_limits import assert_rate_limited

REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_two_counters_on_one_redis_share_a_window() -> None:
    key = f"test-{uuid.uuid4().hex}:create:10.0.0.1"
    first, second = RedisCounter(REDIS_URL), RedisCounter(REDIS_URL)
    try:
        rule = Rule(2, window_s=30)
        assert (await first.hit(key, rule)).allowed
        assert (await second.hit(key, rule)).allowed
        refused = await first.hit(key, rule)
        assert not refused.allowed
        assert 1 <= refused.retry_after_s <= 30
    finally:
        await first.close()
        await second.close()


async def test_an_unreachable_redis_lets_requests_through() -> None:
    counter = RedisCounter("redis://127.0.0.1:9/0")
    try:
        assert (await counter.hit("k", Rule(1))).allowed
        assert (await counter.hit("k", Rule(1))).allowed
    finally:
        await counter.close()


@pytest.mark.slow
def test_two_node_processes_with_one_redis_share_the_limit(tmp_path: Path, standin_url: str, mint: RunningMint) -> None:
    env = {
        "REDIS_URL": REDIS_URL,
        "RATE_LIMIT_PREFIX": f"test-{uuid.uuid4().hex}",
        "RATE_LIMIT_CREATE_PER_MIN": "3",
        "RATE_LIMIT_EXEMPT_IPS": "",
    }
    nodes = [
        NodeProcess(
            database_url=f"sqlite:///{tmp_path}/{name}.db",
            mint_urls=[mint.url],
            upstream_url=standin_url,
            work_dir=tmp_path / name,
            env=env,
        )
        for name in ("a", "b")
    ]
    try:
        start_all(nodes)
        a, b = nodes

        def create(node: NodeProcess) -> httpx.Response:
            return httpx.post(f"{node.url}/balance/create", json={"cashu_token": "cashuBnot-a-token"}, timeout=10)

        assert [create(a).status_code, create(b).status_code, create(a).status_code] == [400, 400, 400]
        assert_rate_limited(create(b))  # the fourth request, on either process, is over the shared limit
        assert_rate_limited(create(a))
    finally:
        for node in nodes:
            node.stop()
