"""Fixed-window counters, in memory or in Redis, behind one interface."""

import logging
import math
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

MEMORY_MAX_KEYS = 100_000  # beyond this, windows that ended are dropped before counting


@dataclass(frozen=True, slots=True)
class Rule:
    limit: int  # requests allowed per window; 0 = no limit
    window_s: int = 60


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after_s: int  # when the window ends (only meaningful when refused)


class Counter(Protocol):
    async def hit(self, key: str, rule: Rule) -> Verdict: ...

    async def close(self) -> None: ...


class MemoryCounter:
    """One process's counters (each worker counts alone)."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (window end, hits)

    async def hit(self, key: str, rule: Rule) -> Verdict:
        now = time.monotonic()
        end, hits = self._windows.get(key, (0.0, 0))
        if end <= now:
            if len(self._windows) >= MEMORY_MAX_KEYS:
                self._drop_ended(now)
            end, hits = now + rule.window_s, 0
        hits += 1
        self._windows[key] = (end, hits)
        return Verdict(hits <= rule.limit, max(1, math.ceil(end - now)))

    def _drop_ended(self, now: float) -> None:
        self._windows = {key: window for key, window in self._windows.items() if window[0] > now}

    async def close(self) -> None:
        self._windows.clear()


# INCR and PEXPIRE in one atomic step: a window starts at its first hit and its key expires with it
_HIT = """
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {hits, ttl}
"""


class RedisCounter:
    """Counters shared by every process on the same Redis. When Redis cannot be reached the request is let through
    (and logged): the limits protect the node, they must not take it down."""

    def __init__(self, url: str) -> None:
        self._redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script = self._redis.register_script(_HIT)

    async def hit(self, key: str, rule: Rule) -> Verdict:
        try:
            hits, ttl_ms = await self._script(keys=[key], args=[rule.window_s * 1000])
        except RedisError as exc:
            log.warning("limits.redis_unavailable error=%s", type(exc).__name__)
            return Verdict(True, 0)
        return Verdict(int(hits) <= rule.limit, max(1, math.ceil(int(ttl_ms) / 1000)))

    async def close(self) -> None:
        await self._redis.aclose()


def open_counter(redis_url: str) -> Counter:
    return RedisCounter(redis_url) if redis_url else MemoryCounter()
