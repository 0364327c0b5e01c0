"""The upstream pool's cap: a wait for a connection is its own limit (503 to retry), not an upstream timeout."""

import asyncio
import time

import orjson
import pytest

from app.upstream.client import UpstreamClient, UpstreamConfig, UpstreamPoolFull

SLOW = orjson.dumps(
    {
        "model": "standin-small",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "standin": {"chunks": 20, "delay_ms": 100},
    }
)


async def _client(standin_url: str, **config: float) -> UpstreamClient:
    client = UpstreamClient(UpstreamConfig(base_url=standin_url, **config))  # type: ignore[arg-type]
    await client.start()
    return client


def test_a_full_pool_is_upstream_pool_full_after_the_wait_and_a_closed_reply_frees_its_place(
    standin_url: str,
) -> None:
    async def run() -> None:
        client = await _client(standin_url, max_connections=2, pool_wait_s=0.3)
        try:
            first = await client.send("/chat/completions", SLOW)
            second = await client.send("/chat/completions", SLOW)
            started = time.monotonic()
            with pytest.raises(UpstreamPoolFull) as refused:
                await client.send("/chat/completions", SLOW)
            assert time.monotonic() - started >= 0.3
            assert refused.value.headers["Retry-After"] == "1"
            first.close()
            first.close()  # a second close gives nothing back twice
            third = await client.send("/chat/completions", SLOW)
            with pytest.raises(UpstreamPoolFull):
                await client.send("/chat/completions", SLOW)
            for reply in (second, third):
                reply.close()
        finally:
            await client.close()

    asyncio.run(run())


def test_without_a_cap_hundreds_of_streams_are_open_at_once(standin_url: str) -> None:
    async def run() -> None:
        client = await _client(standin_url, pool_wait_s=0.1)
        try:
            replies = await asyncio.gather(*(client.send("/chat/completions", SLOW) for _ in range(600)))
            assert {reply.status for reply in replies} == {200}
            for reply in replies:
                reply.close()
        finally:
            await client.close()

    asyncio.run(run())
