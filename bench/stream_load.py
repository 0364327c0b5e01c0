"""The load side of `python -m bench.streams`, run as its own process: N concurrent SSE streams against one URL.

`python -m bench.stream_load --url URL --body JSON [--key KEY] --streams N [--ramp-s S] --out FILE`
Every stream records when each event arrived; the gap between two events of one stream is what a user sees as
stutter. Writes {completed, errors, wall_s, gaps_ms: {p50, p99, max}, gaps_after_ramp_ms, events} as JSON.
"""

import argparse
import asyncio
import contextlib
import resource
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import orjson


def raise_fd_limit(wanted: int = 65536) -> int:
    """Lift the soft (and, as root, the hard) open-file limit so that thousands of sockets fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in ((wanted, max(hard, wanted)), (min(wanted, hard), hard)):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, limit)
            return limit[0]
    return soft


async def _one_stream(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], gaps: list[tuple[float, float]]
) -> str:
    try:
        async with session.post(url, data=body, headers=headers) as reply:
            if reply.status != 200:
                return f"http_{reply.status}"
            last: float | None = None
            done = False
            async for line in reply.content:
                if not line.startswith(b"data:"):
                    continue
                now = time.monotonic()
                if last is not None:
                    gaps.append((now, now - last))
                last = now
                done = done or line.strip() == b"data: [DONE]"
            return "ok" if done else "truncated"
    except (aiohttp.ClientError, TimeoutError) as exc:
        errno = getattr(exc, "errno", None)  # an OSError's kind: refused, reset, no free port ...
        return f"{type(exc).__name__}({errno})" if errno else type(exc).__name__


async def run(url: str, body: bytes, key: str, streams: int, ramp_s: float) -> dict[str, Any]:
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    gaps: list[tuple[float, float]] = []
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=600, sock_connect=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.monotonic()

        async def delayed(index: int) -> str:
            await asyncio.sleep(ramp_s * index / streams)
            return await _one_stream(session, url, body, headers, gaps)

        outcomes = Counter(await asyncio.gather(*(delayed(i) for i in range(streams))))
        wall = time.monotonic() - started
    return {
        "completed": outcomes.pop("ok", 0),
        "errors": dict(outcomes),
        "wall_s": round(wall, 3),
        "gaps_ms": _percentiles([gap for _, gap in gaps]),
        # gaps that ended after every stream was open (ramp + 1 s): the steady state, without the opening burst
        "gaps_after_ramp_ms": _percentiles([gap for at, gap in gaps if at > started + ramp_s + 1.0]),
        "events": len(gaps) + streams,
    }


def _percentiles(gaps: list[float]) -> dict[str, float]:
    if not gaps:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(gaps)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50": pick(0.50), "p99": pick(0.99), "max": round(ordered[-1] * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_load")
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--key", default="")
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--ramp-s", type=float, default=1.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    raise_fd_limit()
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    result = asyncio.run(run(args.url, args.body.encode(), args.key, args.streams, args.ramp_s))
    args.out.write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main()
