"""Where the BTC/USD rate comes from. Machines may have no internet, so every source falls back to a fixed rate.

`LiveRate` keeps the median of the sources that answered at the last refresh. Until one answers, and once its last
answer is older than `max_age_s`, the rate is stale: it is still shown (the last one, or the fallback), but models
priced in USD are not sold at it (PriceUnavailable)."""

import logging
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from app.errors import ServiceUnavailable

log = logging.getLogger(__name__)


class PriceUnavailable(ServiceUnavailable):
    default_message = "this model is priced in USD and the node has no recent BTC/USD rate; retry later"

    def __init__(self, message: str | None = None, retry_after_s: int = 30) -> None:
        super().__init__(message)
        self.headers["Retry-After"] = str(retry_after_s)


class RateSource(Protocol):
    async def btc_usd(self) -> float: ...

    def fresh(self) -> bool:
        """Whether USD prices may be sold at the current rate."""
        ...


class FixedRate:
    def __init__(self, btc_usd: float) -> None:
        if btc_usd <= 0:
            raise ValueError("BTC_USD_RATE must be positive")
        self._rate = btc_usd

    async def btc_usd(self) -> float:
        return self._rate

    def fresh(self) -> bool:
        return True  # the operator's own rate: as fresh as the operator says


Quotes = Callable[[], Awaitable[list[float]]]


class LiveRate:
    def __init__(
        self, quotes: Quotes, fallback: float, max_age_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if fallback <= 0:
            raise ValueError("BTC_USD_RATE must be positive")
        self._quotes = quotes
        self._rate = fallback
        self._max_age_s = max_age_s
        self._clock = clock
        self._at: float | None = None

    async def refresh(self) -> None:
        """Ask every source; keep the last rate when none answers."""
        quotes = await self._quotes()
        if not quotes:
            log.warning("rate.refresh_failed: no source answered; fresh=%s", self.fresh())
            return
        self._rate = statistics.median(quotes)
        self._at = self._clock()
        log.info("rate.refreshed: btc_usd=%.2f sources=%d", self._rate, len(quotes))

    async def btc_usd(self) -> float:
        return self._rate

    def fresh(self) -> bool:
        return self._at is not None and self._clock() - self._at <= self._max_age_s
