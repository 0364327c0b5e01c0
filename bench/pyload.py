"""Fallback load generator when wrk is missing: N keep-alive connections POSTing in a loop (aiohttp, own process).

`python -m bench.pyload --url URL --connections N --duration S --body-file F` prints the same BENCH_RESULT line as
bench/wrk_post.lua. The API key comes from $BENCH_API_KEY. Requests in flight at the deadline are finished and
counted, so the count is exact.
"""

import argparse
import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson


@dataclass
class Tally:
    latencies_us: list[int] = field(default_factory=list)
    non2xx: int = 0
    socket_errors: int = 0


async def worker(session: aiohttp.ClientSession, url: str, body: bytes, deadline: float, tally: Tally) -> None:
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            async with session.post(url, data=body) as reply:
                await reply.read()
                status = reply.status
        except (aiohttp.ClientError, OSError):
            tally.socket_errors += 1
            continue
        tally.latencies_us.append(int((time.perf_counter() - started) * 1e6))
        if status >= 400:
            tally.non2xx += 1


def percentile(sorted_values: list[int], fraction: float) -> int:
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


async def run(url: str, connections: int, duration_s: float, body: bytes) -> dict[str, int]:
    headers = {"content-type": "application/json"}
    if key := os.environ.get("BENCH_API_KEY"):
        headers["authorization"] = f"Bearer {key}"
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        started = time.monotonic()
        deadline = started + duration_s
        await asyncio.gather(*(worker(session, url, body, deadline, tally) for _ in range(connections)))
        elapsed_us = int((time.monotonic() - started) * 1e6)
    latencies = sorted(tally.latencies_us)
    return {
        "requests": len(latencies),
        "duration_us": elapsed_us,
        "non2xx": tally.non2xx,
        "socket_errors": tally.socket_errors,
        "p50_us": percentile(latencies, 0.50),
        "p99_us": percentile(latencies, 0.99),
    }


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pyload")
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--body-file", type=Path, required=True)
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        result = runner.run(run(args.url, args.connections, args.duration, args.body_file.read_bytes()))
    print("BENCH_RESULT " + orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()
