"""BTC/USD from public exchange tickers (no key): Kraken, Coinbase, Bitstamp. Each source is asked on its own, with
a short timeout; a source that fails or answers nonsense is left out (logged), never fatal."""

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

log = logging.getLogger(__name__)

TICKER_BYTES = 64 * 1024
# A price outside this band is taken for garbage, not for the market.
MIN_BTC_USD, MAX_BTC_USD = 1_000.0, 100_000_000.0


def _kraken(payload: Any) -> Any:
    """`{"error": [], "result": {"XXBTZUSD": {"c": ["<last>", "<lot volume>"], ...}}}`"""
    result = payload["result"]
    return next(iter(result.values()))["c"][0]


def _coinbase(payload: Any) -> Any:
    """`{"data": {"amount": "<spot>", "base": "BTC", "currency": "USD"}}`"""
    data = payload["data"]
    if data.get("base", "BTC") != "BTC" or data.get("currency", "USD") != "USD":
        raise ValueError("not BTC-USD")
    return data["amount"]


def _bitstamp(payload: Any) -> Any:
    """`{"last": "<last>", "bid": ..., "ask": ..., "timestamp": ...}`"""
    return payload["last"]


PARSERS: dict[str, Callable[[Any], Any]] = {"kraken": _kraken, "coinbase": _coinbase, "bitstamp": _bitstamp}
DEFAULT_URLS = {
    "kraken": "https://api.kraken.com/0/public/Ticker?pair=XBTUSD",
    "coinbase": "https://api.coinbase.com/v2/prices/BTC-USD/spot",
    "bitstamp": "https://www.bitstamp.net/api/v2/ticker/btcusd/",
}


@dataclass(frozen=True, slots=True)
class TickerSource:
    name: str  # a key of PARSERS: the shape of its reply
    url: str


def parse_sources(entries: Sequence[str]) -> list[TickerSource]:
    """BTC_USD_SOURCES: `kraken`, `coinbase`, `bitstamp` (their public URLs), or `name=url` for another URL."""
    sources = []
    for entry in entries:
        name, _, url = entry.partition("=")
        name = name.strip().lower()
        if name not in PARSERS:
            raise ValueError(f"unknown rate source {name!r} (one of {', '.join(PARSERS)})")
        url = url.strip() or DEFAULT_URLS[name]
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"rate source {name}: needs an http:// or https:// URL")
        sources.append(TickerSource(name, url))
    return sources


def btc_usd_of(source: TickerSource, body: bytes) -> float:
    """The price a ticker reply gives; ValueError when it gives none that is plausible."""
    try:
        value = float(PARSERS[source.name](orjson.loads(body)))
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError, StopIteration) as exc:
        raise ValueError(f"unexpected reply shape ({type(exc).__name__})") from None
    if not math.isfinite(value) or not MIN_BTC_USD <= value <= MAX_BTC_USD:
        raise ValueError("implausible price")
    return value


class Tickers:
    def __init__(self, sources: Sequence[TickerSource], timeout_s: float = 5.0) -> None:
        self._sources = list(sources)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def quotes(self) -> list[float]:
        """The prices of the sources that answered."""
        answers = await asyncio.gather(*(self._quote(source) for source in self._sources))
        return [price for price in answers if price is not None]

    async def _quote(self, source: TickerSource) -> float | None:
        if self._session is None:
            raise RuntimeError("Tickers.start() was not awaited")
        try:
            async with self._session.get(source.url, allow_redirects=False) as response:
                if response.status != 200:
                    raise ValueError(f"HTTP {response.status}")
                return btc_usd_of(source, await _body(response))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("rate.source_failed: source=%s error=%s", source.name, exc or type(exc).__name__)
            return None


async def _body(response: aiohttp.ClientResponse) -> bytes:
    body = bytearray()
    while len(body) <= TICKER_BYTES:
        chunk = await response.content.read(TICKER_BYTES + 1 - len(body))
        if not chunk:
            return bytes(body)
        body += chunk
    raise ValueError("reply too large")
